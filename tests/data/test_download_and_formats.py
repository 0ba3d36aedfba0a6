"""Verified, atomic downloads and the real on-disk formats, all offline.

The files are written here in the exact formats (IDX headers by hand with ``struct``, CIFAR
batches as pickled dicts inside a tar.gz), and "downloads" come from ``file://`` URLs or a
local fetch function: nothing touches the network.
"""

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

import i2dl_lab.data.download as dl
from i2dl_lab.data import (
    REGISTRY,
    ChecksumError,
    CorruptFileError,
    DatasetNotFoundError,
    RemoteFile,
    cache_dir,
    download_file,
    ensure_file,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    read_cifar_batch,
    read_idx,
    set_cache_dir,
    write_idx,
)
from i2dl_lab.data.download import _Entry


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX as the MNIST page describes it: 0, 0, type 0x08 (ubyte), ndim, big-endian sizes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


# ----------------------------------------------------------------------------- downloads
def test_download_from_file_url_verifies_and_writes(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello dataset")
    dest = tmp_path / "cache" / "file.bin"
    out = download_file(src.as_uri(), dest, sha(b"hello dataset"))
    assert out == dest and dest.read_bytes() == b"hello dataset"


def test_checksum_mismatch_raises_and_leaves_no_file(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"tampered")
    dest = tmp_path / "cache" / "file.bin"
    with pytest.raises(ChecksumError, match="expected " + "0" * 64):
        download_file(src.as_uri(), dest, "0" * 64)
    assert list(dest.parent.iterdir()) == []  # neither the file nor a temporary


def test_interrupted_download_leaves_no_half_file(tmp_path):
    def fetch(url, out):
        out.write(b"first half")
        raise ConnectionError("connection reset")

    dest = tmp_path / "file.bin"
    with pytest.raises(ConnectionError):
        download_file("https://example.invalid/f", dest, "0" * 64, fetch=fetch)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_offline_says_which_file_goes_where(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        ensure_file("mnist", "train-images-idx3-ubyte.gz", root=tmp_path)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(tmp_path) in msg and "download=True" in msg
    assert REGISTRY["mnist"].files[0].sha256 in msg
    assert isinstance(err.value, FileNotFoundError)


def test_ensure_file_downloads_only_when_asked_and_tries_mirrors(tmp_path, monkeypatch):
    payload = b"\x00" * 100
    calls = []

    def fetch(url, out):
        calls.append(url)
        if "bad-mirror" in url:
            raise OSError("mirror down")
        out.write(payload)

    urls = ("https://bad-mirror/toy.bin", "https://good/toy.bin")
    entry = _Entry("toy", (RemoteFile("toy.bin", urls, sha(payload)),))
    monkeypatch.setitem(REGISTRY, "toy", entry)
    with pytest.raises(DatasetNotFoundError):
        ensure_file("toy", "toy.bin", root=tmp_path, fetch=fetch)
    assert calls == []
    path = ensure_file("toy", "toy.bin", root=tmp_path, download=True, fetch=fetch)
    assert path.read_bytes() == payload and len(calls) == 2
    ensure_file("toy", "toy.bin", root=tmp_path, download=True, fetch=fetch)  # cached: no new fetch
    assert len(calls) == 2


def test_corrupt_cached_file_is_reported(tmp_path, monkeypatch):
    entry = _Entry("toy", (RemoteFile("toy.bin", ("https://x/toy.bin",), sha(b"good")),))
    monkeypatch.setitem(REGISTRY, "toy", entry)
    (tmp_path / "toy.bin").write_bytes(b"bad!")
    with pytest.raises(ChecksumError, match="Delete the file"):
        ensure_file("toy", "toy.bin", root=tmp_path)
    assert ensure_file("toy", "toy.bin", root=tmp_path, verify=False).exists()


def test_cache_dir_setting_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("I2DL_DATA_DIR", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    set_cache_dir(tmp_path / "explicit")
    try:
        assert cache_dir() == tmp_path / "explicit"
        with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "explicit" / "mnist")):
            load_mnist()
    finally:
        set_cache_dir(None)
    monkeypatch.delenv("I2DL_DATA_DIR")
    assert cache_dir() == Path.home() / ".cache" / "i2dl_lab"


def test_registry_entries_are_well_formed():
    for name, entry in REGISTRY.items():
        for rf in entry.files:
            assert len(rf.sha256) == 64 and rf.urls and all(u.startswith("http") for u in rf.urls), name
    with pytest.raises(ValueError, match="64 lowercase hex"):
        RemoteFile("x", ("https://x",), "abc")
    with pytest.raises(ValueError, match="unknown dataset"):
        ensure_file("imagenet", "x")


# ----------------------------------------------------------------------------- IDX
def test_read_idx_follows_the_format(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(arr))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(idx_bytes(arr)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx.gz"), arr)


def test_write_idx_round_trips_other_dtypes(tmp_path):
    arr = np.linspace(-1, 1, 12).reshape(3, 4).astype(np.float32)
    write_idx(tmp_path / "f.idx.gz", arr)
    back = read_idx(tmp_path / "f.idx.gz")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, arr)


def test_truncated_idx_is_rejected_with_both_sizes(tmp_path):
    data = idx_bytes(np.zeros((5, 4, 4), np.uint8))
    (tmp_path / "t.idx.gz").write_bytes(gzip.compress(data[:-10]))
    with pytest.raises(CorruptFileError, match="80 data bytes.*holds 70"):
        read_idx(tmp_path / "t.idx.gz")


def test_corrupt_gzip_and_bad_magic_are_rejected(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((5, 4, 4), np.uint8)))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(CorruptFileError, match="gzip"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "junk.idx").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(CorruptFileError, match="not an IDX file"):
        read_idx(tmp_path / "junk.idx")


