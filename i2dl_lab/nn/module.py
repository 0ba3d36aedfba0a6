"""The Module base class: state in a thin class, maths in ``i2dl_lab.nn.functional``.

Contract (shared by every layer, container and model in ``i2dl_lab.nn``):

* ``forward(x) -> out`` caches what ``backward`` needs; ``backward(dout) -> dx``
  *accumulates* parameter gradients into ``grads`` (as torch does), so call
  ``zero_grad()`` before each backward pass (the Trainer does).
* ``params`` and ``grads`` are dicts with the same keys. A leaf uses plain names
  (``"W"``, ``"b"``); a container prefixes its children's names with a dot path
  (``"0.W"``, ``"encoder.1.gamma"``) as ``torch.nn.Module.named_parameters`` does. Both
  are live views: reading gives the module's own arrays (optimizers update them in place),
  and ``model.params[k] = v`` or ``model.params[k] -= lr * g`` writes into the module,
  as CS231n's ``Solver._step`` expects.
* Buffers (running statistics) are state that is saved but not trained.
* ``train()`` / ``eval()`` switch behaviour of dropout and batchnorm, recursively.
* ``state_dict()`` / ``load_state_dict()`` copy parameters and buffers; ``save(path)`` and
  ``load(path)`` store them in a ``.npz`` file.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping

import numpy as np


class ArrayView(MutableMapping):
    """A live ``{dotted_name: array}`` view of one store (params, grads or buffers) of a module tree.

    Reading returns the module's own arrays; assigning copies the new values into them, so
    references held elsewhere (an optimizer's state, a layer's cached view) stay valid. The
    keys are fixed by the modules: a new key or ``del`` is an error, as is a shape change.

    Example (the update line of CS231n's ``Solver._step``):
        >>> from i2dl_lab.nn.layers import Linear
        >>> layer = Linear(2, 1, seed=0)
        >>> layer.params["b"] = np.array([0.5])
        >>> layer.params["b"] -= 0.25
        >>> layer.b
        array([0.25])
    """

    __slots__ = ("_module", "_store")

    def __init__(self, module: Module, store: str) -> None:
        self._module = module
        self._store = store

    def _snapshot(self) -> OrderedDict[str, np.ndarray]:
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for mod_name, mod in self._module.named_modules():
            for key, arr in mod.__dict__[self._store].items():
                out[f"{mod_name}.{key}" if mod_name else key] = arr
        return out

    def _owner(self, key: str) -> tuple[OrderedDict, str]:
        *path, leaf = str(key).split(".")
        mod = self._module
        for part in path:
            mod = mod.__dict__["_modules"].get(part)
            if mod is None:
                break
        store = mod.__dict__[self._store] if mod is not None else {}
        if leaf not in store:
            raise KeyError(f"{type(self._module).__name__} has no entry {key!r} in {self._store[1:]}; "
                           f"keys are {list(self._snapshot())}")
        return store, leaf

    def __getitem__(self, key: str) -> np.ndarray:
        store, leaf = self._owner(key)
        return store[leaf]

    def __setitem__(self, key: str, value) -> None:
        store, leaf = self._owner(key)
        arr = store[leaf]
        if value is arr:  # ``params[k] -= d`` already updated the array in place
            return
        value = np.asarray(value)
        if value.shape != arr.shape:
            raise ValueError(f"{self._store[1:]}[{key!r}] has shape {arr.shape}; cannot assign shape {value.shape}")
        arr[...] = value

    def __delitem__(self, key: str) -> None:
        raise TypeError(f"cannot delete {self._store[1:]}[{key!r}]: the modules define which entries exist")

    def __iter__(self) -> Iterator[str]:
        return iter(self._snapshot())

    def __len__(self) -> int:
        return len(self._snapshot())

    def keys(self):
        return self._snapshot().keys()

    def values(self):
        return self._snapshot().values()

    def items(self):
        return self._snapshot().items()

    def __repr__(self) -> str:
        return f"ArrayView({self._store[1:]}: {list(self._snapshot())})"


class Module:
    """Base class of every NumPy layer and model.

    Subclasses register parameters with :meth:`add_param`, buffers with :meth:`add_buffer`
    and child modules by plain attribute assignment, then implement :meth:`forward` and
    :meth:`backward`.

    Example:
        >>> class Scale(Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.add_param("a", np.ones(1))
        ...     def forward(self, x):
        ...         self._x = x
        ...         return self.a * x
        ...     def backward(self, dout):
        ...         self.accumulate_grad("a", np.sum(dout * self._x, keepdims=True).reshape(1))
        ...         return self.a * dout
        >>> m = Scale(); m.zero_grad(); _ = m(np.arange(3.0)); _ = m.backward(np.ones(3))
        >>> m.grads["a"]
        array([3.])
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_params", OrderedDict())
        object.__setattr__(self, "_grads", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---------------------------------------------------------------- registration
    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, Module):
            self._modules[name] = value
        elif name in self._modules:
            del self._modules[name]
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: expose parameters and buffers as attributes.
        d = self.__dict__
        for store in ("_params", "_buffers"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def add_param(self, name: str, value: np.ndarray) -> np.ndarray:
        """Register a trainable parameter (and a zero gradient of the same shape)."""
        if "." in name:
            raise ValueError(f"parameter names may not contain '.', got {name!r}")
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.floating):
            raise TypeError(f"parameter {name!r} must be a float array, got dtype {value.dtype}")
        self._params[name] = value
        self._grads[name] = np.zeros_like(value)
        return value

    def add_buffer(self, name: str, value: np.ndarray) -> np.ndarray:
        """Register a non-trainable array that is saved with the state (e.g. running mean)."""
        value = np.asarray(value)
        self._buffers[name] = value
        return value

    def set_buffer(self, name: str, value: np.ndarray) -> None:
        """Overwrite a buffer's values in place (keeps references held elsewhere valid)."""
        self._buffers[name][...] = value

    def accumulate_grad(self, name: str, grad: np.ndarray) -> None:
        """Add ``grad`` to the gradient of parameter ``name`` (shapes must agree)."""
        g = self._grads[name]
        if np.shape(grad) != g.shape:
            raise ValueError(
                f"{type(self).__name__}: gradient of {name!r} must have shape {g.shape}, got {np.shape(grad)}"
            )
        g += grad

    # ---------------------------------------------------------------- traversal
    def children(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield ``(dotted_name, module)`` for this module and every descendant."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    @property
    def params(self) -> ArrayView:
        """Every trainable array of this module and its children, by dotted name (a live view)."""
        return ArrayView(self, "_params")

    @property
    def grads(self) -> ArrayView:
        """Gradients with the same keys as :attr:`params` (a live view)."""
        return ArrayView(self, "_grads")

    @property
    def buffers(self) -> ArrayView:
        """Non-trainable state (running statistics), by dotted name (a live view)."""
        return ArrayView(self, "_buffers")

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    # ---------------------------------------------------------------- modes and grads
    def zero_grad(self) -> None:
        """Set every gradient to zero, in place."""
        for g in self.grads.values():
            g[...] = 0.0

    def train(self, mode: bool = True) -> Module:
        """Switch this module and its children to training (``mode=True``) or evaluation."""
        for _, mod in self.named_modules():
            object.__setattr__(mod, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    # ---------------------------------------------------------------- compute
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, dout):
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name."""
        state = OrderedDict((k, v.copy()) for k, v in self.params.items())
        state.update((k, v.copy()) for k, v in self.buffers.items())
        return state

    def load_state_dict(self, state, strict: bool = True) -> None:
        """Copy arrays from ``state`` into this module's parameters and buffers, in place.

        Raises:
            KeyError: with ``strict``, when keys are missing or unexpected (both listed).
            ValueError: when an array's shape differs from the parameter's.
        """
        own = dict(self.params.items())
        own.update(self.buffers.items())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"state_dict mismatch: missing keys {missing}, unexpected keys {unexpected}")
        for key, arr in own.items():
            if key not in state:
                continue
            new = np.asarray(state[key])
            if new.shape != arr.shape:
                raise ValueError(f"{key}: expected shape {arr.shape}, got {new.shape}")
            arr[...] = new

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`state_dict` to an ``.npz`` file atomically (temp file, then rename)."""
        path = os.fspath(path)
        tmp = path + ".tmp.npz"
        np.savez(tmp, **self.state_dict())
        os.replace(tmp, path)

    def load(self, path: str | os.PathLike, strict: bool = True) -> Module:
        """Load parameters saved by :meth:`save`; returns ``self``."""
        with np.load(os.fspath(path), allow_pickle=False) as data:
            self.load_state_dict({k: data[k] for k in data.files}, strict=strict)
        return self

    # ---------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        """Hyperparameters shown by ``repr``; override in subclasses."""
        return ""

    def __repr__(self) -> str:
        name = type(self).__name__
        if not self._modules:
            return f"{name}({self.extra_repr()})"
        lines = [f"{name}("]
        for key, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({key}): {child_repr}")
        lines.append(")")
        return "\n".join(lines)
