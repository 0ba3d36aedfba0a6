"""Offline datasets: scikit-learn's handwritten digits and sample photographs.

Both ship inside scikit-learn, so they load with no network on any machine that has the
course installed; they are the defaults of every lab.
"""

from __future__ import annotations

import numpy as np

from .splits import train_val_test_split

__all__ = ["load_digits", "upsample_images", "load_sample_image", "SAMPLE_IMAGES"]

SAMPLE_IMAGES = ("china.jpg", "flower.jpg")


def _interp_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of 1-D linear interpolation with aligned pixel centres."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5  # output centres in input coordinates
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    A = np.zeros((n_out, n_in))
    A[np.arange(n_out), lo] += 1 - frac
    A[np.arange(n_out), hi] += frac
    return A


def upsample_images(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of square images (..., H, W) to (..., size, size).

    Separable: ``A @ img @ A.T`` with a linear-interpolation matrix ``A``.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim < 2 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be square (..., H, H), got shape {images.shape}")
    A = _interp_matrix(images.shape[-1], size)
    return A @ images @ A.T


def load_digits(size: int = 8, flatten: bool = False, val: float = 0.15, test: float = 0.15,
                seed: int = 0, normalize: bool = True, dtype=np.float32) -> dict:
    """scikit-learn's 1797 handwritten digits (8x8, 10 classes), split and ready to train.

    Args:
        size: 8 for the original images, or e.g. 16 for a bilinear upsample (room for two
            conv+pool stages in a CNN).
        flatten: return rows of ``size*size`` features (for MLPs) instead of images.
        val, test: fractions of the stratified validation and test splits.
        seed: split seed (the same seed gives the same split everywhere in the course).
        normalize: scale pixels from [0, 16] to [0, 1].
        dtype: float dtype of the images.

    Returns:
        dict with ``X_train, y_train, X_val, y_val, X_test, y_test`` and ``class_names``.

    Shape:
        ``X_*``: (N, 1, size, size), or (N, size*size) with ``flatten``; ``y_*``: (N,) int64.

    Example:
        >>> d = load_digits()
        >>> d["X_train"].shape[1:], d["y_train"].dtype
        ((1, 8, 8), dtype('int64'))
    """
    from sklearn.datasets import load_digits as _sk_digits

    if not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    raw = _sk_digits()
    X = raw.images.astype(np.float64)  # (1797, 8, 8) in [0, 16]
    if normalize:
        X = X / 16.0
    if size != 8:
        X = upsample_images(X, size)
    X = X[:, None, :, :]  # (N, 1, size, size)
    if flatten:
        X = X.reshape(len(X), -1)
    out = train_val_test_split(X.astype(dtype), raw.target.astype(np.int64), val=val, test=test, seed=seed)
    out["class_names"] = [str(i) for i in range(10)]
    return out


def load_sample_image(name: str = "china.jpg", gray: bool = False, size: int | None = None) -> np.ndarray:
    """One of scikit-learn's two sample photographs, for filter and convolution demos.

    Args:
        name: ``"china.jpg"`` or ``"flower.jpg"``.
        gray: average the colour channels.
        size: if given, downsample (block average) so the shorter side is about ``size``.

    Returns:
        float64 array in [0, 1] of shape (3, H, W), or (H, W) with ``gray`` (427 x 640 full size).
    """
    from sklearn.datasets import load_sample_image as _sk_image

    if name not in SAMPLE_IMAGES:
        raise ValueError(f"name must be one of {SAMPLE_IMAGES}, got {name!r}")
    img = _sk_image(name).astype(np.float64) / 255.0  # (H, W, 3)
    if size is not None:
        f = max(1, min(img.shape[:2]) // int(size))
        H, W = (img.shape[0] // f) * f, (img.shape[1] // f) * f
        img = img[:H, :W].reshape(H // f, f, W // f, f, 3).mean(axis=(1, 3))
    img = img.transpose(2, 0, 1)  # (3, H, W)
    return img.mean(axis=0) if gray else img
