"""Shared test configuration.

Torch runs on one thread inside the test process: the test machines have two cores, and
results must not depend on the thread count. Lab kernels started by nbval keep the default.
"""

import os

os.environ.setdefault("I2DL_PLAIN_PROGRESS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a hard dependency; keep collection working
    torch = None


@pytest.fixture
def rng():
    """A fresh, seeded generator per test so tests do not depend on their order."""
    return np.random.default_rng(0)
