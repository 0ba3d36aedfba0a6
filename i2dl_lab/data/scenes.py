"""A generated scene set for semantic segmentation: coloured shapes on textured backgrounds.

Every pixel has a label: ``0`` background, ``1`` disc, ``2`` square, ``3`` triangle. Shapes
and background draw their colours from the *same* distribution, so a pixel's colour says
almost nothing about its class: telling a disc from a square needs the shape around the
pixel, which is what a segmentation network's receptive field provides. Shapes may overlap
(a later shape hides an earlier one), backgrounds are smooth colour gradients with a
sinusoidal texture, and every image gets pixel noise.

Example:
    >>> images, masks = make_scenes(4, size=32, seed=0)
    >>> images.shape, images.dtype, masks.shape, masks.dtype
    ((4, 3, 32, 32), dtype('float32'), (4, 32, 32), dtype('int64'))
    >>> sorted(set(np.unique(masks)) - {0}) != []
    True
"""

from __future__ import annotations

import numpy as np

__all__ = ["SCENE_CLASSES", "make_scenes"]

#: Class names by label.
SCENE_CLASSES = ("background", "disc", "square", "triangle")


def _shape_mask(kind: int, yy, xx, cy: float, cx: float, r: float, angle: float) -> np.ndarray:
    """Boolean (size, size) mask of one shape of 'radius' r centred at (cy, cx)."""
    dy, dx = yy - cy, xx - cx
    if kind == 1:  # disc
        return dy ** 2 + dx ** 2 <= r ** 2
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy  # coordinates in the shape's rotated frame
    if kind == 2:  # square of half-side 0.85 r: about the disc's area
        h = 0.85 * r
        return (np.abs(u) <= h) & (np.abs(v) <= h)
    # equilateral triangle with circumradius 1.25 r: inside all three half-planes
    R = 1.25 * r
    inside = np.ones_like(u, dtype=bool)
    for k in range(3):
        a = angle + 2 * np.pi * k / 3
        inside &= (np.cos(a) * dx + np.sin(a) * dy) <= R / 2
    return inside


def make_scenes(n: int = 1000, size: int = 32, max_shapes: int = 3, noise: float = 0.06, seed: int = 0):
    """Generate ``n`` scenes with their per-pixel labels.

    Args:
        n: number of images.
        size: height and width in pixels (>= 16).
        max_shapes: each image holds 1 to ``max_shapes`` shapes.
        noise: standard deviation of the Gaussian pixel noise (pixels are clipped to [0, 1]).
        seed: the same seed gives the same scenes.

    Returns:
        ``(images, masks)``: images float32 in [0, 1], masks int64 labels indexing
        :data:`SCENE_CLASSES`.

    Shape:
        images (n, 3, size, size); masks (n, size, size).
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    if not isinstance(max_shapes, (int, np.integer)) or max_shapes < 1:
        raise ValueError(f"max_shapes must be a positive integer, got {max_shapes!r}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    images = np.empty((n, 3, size, size), dtype=np.float64)
    masks = np.zeros((n, size, size), dtype=np.int64)
    for i in range(n):
        # background: a linear gradient between two random colours plus a faint stripe texture
        c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        theta = rng.uniform(0, 2 * np.pi)
        t = ((np.cos(theta) * xx + np.sin(theta) * yy) / size + 1) / 2  # in [0, 1] roughly
        img = c0[:, None, None] * (1 - t) + c1[:, None, None] * t
        freq, phase = rng.uniform(0.3, 0.9), rng.uniform(0, 2 * np.pi)
        img = img + 0.08 * np.sin(freq * (xx * np.cos(theta + 1) + yy * np.sin(theta + 1)) + phase)
        for _ in range(int(rng.integers(1, max_shapes + 1))):
            kind = int(rng.integers(1, 4))
            r = rng.uniform(0.12, 0.24) * size
            cy, cx = rng.uniform(r, size - r, 2)
            m = _shape_mask(kind, yy, xx, cy, cx, r, rng.uniform(0, 2 * np.pi))
            colour = rng.uniform(0, 1, 3)
            shade = 1 + 0.15 * ((yy - cy) / size)  # a little shading so shapes are not flat
            img = np.where(m[None], colour[:, None, None] * shade, img)
            masks[i][m] = kind
        images[i] = img + noise * rng.standard_normal(img.shape)
    return np.clip(images, 0, 1).astype(np.float32), masks
