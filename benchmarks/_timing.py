"""The timing rule every NumPy-vs-torch benchmark here follows.

Warm both sides, then alternate them call by call and take the median of each: the
allocator and cache state one side leaves behind can move the other by 1.5x, and
alternating spreads any outside load over both. Set the thread count before importing
NumPy and torch (the scripts do, with their ``--threads`` option).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def alternate_medians(fn_np: Callable[[], object], fn_torch: Callable[[], object], repeats: int,
                      warmup: int = 3) -> tuple[float, float]:
    """Median seconds of ``fn_np`` and of ``fn_torch``, timed in alternation after ``warmup`` rounds."""
    for _ in range(warmup):
        fn_np()
        fn_torch()
    t_np, t_torch = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn_np()
        t1 = time.perf_counter()
        fn_torch()
        t2 = time.perf_counter()
        t_np.append(t1 - t0)
        t_torch.append(t2 - t1)
    return statistics.median(t_np), statistics.median(t_torch)
