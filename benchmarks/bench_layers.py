"""Time the NumPy conv / pool / norm layers against torch.nn.functional on the CPU.

Both sides run in one process with one thread (``OMP_NUM_THREADS=1`` and
``torch.set_num_threads(1)``), on the same float32 data. Each case is warmed up, then the
NumPy and torch versions are timed alternately ``--repeat`` times and the medians compared;
the peak memory of one call is measured per side in a fresh subprocess (see ``_timing.py``).
The script prints one line per case with both ratios and their targets, and exits non-zero
when a target is missed (unless ``--no-fail``).

Usage::

    python benchmarks/bench_layers.py              # every case of the layer table
    python benchmarks/bench_layers.py --only conv  # the cases whose name contains "conv"
    python benchmarks/bench_layers.py --naive      # also time the naive (loop) convolution
"""

from __future__ import annotations

import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: N812, E402
from _timing import Case, main  # noqa: E402  (Python puts the script's folder on sys.path)

from i2dl_lab.nn import functional as F  # noqa: N812, E402

FWD_TARGET = 1.4  # forward only
FB_TARGET = 1.25  # forward + backward


def _conv_cases(rng, N, C, F_, fwd: bool) -> list[Case]:
    x = rng.standard_normal((N, C, 32, 32)).astype(np.float32)
    w = (rng.standard_normal((F_, C, 3, 3)) * 0.1).astype(np.float32)
    b = (rng.standard_normal(F_) * 0.1).astype(np.float32)
    cp = {"stride": 1, "pad": 1}
    dout = rng.standard_normal((N, F_, 32, 32)).astype(np.float32)
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
    tdout = torch.from_numpy(dout)
    shape = f"conv3x3 pad1 x({N},{C},32,32) w({F_},{C},3,3)"
    cases = []

    if fwd:
        def np_fwd():
            F.conv_forward(x, w, b, cp)

        def t_fwd():
            with torch.no_grad():
                TF.conv2d(tx, tw, tb, stride=1, padding=1)

        cases.append(Case(f"{shape} forward", FWD_TARGET, np_fwd, t_fwd))

    def np_fb():
        out, cache = F.conv_forward(x, w, b, cp)
        return F.conv_backward(dout, cache)

    def t_fb():
        tx.grad = tw.grad = tb.grad = None
        TF.conv2d(tx, tw, tb, stride=1, padding=1).backward(tdout)

    cases.append(Case(f"{shape} fwd+bwd", FB_TARGET, np_fb, t_fb, (tx, tw, tb)))
    return cases


def build_cases() -> list[Case]:
    rng = np.random.default_rng(0)
    cases = _conv_cases(rng, 64, 3, 32, fwd=True) + _conv_cases(rng, 32, 32, 64, fwd=False)

    # Max pool 2x2 stride 2.
    xp = rng.standard_normal((64, 32, 32, 32)).astype(np.float32)
    dpool = rng.standard_normal((64, 32, 16, 16)).astype(np.float32)
    pp = {"pool_height": 2, "pool_width": 2, "stride": 2}
    txp = torch.from_numpy(xp.copy()).requires_grad_()
    tdpool = torch.from_numpy(dpool)

    def pool_np():
        out, cache = F.max_pool_forward(xp, pp)
        return F.max_pool_backward(dpool, cache)

    def pool_t():
        txp.grad = None
        TF.max_pool2d(txp, 2, 2).backward(tdpool)

    cases.append(Case("max_pool 2x2 s2 x(64,32,32,32) fwd+bwd", FB_TARGET, pool_np, pool_t, (txp,)))

    # Spatial batch norm, training mode.
    gamma = (1 + 0.1 * rng.standard_normal(32)).astype(np.float32)
    beta = (0.1 * rng.standard_normal(32)).astype(np.float32)
    dbn = rng.standard_normal(xp.shape).astype(np.float32)
    tg, tbeta, txb = (torch.from_numpy(a.copy()).requires_grad_() for a in (gamma, beta, xp))
    tdbn = torch.from_numpy(dbn)
    rm, rv = torch.zeros(32), torch.ones(32)

    def bn_np():
        out, cache = F.spatial_batchnorm_forward(xp, gamma, beta, {"mode": "train"})
        return F.spatial_batchnorm_backward(dbn, cache)

    def bn_t():
        txb.grad = tg.grad = tbeta.grad = None
        TF.batch_norm(txb, rm, rv, tg, tbeta, training=True).backward(tdbn)

    cases.append(Case("spatial batchnorm x(64,32,32,32) fwd+bwd", FB_TARGET, bn_np, bn_t, (txb, tg, tbeta)))

    # Layer norm over the last axis.
    xl = rng.standard_normal((3200, 256)).astype(np.float32)
    gl = (1 + 0.1 * rng.standard_normal(256)).astype(np.float32)
    bl = (0.1 * rng.standard_normal(256)).astype(np.float32)
    dl = rng.standard_normal(xl.shape).astype(np.float32)
    txl, tgl, tbl = (torch.from_numpy(a.copy()).requires_grad_() for a in (xl, gl, bl))
    tdl = torch.from_numpy(dl)

    def ln_np():
        out, cache = F.layernorm_forward(xl, gl, bl, {})
        return F.layernorm_backward(dl, cache)

    def ln_t():
        txl.grad = tgl.grad = tbl.grad = None
        TF.layer_norm(txl, (256,), tgl, tbl).backward(tdl)

    cases.append(Case("layer norm x(3200,256) fwd+bwd", FB_TARGET, ln_np, ln_t, (txl, tgl, tbl)))
    return cases


def time_naive(n_naive: int = 2) -> None:
    """Time the loop convolution on ``n_naive`` images and scale linearly to the batch of 64.

    The loops do the same work for every image, so the per-image time is a fair estimate; a
    full batch would take about half a minute.
    """
    rng = np.random.default_rng(0)
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


if __name__ == "__main__":
    naive = "--naive" in sys.argv
    argv = [a for a in sys.argv[1:] if a != "--naive"]
    status = main(os.path.abspath(__file__), build_cases, __doc__.splitlines()[0], argv)
    if naive:
        time_naive()
    raise SystemExit(status)