def write_mnist_like(folder: Path, n_train=40, n_test=10, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(n_test, dtype=np.uint8) % 10,
    }
    sums = {}
    for name, arr in arrays.items():
        data = gzip.compress(idx_bytes(arr), mtime=0)
        (folder / name).write_bytes(data)
        sums[name] = sha(data)
    return {"arrays": arrays, "sums": sums}


def patch_registry(monkeypatch, name, sums):
    files = tuple(RemoteFile(f, (f"https://example.invalid/{f}",), s) for f, s in sums.items())
    monkeypatch.setitem(REGISTRY, name, _Entry(REGISTRY[name].subdir, files))


@pytest.mark.parametrize("name,loader", [("mnist", load_mnist), ("fashion_mnist", load_fashion_mnist)])
def test_mnist_loaders_read_small_files_in_the_real_format(tmp_path, monkeypatch, name, loader):
    info = write_mnist_like(tmp_path)
    patch_registry(monkeypatch, name, info["sums"])
    d = loader(root=tmp_path, val=0.25, seed=0)
    assert d["X_train"].shape == (30, 1, 28, 28) and d["X_val"].shape == (10, 1, 28, 28)
    assert d["X_test"].dtype == np.float32 and d["X_test"].max() <= 1.0
    np.testing.assert_allclose(d["X_test"] * 255, info["arrays"]["t10k-images-idx3-ubyte.gz"][:, None], atol=1e-4)
    np.testing.assert_array_equal(np.bincount(d["y_val"]), np.ones(10))  # stratified validation
    flat = loader(root=tmp_path, val=0.0, flatten=True, normalize=False)
    assert flat["X_train"].shape == (40, 784) and flat["X_train"].dtype == np.uint8
    assert len(d["class_names"]) == 10


def test_mnist_loader_rejects_a_file_with_the_wrong_checksum(tmp_path, monkeypatch):
    info = write_mnist_like(tmp_path)
    sums = dict(info["sums"], **{"t10k-labels-idx1-ubyte.gz": "f" * 64})
    patch_registry(monkeypatch, "mnist", sums)
    with pytest.raises(ChecksumError, match="t10k-labels"):
        load_mnist(root=tmp_path)


def test_mnist_loader_reports_a_truncated_file_even_unverified(tmp_path, monkeypatch):
    info = write_mnist_like(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-100]))
    patch_registry(monkeypatch, "mnist", info["sums"])
    with pytest.raises(CorruptFileError, match="truncated"):
        load_mnist(root=tmp_path, verify=False)


# ----------------------------------------------------------------------------- CIFAR-10
def cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    return {b"batch_label": b"test", b"labels": list(rng.integers(0, 10, n)), b"data": data,
            b"filenames": [b"x.png"] * n}


def write_cifar_archive(path: Path, n=6):
    batches = {f"data_batch_{i}": cifar_batch(n, i) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(n, 99)
    with tarfile.open(path, "w:gz") as tar:
        for name, d in batches.items():
            raw = pickle.dumps(d, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return batches


def test_cifar_batch_layout_is_channel_planes(tmp_path):
    b = cifar_batch(3, 0)
    X, y = read_cifar_batch(pickle.dumps(b, protocol=2))
    assert X.shape == (3, 3, 32, 32) and y.tolist() == [int(v) for v in b[b"labels"]]
    np.testing.assert_array_equal(X[1, 0], b[b"data"][1, :1024].reshape(32, 32))  # red plane
    np.testing.assert_array_equal(X[1, 2], b[b"data"][1, 2048:].reshape(32, 32))  # blue plane


def test_load_cifar10_from_a_small_archive(tmp_path, monkeypatch):
    path = tmp_path / "cifar-10-python.tar.gz"
    batches = write_cifar_archive(path)
    patch_registry(monkeypatch, "cifar10", {path.name: sha(path.read_bytes())})
    d = load_cifar10(root=tmp_path, val=0.0)
    assert d["X_train"].shape == (30, 3, 32, 32) and d["X_test"].shape == (6, 3, 32, 32)
    np.testing.assert_allclose(d["X_test"].reshape(6, -1) * 255, batches["test_batch"][b"data"], atol=1e-3)
    assert d["class_names"][0] == "airplane"


def test_cifar_corrupt_and_truncated_archives(tmp_path, monkeypatch):
    path = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_archive(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    patch_registry(monkeypatch, "cifar10", {path.name: sha(path.read_bytes())})
    with pytest.raises(CorruptFileError, match="corrupt or truncated"):
        load_cifar10(root=tmp_path)
    with pytest.raises(CorruptFileError, match="uint8 of shape"):
        read_cifar_batch(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))


def test_cifar_reader_refuses_pickles_that_would_run_code():
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(CorruptFileError, match="never contains"):
        read_cifar_batch(pickle.dumps({b"data": Evil(), b"labels": []}))


def test_default_loaders_never_download(monkeypatch, tmp_path):
    def boom(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(dl, "_urlopen_copy", boom)
    for loader in (load_mnist, load_fashion_mnist, load_cifar10):
        with pytest.raises(DatasetNotFoundError):
            loader(root=tmp_path)
