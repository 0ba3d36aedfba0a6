"""Downloads that are verified, atomic and never implicit.

* Every remote file has a SHA-256 in :data:`REGISTRY`. A download goes to a temporary
  file in the cache directory, is hashed, and only a file whose hash matches is renamed
  into place (``os.replace`` is atomic), so the cache never holds a half or wrong file.
* Nothing downloads unless asked (``download=True``). Without it, a missing file raises
  :class:`DatasetNotFoundError` saying which file to put where and its checksum, so a
  course run on a machine without network tells the user exactly what to copy.
* The cache directory is ``$I2DL_DATA_DIR`` if set, else ``~/.cache/i2dl_lab``;
  :func:`set_cache_dir` overrides both for this process.

The SHA-256 values of MNIST, Fashion-MNIST and CIFAR-10 are the digests of the files the
original sites and their official mirrors serve (the same values TFDS and torchvision's
dataset prototypes pin).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RemoteFile", "REGISTRY", "DatasetNotFoundError", "ChecksumError", "cache_dir", "set_cache_dir",
           "sha256_file", "download_file", "ensure_file", "describe_files"]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is not in the cache and downloading was not requested (or failed)."""


class ChecksumError(ValueError):
    """A file's SHA-256 does not match the registry."""


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: its name in the cache, where to get it, and its SHA-256."""

    filename: str
    urls: tuple[str, ...]
    sha256: str
    size: int | None = None  # bytes, for messages only

    def __post_init__(self):
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"{self.filename}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")


_MNIST = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
_FASHION = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)


def _idx_files(mirrors, sums: dict[str, str]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(name, tuple(m + name for m in mirrors), digest) for name, digest in sums.items())


@dataclass(frozen=True)
class _Entry:
    subdir: str
    files: tuple[RemoteFile, ...] = field(default_factory=tuple)


#: dataset name -> cache sub-directory and its files.
REGISTRY: dict[str, _Entry] = {
    "mnist": _Entry("mnist", _idx_files(_MNIST, {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    })),
    "fashion_mnist": _Entry("fashion_mnist", _idx_files(_FASHION, {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    })),
    "cifar10": _Entry("cifar10", (
        RemoteFile("cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                   "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", 170498071),
    )),
}

_CACHE_OVERRIDE: Path | None = None


def set_cache_dir(path: str | os.PathLike | None) -> None:
    """Use ``path`` as the data cache for this process (``None`` restores the default)."""
    global _CACHE_OVERRIDE
    _CACHE_OVERRIDE = None if path is None else Path(path).expanduser()


def cache_dir() -> Path:
    """The data cache: :func:`set_cache_dir`, else ``$I2DL_DATA_DIR``, else ``~/.cache/i2dl_lab``."""
    if _CACHE_OVERRIDE is not None:
        return _CACHE_OVERRIDE
    env = os.environ.get("I2DL_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "i2dl_lab"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (works for files larger than memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _urlopen_copy(url: str, out, timeout: float = 60.0) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - URLs come from the registry
        while True:
            block = resp.read(1 << 20)
            if not block:
                break
            out.write(block)


def download_file(url: str, dest: str | os.PathLike, sha256: str,
                  fetch: Callable[[str, object], None] | None = None) -> Path:
    """Download ``url`` to ``dest`` if and only if its SHA-256 equals ``sha256``.

    The bytes go to a temporary file next to ``dest``; on a hash mismatch or any error the
    temporary file is removed and nothing appears at ``dest``.

    Args:
        url: source (``http(s)://`` or ``file://``).
        dest: final path.
        sha256: expected hex digest.
        fetch: ``fetch(url, fileobj)`` writing the bytes; defaults to ``urllib``. Tests
            pass a local function here so that nothing touches the network.

    Raises:
        ChecksumError: the downloaded bytes have another digest (both are named).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fetch = fetch or _urlopen_copy
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            fetch(url, out)
            out.flush()
            os.fsync(out.fileno())
        got = sha256_file(tmp)
        if got != sha256:
            raise ChecksumError(f"{dest.name} from {url}: SHA-256 is {got}, expected {sha256}; "
                                f"the file was discarded (corrupt or changed upstream)")
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dest


def _entry(name: str) -> _Entry:
    if name not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name]


def describe_files(name: str, root: str | os.PathLike | None = None) -> str:
    """Human-readable list of the files of dataset ``name``: where they go, URL and SHA-256."""
    entry = _entry(name)
    folder = Path(root) if root is not None else cache_dir() / entry.subdir
    lines = [f"{name}: place these files in {folder}"]
    for rf in entry.files:
        lines.append(f"  {rf.filename}  sha256={rf.sha256}  from {rf.urls[0]}")
    return "\n".join(lines)


def ensure_file(name: str, filename: str, root: str | os.PathLike | None = None, download: bool = False,
                verify: bool = True, fetch: Callable | None = None) -> Path:
    """Path of one registered file of dataset ``name``, downloading it only if asked.

    Args:
        name: a key of :data:`REGISTRY` (``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``).
        filename: one of that dataset's file names.
        root: folder holding the files; default ``cache_dir() / <dataset>``.
        download: fetch a missing file (from each mirror in turn).
        verify: check the SHA-256 of a file already present (a wrong one raises).
        fetch: passed to :func:`download_file` (tests use a local fetch).

    Raises:
        DatasetNotFoundError: the file is missing and ``download`` is False, or every
            mirror failed; the message names the file, the folder and the checksum.
        ChecksumError: the file present (or downloaded) has the wrong SHA-256.
    """
    entry = _entry(name)
    by_name = {rf.filename: rf for rf in entry.files}
    if filename not in by_name:
        raise ValueError(f"{name} has no file {filename!r}; its files are {sorted(by_name)}")
    rf = by_name[filename]
    folder = Path(root) if root is not None else cache_dir() / entry.subdir
    path = folder / filename
    if path.exists():
        if verify:
            got = sha256_file(path)
            if got != rf.sha256:
                raise ChecksumError(f"{path}: SHA-256 is {got}, expected {rf.sha256}. Delete the file and "
                                    f"download it again (download=True) or copy a good copy there.")
        return path
    if not download:
        raise DatasetNotFoundError(
            f"{filename} for dataset {name!r} is not at {path}. No download happens unless you ask for one: "
            f"pass download=True, or copy the file there by hand (URL: {rf.urls[0]}, SHA-256: {rf.sha256}).\n"
            + describe_files(name, folder))
    errors = []
    for url in rf.urls:
        try:
            return download_file(url, path, rf.sha256, fetch=fetch)
        except ChecksumError:
            raise
        except Exception as exc:  # network errors: try the next mirror
            errors.append(f"{url}: {exc}")
    raise DatasetNotFoundError(f"could not download {filename} ({'; '.join(errors)}). Copy it by hand to {path} "
                               f"(SHA-256 {rf.sha256}).")
