"""Making the graded exercises' references unreachable in the child (trusted code, before any student code).

Replacing the name ``relu`` in a few module dictionaries only disarms one route: a class
attribute, a registry dict, a closure, a reload of the module, a re-run of its source or a
copy elsewhere still reach a working reference. Here instead:

* every reference, every library function it calls by name, and every loaded function that
  is a byte-for-byte copy of one of them (same code, constants and names) is changed **in
  place**: its code object becomes a tripwire. Whoever holds the function object (a module,
  a class, a dict, a closure, ``functools.partial``) now holds the tripwire. A reference that
  is a class has each of its methods changed the same way;
* :func:`files_to_hide` lists the source and byte-code files of every module that defined
  one of them (and the spec), which :mod:`.confine` covers, so a reload or a re-run of the
  source finds an empty file and the source text cannot be read.

Calling a tripwire records the name and raises :class:`ReferenceUnavailable`; the grader
scores that exercise zero. Drivers therefore must not call the reference.
"""

from __future__ import annotations

import importlib.util
import sys
import types

_TRIPPED: set[str] = set()


class ReferenceUnavailable(Exception):
    """Raised when graded code calls the library's reference implementation."""


def trip(name: str):
    _TRIPPED.add(name)
    raise ReferenceUnavailable(f"the library's `{name}` is not available while grading; "
                               "graded code must compute the result itself")


def _tripwire_code(name: str, freevars: tuple[str, ...]) -> types.CodeType:
    """The code of a function that only calls :func:`trip`, with the same free variables as the original."""
    keep = "".join(f"        {v}\n" for v in freevars)
    src = (f"def _outer():\n    {' = '.join(freevars) + ' = None' if freevars else 'pass'}\n"
           f"    def _removed(*args, **kwargs):\n{keep}"
           f"        from i2dl_lab.grading.sandbox.references import trip\n"
           f"        return trip({name!r})\n    return _removed\n")
    ns: dict = {}
    exec(compile(src, "<reference removed while grading>", "exec"), ns)  # noqa: S102 - our own fixed template
    code = ns["_outer"]().__code__
    return code.replace(co_name=name, co_qualname=name)


def _neutralize_function(fn, name: str) -> bool:
    try:
        fn.__code__ = _tripwire_code(name, fn.__code__.co_freevars)
    except (ValueError, TypeError, SyntaxError):
        return False
    fn.__defaults__ = fn.__kwdefaults__ = None
    for cell in fn.__closure__ or ():
        cell.cell_contents = None  # what a wrapper closed over (the wrapped original) goes too
    wrapped = fn.__dict__.pop("__wrapped__", None)
    if isinstance(wrapped, types.FunctionType):
        _neutralize_function(wrapped, name)
    return True


def _functions_of(obj) -> list[types.FunctionType]:
    """The plain functions behind ``obj``: itself, or a class's methods, static/class methods, properties."""
    if isinstance(obj, types.FunctionType):
        return [obj]
    if isinstance(obj, type):
        out = []
        for v in vars(obj).values():
            v = getattr(v, "__func__", v)
            if isinstance(v, property):
                out += [f for f in (v.fget, v.fset, v.fdel) if isinstance(f, types.FunctionType)]
            elif isinstance(v, types.FunctionType):
                out.append(v)
        return out
    return []


def _fingerprint(fn: types.FunctionType) -> tuple:
    """What makes two functions the same computation: byte code, names and constants (not the docstring)."""
    code = fn.__code__
    consts = tuple(c for c in code.co_consts if isinstance(c, (int, float, str, bytes)) and c != fn.__doc__)
    return code.co_code, code.co_names, consts


def _code_names(code) -> set[str]:
    if code is None:
        return set()
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _code_names(const)
    return names


def _library_modules(spec_mod) -> list:
    return [m for n, m in list(sys.modules.items())
            if m is not None and (n == "i2dl_lab" or n.startswith("i2dl_lab.") or m is spec_mod)]


