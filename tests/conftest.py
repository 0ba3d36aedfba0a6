"""Shared test configuration.

One thread for NumPy's BLAS and for torch: the test machines have two cores and several
test processes may share them; results must not depend on the thread count.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
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
