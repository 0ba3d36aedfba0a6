"""Per-sample image transforms for arrays of shape (C, H, W) (or (H, W)).

Random transforms own a seeded ``numpy.random.Generator`` so that an augmented training
run is reproducible: build them with ``seed=...``. They are plain callables, so they work
as ``transform=`` of :class:`~i2dl_lab.data.ArrayDataset` for the NumPy DataLoader and for
torch's DataLoader alike (with ``num_workers=0``).

Example:
    >>> t = Compose([RandomCrop(8, padding=1, seed=0), HorizontalFlip(seed=0), Normalize([0.5], [0.25])])
    >>> t(np.zeros((1, 8, 8))).shape
    (1, 8, 8)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["Compose", "Normalize", "RandomCrop", "HorizontalFlip", "Brightness", "GaussianNoise", "ToFloat"]


def _check_image(name: str, x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim not in (2, 3):
        raise ValueError(f"{name} expects one image of shape (C, H, W) or (H, W), got shape {x.shape}")
    return x


class Compose:
    """Apply transforms in order: ``Compose([a, b])(x) == b(a(x))``."""

    def __init__(self, transforms: Sequence[Callable]):
        for t in transforms:
            if not callable(t):
                raise TypeError(f"every transform must be callable, got {type(t).__name__}")
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class ToFloat:
    """Cast to a float dtype and optionally scale (e.g. ``scale=1/255`` for uint8 images)."""

    def __init__(self, scale: float = 1.0, dtype=np.float32):
        self.scale = scale
        self.dtype = dtype

    def __call__(self, x):
        return (np.asarray(x, dtype=self.dtype) * self.dtype(self.scale)).astype(self.dtype, copy=False)

    def __repr__(self) -> str:
        return f"ToFloat(scale={self.scale})"


class Normalize:
    """Per-channel standardisation ``(x - mean[c]) / std[c]`` for x of shape (C, H, W).

    Args:
        mean: one value per channel (or a single value for all channels).
        std: one positive value per channel (or a single value).
    """

    def __init__(self, mean, std):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError(f"mean and std must be 1-D (one per channel), got shapes {self.mean.shape}, "
                             f"{self.std.shape}")
        if np.any(self.std <= 0):
            raise ValueError(f"std must be positive, got {self.std.tolist()}")

    def __call__(self, x):
        x = _check_image("Normalize", x)
        if x.ndim == 2:
            mean, std = self.mean, self.std
            if mean.size != 1:
                raise ValueError(f"Normalize got a 2-D image but {mean.size} channel means")
            out = (x - mean[0]) / std[0]
        else:
            c = x.shape[0]
            if self.mean.size not in (1, c) or self.std.size not in (1, c):
                raise ValueError(f"Normalize has {self.mean.size} means/{self.std.size} stds for an image "
                                 f"with {c} channels (shape {x.shape})")
            out = (x - self.mean.reshape(-1, 1, 1)) / self.std.reshape(-1, 1, 1)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        return out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class _Random:
    def __init__(self, seed: int | None = None):
        self.seed = seed
        self.rng = np.random.default_rng(seed)


class RandomCrop(_Random):
    """Zero-pad by ``padding`` pixels on each side, then cut a random ``size`` x ``size`` window.

    With ``padding=p`` and ``size`` equal to the input size this shifts the image by up to
    ``p`` pixels in each direction, the classic CIFAR augmentation.
    """

    def __init__(self, size: int | tuple[int, int], padding: int = 0, fill: float = 0.0, seed: int | None = None):
        super().__init__(seed)
        self.size = (size, size) if np.isscalar(size) else tuple(size)
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        self.padding = int(padding)
        self.fill = fill

    def __call__(self, x):
        x = _check_image("RandomCrop", x)
        p = self.padding
        pad = [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)]
        xp = np.pad(x, pad, constant_values=self.fill) if p else x
        H, W = xp.shape[-2:]
        h, w = self.size
        if h > H or w > W:
            raise ValueError(f"crop size {self.size} is larger than the padded image {(H, W)}")
        i = int(self.rng.integers(0, H - h + 1))
        j = int(self.rng.integers(0, W - w + 1))
        return xp[..., i:i + h, j:j + w].copy()

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class HorizontalFlip(_Random):
    """Mirror the image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, seed: int | None = None):
        super().__init__(seed)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p}")
        self.p = p

    def __call__(self, x):
        x = _check_image("HorizontalFlip", x)
        if self.rng.random() < self.p:
            return x[..., ::-1].copy()
        return x

    def __repr__(self) -> str:
        return f"HorizontalFlip(p={self.p})"


class Brightness(_Random):
    """Add one random offset drawn uniformly from ``[-delta, delta]`` to every pixel."""

    def __init__(self, delta: float, seed: int | None = None):
        super().__init__(seed)
        if delta < 0:
            raise ValueError(f"delta must be >= 0, got {delta}")
        self.delta = delta

    def __call__(self, x):
        x = _check_image("Brightness", x)
        out = x + self.rng.uniform(-self.delta, self.delta)
        return out.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32, copy=False)

    def __repr__(self) -> str:
        return f"Brightness(delta={self.delta})"


class GaussianNoise(_Random):
    """Add i.i.d. Gaussian noise of standard deviation ``std`` (the corruption of a denoising AE)."""

    def __init__(self, std: float, seed: int | None = None):
        super().__init__(seed)
        if std < 0:
            raise ValueError(f"std must be >= 0, got {std}")
        self.std = std

    def __call__(self, x):
        x = np.asarray(x)
        out = x + self.rng.normal(0.0, self.std, size=x.shape)
        return out.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32, copy=False)

    def __repr__(self) -> str:
        return f"GaussianNoise(std={self.std})"