def _called_library_functions(exercises, mods, spec_mod) -> dict[int, tuple]:
    """Library functions a reference calls by name (``F.affine_forward`` inside a wrapper): id -> (fn, name).

    Not the spec's own helpers, which drivers need to build inputs (a cache from a forward
    pass); the spec's file is hidden all the same.
    """
    called = set().union(*(_code_names(getattr(ex.reference, "__code__", None)) for ex in exercises))
    out = {}
    for mod in mods:  # the spec's own helpers stay: drivers use them to build the student's inputs
        if getattr(mod, "__name__", "").startswith("i2dl_lab.grading") or mod is spec_mod:
            continue
        for key in called & set(vars(mod)):
            val = vars(mod)[key]
            if isinstance(val, types.FunctionType) and str(val.__module__).startswith("i2dl_lab.") \
                    and not str(val.__module__).startswith("i2dl_lab.grading"):
                out[id(val)] = (val, key)
    return out


def _copies(targets: dict[int, tuple], mods, spec_mod) -> dict[int, tuple]:
    """Module-level library functions whose code is a copy of a target function's (same code, names, constants)."""
    prints = {_fingerprint(f): name for f, name in targets.values() if isinstance(f, types.FunctionType)}
    out = {}
    for mod in mods:
        if mod is spec_mod:  # drivers use the spec's helpers
            continue
        for val in list(vars(mod).values()):
            if isinstance(val, types.FunctionType) and id(val) not in targets:
                name = prints.get(_fingerprint(val))
                if name is not None:
                    out[id(val)] = (val, name)
    return out


def reference_targets(spec_mod) -> dict[int, tuple]:
    """What graded code may not call: ``id -> (object, name)`` for every reference of the spec,
    every library function a reference calls by name, and their byte-for-byte copies."""
    exercises = list(spec_mod.EXERCISES)
    called = set().union(*(_code_names(getattr(ex.reference, "__code__", None)) for ex in exercises))
    _import_named(called)  # a reference that imports the library lazily: load it now, so it is found too
    mods = _library_modules(spec_mod)
    targets = {id(ex.reference): (ex.reference, ex.function) for ex in exercises}
    targets.update(_called_library_functions(exercises, mods, spec_mod))
    targets.update(_copies(targets, mods, spec_mod))
    return targets


def reference_code(spec_mod) -> dict:
    """``code object -> name`` of the functions behind :func:`reference_targets` (a self-check
    watches calls into them; it changes nothing)."""
    return {f.__code__: name for obj, name in reference_targets(spec_mod).values() for f in _functions_of(obj)}


def remove_references(spec_mod) -> tuple[dict, list[str]]:
    """Make every graded reference unreachable; returns (drivers by exercise id, modules that defined them)."""
    exercises = list(spec_mod.EXERCISES)
    targets = reference_targets(spec_mod)
    defined_in = {spec_mod.__name__}
    for obj, name in targets.values():
        for f in _functions_of(obj):
            defined_in.add(f.__module__)
            _neutralize_function(f, name)
    return {ex.id: ex.driver for ex in exercises}, sorted(m for m in defined_in if m)


def _import_named(names: set[str]) -> None:
    import importlib

    for name in sorted(n for n in names if n == "i2dl_lab" or n.startswith("i2dl_lab.")):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for attr in names:
            if attr.isidentifier() and not hasattr(mod, attr) and hasattr(mod, "__path__"):
                try:
                    importlib.import_module(f"{name}.{attr}")
                except ImportError:
                    pass


def files_to_hide(module_names) -> list[str]:
    """Source and byte-code files of ``module_names`` (what a reload or a re-run of the source would read)."""
    out = []
    for name in module_names:
        mod = sys.modules.get(name)
        path = getattr(mod, "__file__", None)
        if not path:
            continue
        out.append(path)
        try:
            out.append(importlib.util.cache_from_source(path))
        except (NotImplementedError, ValueError):
            pass
    return out


def tripped() -> list[str]:
    """Names of tripwires called since the last :func:`reset`."""
    return sorted(_TRIPPED)


def reset() -> None:
    _TRIPPED.clear()
