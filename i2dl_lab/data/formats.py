"""Readers for the on-disk formats of the real datasets, written from the format specs.

* IDX (MNIST, Fashion-MNIST): big-endian header ``0x00 0x00 <dtype code> <ndim>``, then
  ``ndim`` uint32 sizes, then the data row-major. Optionally gzip-compressed.
* CIFAR-10 python batches: pickled dicts with ``b"data"`` (10000, 3072) uint8 rows
  (1024 red, 1024 green, 1024 blue values of a 32x32 image) and ``b"labels"``.

Both readers check sizes and raise ``ValueError`` on a truncated or corrupt file instead of
returning a silently short array. The pickle reader only allows the few types a CIFAR batch
contains, so a crafted pickle cannot run code.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import zlib

import numpy as np

__all__ = ["read_idx", "write_idx", "read_cifar_batch", "CorruptFileError"]


class CorruptFileError(ValueError):
    """The file exists but its contents do not follow the expected format."""


_IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {np.dtype(v).newbyteorder(">"): k for k, v in _IDX_DTYPES.items()}


def _read_bytes(path) -> bytes:
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":  # gzip magic
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise CorruptFileError(f"{path}: gzip stream is corrupt or truncated ({exc})") from exc
    return raw


def read_idx(path) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into an array of its native shape and dtype.

    Raises:
        CorruptFileError: bad magic number, unknown dtype code, or fewer/more bytes than
            the header announces (the message gives both counts).
    """
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise CorruptFileError(f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise CorruptFileError(f"{path}: unknown IDX data type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptFileError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header})")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape)) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        raise CorruptFileError(f"{path}: IDX header announces shape {shape} ({expected} data bytes) "
                               f"but the file holds {got} (truncated or corrupt)")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` in IDX format (gzip if ``compress`` or the name ends in ``.gz``)."""
    array = np.asarray(array)
    dt = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if np.dtype(dt) not in _IDX_CODES:
        raise TypeError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, _IDX_CODES[np.dtype(dt)], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    data = header + array.astype(dt).tobytes()
    path = os.fspath(path)
    if compress if compress is not None else path.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)


class _CifarUnpickler(pickle.Unpickler):
    # Only what numpy arrays inside plain dicts need; anything else is refused.
    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("builtins", "list"), ("builtins", "dict"),
                ("_codecs", "encode"), ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"CIFAR batch refers to {module}.{name}, which a CIFAR batch never contains")


def _decode_keys(d: dict) -> dict:
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}


def read_cifar_batch(source) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch (a path or raw bytes).

    Returns:
        ``(X, y)``: uint8 images of shape (N, 3, 32, 32) and int64 labels of shape (N,).

    Raises:
        CorruptFileError: not a pickle of the expected dict, or inconsistent sizes.
    """
    raw = source if isinstance(source, (bytes, bytearray)) else open(os.fspath(source), "rb").read()
    name = "CIFAR batch" if isinstance(source, (bytes, bytearray)) else os.fspath(source)
    try:
        d = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:
        raise CorruptFileError(f"{name}: not a readable CIFAR-10 batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(d, dict):
        raise CorruptFileError(f"{name}: expected a pickled dict, got {type(d).__name__}")
    d = _decode_keys(d)
    if "data" not in d or "labels" not in d:
        raise CorruptFileError(f"{name}: missing keys; expected 'data' and 'labels', got {sorted(d)}")
    data = np.asarray(d["data"])
    labels = np.asarray(d["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise CorruptFileError(f"{name}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (len(data),):
        raise CorruptFileError(f"{name}: {len(data)} images but labels of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise CorruptFileError(f"{name}: labels must lie in [0, 9], got [{labels.min()}, {labels.max()}]")
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar_archive(path, members: list[str]) -> dict[str, bytes]:
    """Read the named batch files from a ``cifar-10-python.tar.gz`` without extracting it."""
    out = {}
    try:
        with tarfile.open(os.fspath(path), "r:gz") as tar:
            names = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
            for member in members:
                if member not in names:
                    raise CorruptFileError(f"{path}: archive has no {member} (has {sorted(names)})")
                out[member] = tar.extractfile(names[member]).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise CorruptFileError(f"{path}: corrupt or truncated tar.gz archive ({exc})") from exc
    return out
