"""Plain-data wire format between the grader and its sandboxed child.

Only these values cross the process boundary, as JSON text: ``None``, ``bool``, ``int``,
``float``, ``str``, ``list``, ``tuple``, ``dict`` (keys of those scalar kinds), NumPy arrays
and scalars of numeric or boolean dtype. Containers are tagged so that tuples stay tuples
and dict keys keep their type::

    {"$t": [...]}  tuple          {"$l": [...]}  list
    {"$d": [[k, v], ...]}  dict   {"$a": base64, "dtype": "<f8", "shape": [2, 3]}  ndarray
    {"$s": base64, "dtype": "<f8"}  numpy scalar
    {"$x": "TypeName"}  a value that is not plain data (decoded as :class:`Unsupported`)

The encoder converts by exact type: an object with a custom ``__eq__`` or ``__array__`` is
never sent, only its type name. :func:`decode` is strict: anything malformed raises
:class:`WireError`, so a child that writes garbage gets a wrong answer, not a crash.
"""

from __future__ import annotations

import base64
import json

import numpy as np

#: dtypes that may cross the boundary (kind letters: bool, signed, unsigned, float, complex).
_KINDS = "biufc"
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000


class WireError(ValueError):
    """Raised when encoded data is malformed or exceeds the limits."""


class Unsupported:
    """Stands for a value the child could not send as plain data (only its type name)."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name} object (not plain data)>"

    def __eq__(self, other):  # an Unsupported never equals anything, itself included
        return False

    __hash__ = None


def _charge(depth: int, budget: list) -> None:
    """Count one value against the nesting and size limits shared by encoding and decoding."""
    if depth > MAX_DEPTH:
        raise WireError(f"data nested deeper than {MAX_DEPTH} levels")
    budget[0] -= 1
    if budget[0] < 0:
        raise WireError(f"more than {MAX_ITEMS} values")


def _unsupported(what: str, strict: bool) -> dict:
    if strict:
        raise WireError(f"{what} is not plain data")
    return {"$x": what}


def _enc(x, depth: int, budget: list, strict: bool = False):
    _charge(depth, budget)
    t = type(x)
    if x is None or t is bool or t is str:
        return x
    if t is int:
        if abs(x) > 2**63:
            return float(x)
        return x
    if t is float:
        return {"$f": repr(x)} if x != x or x in (float("inf"), float("-inf")) else x
    if t is tuple or t is list:
        return {"$t" if t is tuple else "$l": [_enc(v, depth + 1, budget, strict) for v in x]}
    if t is dict:
        items = []
        for k, v in x.items():
            if type(k) not in (str, int, bool, float, tuple) and k is not None:
                return _unsupported(f"dict with {type(k).__name__} keys", strict)
            items.append([_enc(k, depth + 1, budget, strict), _enc(v, depth + 1, budget, strict)])
        return {"$d": items}
    if isinstance(x, np.ndarray):
        a = np.ndarray.view(x, np.ndarray)  # drop any subclass behaviour, keep the numbers
        if a.dtype.kind not in _KINDS or a.dtype.fields is not None:
            return _unsupported(f"ndarray of dtype {a.dtype}", strict)
        budget[0] -= a.size
        if budget[0] < 0:
            raise WireError(f"more than {MAX_ITEMS} values")
        # tobytes(order="C") keeps 0-d arrays 0-d (np.ascontiguousarray would make them 1-d)
        return {"$a": base64.b64encode(a.tobytes(order="C")).decode("ascii"), "dtype": a.dtype.str,
                "shape": list(a.shape)}
    if isinstance(x, np.generic) and t.__module__ == "numpy":
        a = np.asarray(x)
        if a.dtype.kind not in _KINDS:
            return _unsupported(f"numpy scalar of dtype {a.dtype}", strict)
        return {"$s": base64.b64encode(a.tobytes()).decode("ascii"), "dtype": a.dtype.str}
    return _unsupported(f"{t.__module__}.{t.__qualname__}" if t.__module__ not in ("builtins", "__submission__")
                        else t.__qualname__, strict)


def encode(x, strict: bool = False) -> object:
    """Convert ``x`` to JSON-ready tagged data (see the module docstring).

    ``strict``: raise :class:`WireError` for a value that is not plain data instead of
    sending its type name (the grader's own inputs must all be plain data).

    >>> encode((1, [2.5]))
    {'$t': [1, {'$l': [2.5]}]}
    >>> encode(object(), strict=True)
    Traceback (most recent call last):
    ...
    i2dl_lab.grading.wire.WireError: object is not plain data
    """
    return _enc(x, 0, [MAX_ITEMS], strict)


def dumps(x) -> str:
    return json.dumps(encode(x), allow_nan=False, separators=(",", ":"))


def _dtype(s) -> np.dtype:
    if not isinstance(s, str) or len(s) > 8:
        raise WireError(f"bad dtype {s!r}")
    try:
        dt = np.dtype(s)
    except TypeError as exc:
        raise WireError(f"bad dtype {s!r}") from exc
    if dt.kind not in _KINDS or dt.fields is not None or dt.subdtype is not None:
        raise WireError(f"dtype {s!r} is not plain numbers")
    return dt


def _dec(x, depth: int, budget: list):
    _charge(depth, budget)
    t = type(x)
    if x is None or t in (bool, int, float, str):
        return x
    if t is not dict or len(x) not in (1, 2, 3):
        raise WireError(f"unexpected {t.__name__} in wire data")
    if ("$t" in x or "$l" in x) and len(x) == 1:
        (tag, v), = x.items()
        if type(v) is not list:
            raise WireError("sequence payload is not a list")
        items = [_dec(i, depth + 1, budget) for i in v]
        return tuple(items) if tag == "$t" else items
    if "$d" in x and len(x) == 1:
        return _dec_dict(x["$d"], depth, budget)
    if "$f" in x and len(x) == 1:
        if x["$f"] not in ("nan", "inf", "-inf"):
            raise WireError("bad special float")
        return float(x["$f"])
    if "$x" in x and len(x) == 1:
        return Unsupported(str(x["$x"])[:200])
    if "$a" in x and set(x) == {"$a", "dtype", "shape"}:
        return _dec_array(x, budget)
    if "$s" in x and set(x) == {"$s", "dtype"}:
        dt = _dtype(x["dtype"])
        raw = _b64(x["$s"])
        if len(raw) != dt.itemsize:
            raise WireError("bad scalar size")
        return np.frombuffer(raw, dtype=dt)[0]
    raise WireError(f"unknown wire tag in {sorted(x)[:3]}")


def _dec_dict(v, depth: int, budget: list) -> dict:
    if type(v) is not list:
        raise WireError("dict payload is not a list")
    out = {}
    for pair in v:
        if type(pair) is not list or len(pair) != 2:
            raise WireError("dict item is not a pair")
        k = _dec(pair[0], depth + 1, budget)
        if type(k) not in (str, int, bool, float, tuple) and k is not None:
            raise WireError("dict key is not a plain scalar")
        out[k] = _dec(pair[1], depth + 1, budget)
    return out


def _dec_array(x: dict, budget: list) -> np.ndarray:
    dt = _dtype(x["dtype"])
    shape = x["shape"]
    if type(shape) is not list or len(shape) > 32 or any(type(s) is not int or s < 0 for s in shape):
        raise WireError("bad array shape")
    raw = _b64(x["$a"])
    n = 1
    for s in shape:
        n *= s
    if n * dt.itemsize != len(raw):
        raise WireError(f"array data of {len(raw)} bytes does not fit shape {shape} and dtype {dt}")
    budget[0] -= n
    if budget[0] < 0:
        raise WireError(f"more than {MAX_ITEMS} values")
    return np.frombuffer(raw, dtype=dt).reshape(shape).copy()


def _b64(s) -> bytes:
    if type(s) is not str:
        raise WireError("binary payload is not a string")
    try:
        return base64.b64decode(s.encode("ascii"), validate=True)
    except Exception as exc:  # noqa: BLE001 - any decoding problem is malformed data
        raise WireError("bad base64 payload") from exc


def decode(x) -> object:
    """Inverse of :func:`encode`; strict about structure, dtypes and sizes."""
    return _dec(x, 0, [MAX_ITEMS])


def loads(text: str):
    return decode(json.loads(text))
