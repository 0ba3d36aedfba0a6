"""Time the NumPy conv / pool / batch-norm layers against torch.nn.functional on the CPU.

Both sides run in one process with one thread (``OMP_NUM_THREADS=1`` and
``torch.set_num_threads(1)``), on the same float32 data. Each case is warmed up, then the
NumPy and torch versions are timed alternately ``--repeat`` times and the medians compared.
The script prints ``numpy_ms``, ``torch_ms`` and their ratio per case with the target ratio,
and exits non-zero when a ratio misses its target (unless ``--no-fail``).

Usage::

    python benchmarks/bench_layers.py            # the four cases of the issue
    python benchmarks/bench_layers.py --naive    # also time the naive (loop) convolution
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: N812, E402

# run from a checkout without installing the package
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _timing import alternate_medians  # noqa: E402  (the script folder is on sys.path)

from i2dl_lab.nn import functional as F  # noqa: N812, E402


def build_cases(rng: np.random.Generator):
    """Return ``[(name, target_ratio, numpy_fn, torch_fn), ...]``."""
    cases = []

    # Convolution 3x3, pad 1, on a CIFAR-sized batch.
    x = rng.standard_normal((64, 3, 32, 32)).astype(np.float32)
    w = (rng.standard_normal((32, 3, 3, 3)) * 0.1).astype(np.float32)
    b = np.zeros(32, np.float32)
    cp = {"stride": 1, "pad": 1}
    dout = rng.standard_normal((64, 32, 32, 32)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.from_numpy(w).requires_grad_()
    tb = torch.from_numpy(b).requires_grad_()
    tdout = torch.from_numpy(dout)

    def conv_np_fwd():
        F.conv_forward(x, w, b, cp)

    def conv_t_fwd():
        with torch.no_grad():
            TF.conv2d(tx, tw, tb, stride=1, padding=1)

    def conv_np_fb():
        out, cache = F.conv_forward(x, w, b, cp)
        F.conv_backward(dout, cache)

    def conv_t_fb():
        tx.grad = tw.grad = tb.grad = None
        TF.conv2d(tx, tw, tb, stride=1, padding=1).backward(tdout)

    cases.append(("conv3x3 pad1 x(64,3,32,32) w(32,3,3,3) forward", 2.0, conv_np_fwd, conv_t_fwd))
    cases.append(("conv3x3 pad1 x(64,3,32,32) w(32,3,3,3) fwd+bwd", 1.5, conv_np_fb, conv_t_fb))

    # Max pool 2x2 stride 2.
    xp = rng.standard_normal((64, 32, 32, 32)).astype(np.float32)
    dpool = rng.standard_normal((64, 32, 16, 16)).astype(np.float32)
    pp = {"pool_height": 2, "pool_width": 2, "stride": 2}
    txp = torch.from_numpy(xp).requires_grad_()
    tdpool = torch.from_numpy(dpool)

    def pool_np():
        out, cache = F.max_pool_forward(xp, pp)
        F.max_pool_backward(dpool, cache)

    def pool_t():
        txp.grad = None
        TF.max_pool2d(txp, 2, 2).backward(tdpool)

    cases.append(("max_pool 2x2 s2 x(64,32,32,32) fwd+bwd", 3.0, pool_np, pool_t))

    # Spatial batch norm, training mode.
    gamma = np.ones(32, np.float32)
    beta = np.zeros(32, np.float32)
    dbn = rng.standard_normal(xp.shape).astype(np.float32)
    tg = torch.from_numpy(gamma).requires_grad_()
    tbeta = torch.from_numpy(beta).requires_grad_()
    txb = torch.from_numpy(xp.copy()).requires_grad_()
    tdbn = torch.from_numpy(dbn)
    rm, rv = torch.zeros(32), torch.ones(32)

    def bn_np():
        out, cache = F.spatial_batchnorm_forward(xp, gamma, beta, {"mode": "train"})
        F.spatial_batchnorm_backward(dbn, cache)

    def bn_t():
        txb.grad = tg.grad = tbeta.grad = None
        TF.batch_norm(txb, rm, rv, tg, tbeta, training=True).backward(tdbn)

    cases.append(("spatial batchnorm x(64,32,32,32) fwd+bwd", 3.0, bn_np, bn_t))
    return cases


def time_naive(rng: np.random.Generator, n_naive: int = 2) -> None:
    """Time the loop convolution on ``n_naive`` images and scale linearly to the batch of 64.

    The loops do the same work for every image, so the per-image time is a fair estimate; a
    full batch would take about half a minute.
    """
    x = rng.standard_normal((64, 3, 32, 32)).astype(np.float32)
    w = rng.standard_normal((32, 3, 3, 3)).astype(np.float32)
    b = np.zeros(32, np.float32)
    cp = {"stride": 1, "pad": 1}
    t0 = time.perf_counter()
    F.conv_forward_naive(x[:n_naive], w, b, cp)
    t_naive = (time.perf_counter() - t0) * (len(x) / n_naive)
    fast = []
    for _ in range(5):
        t0 = time.perf_counter()
        F.conv_forward(x, w, b, cp)
        fast.append(time.perf_counter() - t0)
    t_fast = float(np.median(fast))
    print(f"naive conv forward (64 images, scaled from {n_naive}): {t_naive * 1e3:.0f} ms; "
          f"im2col conv forward: {t_fast * 1e3:.2f} ms; naive is {t_naive / t_fast:.0f}x slower")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed repetitions per side (median)")
    parser.add_argument("--naive", action="store_true", help="also time the naive loop convolution")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a target is missed")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    print(f"numpy {np.__version__}, torch {torch.__version__}, threads: numpy OMP_NUM_THREADS="
          f"{os.environ['OMP_NUM_THREADS']}, torch {torch.get_num_threads()}; float32; median of {args.repeat}")
    rng = np.random.default_rng(0)
    failed = 0
    print(f"{'case':<50} {'numpy ms':>9} {'torch ms':>9} {'ratio':>6} {'target':>7}")
    for name, target, fn_np, fn_torch in build_cases(rng):
        t_np, t_torch = alternate_medians(fn_np, fn_torch, args.repeat)
        ratio = t_np / t_torch
        ok = ratio <= target
        failed += not ok
        print(f"{name:<50} {t_np * 1e3:9.2f} {t_torch * 1e3:9.2f} {ratio:6.2f} {'<=' + str(target):>7} "
              f"{'ok' if ok else 'MISSED'}")
    if args.naive:
        time_naive(rng)
    return 0 if (failed == 0 or args.no_fail) else 1


if __name__ == "__main__":
    raise SystemExit(main())
