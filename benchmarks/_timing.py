"""The timing and memory rules every NumPy-vs-torch benchmark here follows.

Time: warm both sides, then alternate them call by call and take the median of each: the
allocator and cache state one side leaves behind can move the other by 1.5x, and
alternating spreads any outside load over both. The scripts set one thread for NumPy's
BLAS and for torch before importing either.

Memory: the peak resident memory one forward+backward call adds, measured for each side in
a fresh subprocess of its own. The subprocess builds the case's inputs, runs the call once
(lazy initialisation, e.g. torch's kernels, is not charged to the call), drops what that
left behind (torch's ``.grad`` buffers), resets the kernel's peak-RSS mark (``echo 5 >
/proc/self/clear_refs``) and reads ``VmRSS``; after one more call, ``VmHWM - VmRSS`` is the
peak the call added, outputs and gradients included. glibc's malloc runs with a fixed mmap
threshold (``MALLOC_MMAP_THRESHOLD_``), so every large buffer of either library is mapped
on allocation and unmapped on release; without it, memory freed by the warm-up call stays
in the heap and hides part of the next call's peak. Linux only.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
MEMORY_TARGET = 1.5


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


@dataclasses.dataclass
class Case:
    """One benchmark line: a NumPy call, the torch call it is compared with, and targets.

    ``torch_leaves`` lists the tensors whose ``.grad`` the torch call sets; the memory
    measurement frees them before its baseline so that both sides allocate their gradients
    inside the measured call.
    """

    name: str
    target: float
    fn_np: Callable[[], object]
    fn_torch: Callable[[], object]
    torch_leaves: Sequence = ()


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key} line")


def peak_added_bytes(case: Case, side: str) -> int:
    """In this process: bytes of peak RSS that one call of ``case``'s ``side`` adds (see module doc)."""
    fn = case.fn_np if side == "numpy" else case.fn_torch
    fn()
    for t in case.torch_leaves:
        t.grad = None
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    base = _status_kib("VmRSS")
    fn()
    return (_status_kib("VmHWM") - base) * 1024


def measure_memory_subprocess(script: str, index: int, side: str) -> int:
    """Run ``script --memory-of INDEX SIDE`` in a fresh interpreter; return the bytes it prints."""
    env = dict(os.environ, **MALLOC_ENV)
    env.update({v: "1" for v in THREAD_VARS})
    res = subprocess.run([sys.executable, script, "--memory-of", str(index), side], env=env,
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"memory measurement of case {index} ({side}) failed:\n{res.stderr}")
    return int(res.stdout.strip().splitlines()[-1])


def header(repeats: int) -> str:
    import numpy as np
    import torch

    threads = ", ".join(f"{v}={os.environ.get(v)}" for v in THREAD_VARS)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (f"numpy {np.__version__}, torch {torch.__version__}; float32; threads: torch {torch.get_num_threads()}, "
            f"{threads}\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; "
            f"time: median of {repeats} alternated calls after warm-up; memory: peak RSS added by one call, "
            f"fresh subprocess per case and side (see benchmarks/_timing.py)")


def _one_line(script: str, index: int, case: Case, repeats: int, memory: bool) -> bool:
    """Time (and measure the memory of) one case, print its line, return whether it met its targets."""
    t_np, t_torch = alternate_medians(case.fn_np, case.fn_torch, repeats)
    ratio = t_np / t_torch
    ok = ratio <= case.target
    line = f"{case.name:<52} {t_np * 1e3:9.2f} {t_torch * 1e3:9.2f} {ratio:6.2f} {'<=' + f'{case.target:g}':>7}"
    if memory:
        m_np = measure_memory_subprocess(script, index, "numpy")
        m_t = measure_memory_subprocess(script, index, "torch")
        m_ratio = m_np / max(m_t, 1)
        ok &= m_ratio <= MEMORY_TARGET
        line += f" {m_np / 2**20:9.1f} {m_t / 2**20:9.1f} {m_ratio:6.2f} {'<=' + f'{MEMORY_TARGET:g}':>7}"
    print(line + ("  ok" if ok else "  MISSED"), flush=True)
    return ok


def main(script: str, build_cases: Callable[[], list[Case]], description: str, argv=None) -> int:
    """Command line shared by the benchmark scripts: one table with every case, ratios and targets."""
    import argparse

    import torch

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per side (median)")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a target is missed")
    parser.add_argument("--memory-of", nargs=2, metavar=("INDEX", "SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cases = build_cases()
    if args.memory_of:  # the subprocess side of measure_memory_subprocess
        print(peak_added_bytes(cases[int(args.memory_of[0])], args.memory_of[1]))
        return 0
    print(header(args.repeat))
    cols = f"{'case':<52} {'numpy ms':>9} {'torch ms':>9} {'ratio':>6} {'target':>7}"
    if not args.no_memory:
        cols += f" {'numpy MB':>9} {'torch MB':>9} {'ratio':>6} {'target':>7}"
    print(cols)
    chosen = [(i, c) for i, c in enumerate(cases) if args.only in c.name]
    met = sum(_one_line(script, i, c, args.repeat, not args.no_memory) for i, c in chosen)
    print(f"{met} of {len(chosen)} cases within target")
    return 0 if (met == len(chosen) or args.no_fail) else 1
