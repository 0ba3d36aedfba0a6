"""Reference NumPy networks for scikit-learn's digits, shared by tests, benchmarks and labs.

The foundation and CNN issues promise accuracies for these two exact architectures
(>= 97% for the MLP, >= 98% for the CNN); keeping them here means the test that checks
the promise, the benchmark that times it and the lab that teaches it train the same model.
"""

from __future__ import annotations

import numpy as np

from .nn.conv import Conv2d, Flatten, MaxPool2d
from .nn.layers import Linear, ReLU, Sequential

__all__ = ["digits_mlp", "digits_cnn"]


def digits_mlp(hidden: int = 256, seed: int = 0, dtype=np.float64) -> Sequential:
    """Two-layer perceptron for 8x8 digits flattened to 64 features.

    Shape:
        input (N, 64) -> output scores (N, 10).

    Example:
        >>> digits_mlp(hidden=32).num_parameters()
        2410
    """
    return Sequential(
        Linear(64, hidden, seed=seed, dtype=dtype), ReLU(), Linear(hidden, 10, seed=seed + 1, dtype=dtype)
    )


def digits_cnn(size: int = 16, seed: int = 0, dtype=np.float32) -> Sequential:
    """conv3x3(16)-relu-pool2 -> conv3x3(32)-relu-pool2 -> affine(10).

    Args:
        size: image side (8 or 16); must be divisible by 4 for the two pooling stages.

    Shape:
        input (N, 1, size, size) -> output scores (N, 10).
    """
    if size % 4:
        raise ValueError(f"size must be divisible by 4 (two 2x2 poolings), got {size}")
    return Sequential(
        Conv2d(1, 16, 3, padding=1, seed=seed, dtype=dtype),
        ReLU(),
        MaxPool2d(2),
        Conv2d(16, 32, 3, padding=1, seed=seed + 1, dtype=dtype),
        ReLU(),
        MaxPool2d(2),
        Flatten(),  # (N, 32, size/4, size/4) -> (N, 32 * (size/4)^2)
        Linear(32 * (size // 4) ** 2, 10, seed=seed + 2, dtype=dtype),
    )
