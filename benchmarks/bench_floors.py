"""How close the NumPy layers that miss their targets can get to torch: floors, timed beside torch.

    .venv/bin/python benchmarks/bench_floors.py [--repeat 21]

NumPy has no fused kernels: every call reads and writes whole arrays. For the three layer
cases whose targets stay out of reach (the LSTM of ``bench_sequence.py``; the conv
``x(32,32,32,32) w(64,32,3,3)`` forward + backward and the layer norm ``x(3200,256)``
forward + backward of ``bench_layers.py``), this script times in alternation, one thread
each, torch's whole call, the library's whole call, and floors:

* LSTM and conv, **products only**: the matrix products the library runs for the case, with
  the same shapes, operand layouts and order:

  * LSTM (``lstm_forward``/``lstm_backward``): per step four ``(H, K) @ (K, N)`` products
    forward and four ``(K, H) @ (H, N)`` backward (``K = D + 1 + H``), then the weight
    gradient ``(4H, T*N) @ (T*N, K)``;
  * conv (``_conv_forward_rows``/``_conv_backward_flat``): per image three ``(F, WW*C) @
    (WW*C, Ho*W)`` products forward, ``(C*HH*WW + 1, Ho*W) @ (Ho*W, F)`` for the weight
    gradient and three ``(WW*C, F) @ (F, Ho*W)`` for the column gradients.

  Any implementation that keeps these products only adds to this time: its ratio to torch
  says how much of the target is left for the copies and elementwise passes.
* layer norm, **fewest calls**: the fewest NumPy calls we found for the library's result: the
  variance from ``E[x^2] - mean^2`` (one einsum, no centred pass), the shift
  ``b - mean*rstd*g`` written by a rank-2 product, and ``dx = k1*(dout*g) + k2*x + k3`` from
  four matrix-vector products. The uncentred variance loses every digit when a row's mean
  dwarfs its spread, so this is a floor, not a candidate for the library; the script checks
  that it agrees with the library on this data before timing it.
* layer norm, **traffic only**: what any implementation must move and nothing else: one pass
  that reads x and writes the output, one that reads x and dout and writes dx.

Times are medians of wall and CPU time; the load average is printed before and after.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import bench_layers  # noqa: E402  (Python puts the script's folder on sys.path)
import bench_sequence  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def lstm_products(N=32, T=50, D=64, H=128):
    """The matrix products of one LSTM forward + backward, as recurrent.py runs them."""
    K = D + 1 + H
    rng = np.random.default_rng(0)
    W_half = rng.standard_normal((4 * H, K)).astype(np.float32)  # (4H, K): forward weights
    W = np.ascontiguousarray(W_half.T)  # (K, 4H): backward weights
    z = rng.standard_normal((K, T + 1, N)).astype(np.float32)  # [x_t; 1; h_{t-1}], feature-major
    cells = np.empty((T, 4 * H, N), dtype=np.float32)
    da = rng.standard_normal((T, 4 * H, N)).astype(np.float32)
    dz, part = np.empty((T, K, N), dtype=np.float32), np.empty((K, N), dtype=np.float32)
    da_gm = np.ascontiguousarray(da.transpose(1, 0, 2)).reshape(4 * H, T * N)

    def run():
        for t in range(T):
            for k in range(4):
                np.matmul(W_half[k * H : (k + 1) * H], z[:, t], out=cells[t, k * H : (k + 1) * H])
        for t in range(T - 1, -1, -1):
            np.matmul(W[:, :H], da[t, :H], out=dz[t])
            for k in range(1, 4):
                np.matmul(W[:, k * H : (k + 1) * H], da[t, k * H : (k + 1) * H], out=part)
        return da_gm @ z[:, :T].reshape(K, T * N).T

    return run


def conv_products(N=32, C=32, F=64, H=32, W=32, HH=3, WW=3):
    """The matrix products of one same-width 3x3 conv forward + backward, as conv.py runs them."""
    R, K, P, Lx = WW * C, C * HH * WW, H * W, (H + HH - 1) * W
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((R + 1, Lx)).astype(np.float32)  # the image shifted by each kernel column
    wb0 = rng.standard_normal((F, R + 1)).astype(np.float32)
    w_rows = rng.standard_normal((HH, F, R)).astype(np.float32)
    out, part = np.empty((N, F, P), dtype=np.float32), np.empty((F, P), dtype=np.float32)
    cols = rng.standard_normal((K + 1, P)).astype(np.float32)
    dout = rng.standard_normal((N, F, P)).astype(np.float32)
    dwb = np.empty((K + 1, F), dtype=np.float32)
    wT = rng.standard_normal((K, F)).astype(np.float32)
    drow = np.empty((R, P + (HH - 1) * W + WW - 1), dtype=np.float32)  # a kernel row's column gradients

    def run():
        for n in range(N):
            np.matmul(wb0, rows[:, :P], out=out[n])
            for i in range(1, HH):
                np.matmul(w_rows[i], rows[:R, i * W : i * W + P], out=part)
        for n in range(N):
            np.matmul(cols, dout[n].T, out=dwb)
            for i in range(HH):
                np.matmul(wT[i * R : (i + 1) * R], dout[n], out=drow[:, :P])

    return run


CHUNK_BYTES = 1 << 18  # rows per block so that a block's passes stay in the L2 cache, as the library does


def fewest_calls_forward(x, g, b, eps=1e-5):
    """Layer norm of the rows of ``x`` (R, D) in the fewest NumPy calls; returns out, mean, rstd."""
    R, D = x.shape
    out, mean, rstd = np.empty_like(x), np.empty(R, x.dtype), np.empty(R, x.dtype)
    w = np.full(D, 1.0 / D, x.dtype)
    rows = max(1, CHUNK_BYTES // (D * x.itemsize))
    gb = np.stack([g, b])  # (2, D)
    coef = np.ones((rows, 2), x.dtype)  # column 0: -mean*rstd per row; column 1: 1
    for s in range(0, R, rows):
        xr, o = x[s:s + rows], out[s:s + rows]
        n = len(xr)
        m = np.matmul(xr, w, out=mean[s:s + n])
        var = np.einsum("ij,ij->i", xr, xr) / D - m * m  # uncentred: the floor's shortcut
        r = 1.0 / np.sqrt(np.maximum(var, 0) + eps)
        rstd[s:s + n] = r
        coef[:n, 0] = -m * r
        np.matmul(coef[:n], gb, out=o)  # b - mean*rstd*g, (n, D)
        t = np.multiply(xr, g)
        t *= r[:, None]
        o += t
    return out, mean, rstd


def fewest_calls_backward(dout, x, mean, rstd, g):
    """Backward of :func:`fewest_calls_forward`; returns dx, dgamma, dbeta."""
    R, D = x.shape
    dx, dg, db = np.empty_like(x), np.zeros(D, x.dtype), np.zeros(D, x.dtype)
    rows = max(1, CHUNK_BYTES // (D * x.itemsize))
    ones, p_buf = np.ones(rows, x.dtype), np.empty((rows, D), x.dtype)
    for s in range(0, R, rows):
        d, xr, o = dout[s:s + rows], x[s:s + rows], dx[s:s + rows]
        n = len(d)
        m, r = mean[s:s + n], rstd[s:s + n]
        p = np.multiply(d, xr, out=p_buf[:n])  # dout * x
        db += ones[:n] @ d
        dg += r @ p - (m * r) @ d
        a = (d @ g) / D  # mean of dxhat over the row
        c = r * ((p @ g) / D - m * a)  # mean of dxhat * xhat
        np.multiply(d, g, out=o)
        o *= r[:, None]
        np.multiply(xr, (-r * r * c)[:, None], out=p)
        o += p
        o += (r * (r * c * m - a))[:, None]
    return dx, dg, db


def layernorm_floors():
    """The layer-norm case's two floors, checked against the library first."""
    from i2dl_lab.nn import functional as F  # noqa: N812

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3200, 256)).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    g, b = (rng.standard_normal(256).astype(np.float32) for _ in range(2))
    out, cache = F.layernorm_forward(x, g, b, {})
    want = (out, *F.layernorm_backward(dout, cache))
    got_out, mean, rstd = fewest_calls_forward(x, g, b)
    for name, u, v in zip(("out", "dx", "dgamma", "dbeta"), want,
                          (got_out, *fewest_calls_backward(dout, x, mean, rstd, g))):
        if not np.allclose(u, v, rtol=1e-3, atol=1e-3):
            raise SystemExit(f"the fewest-calls layer norm disagrees with the library on {name}")

    def fewest():
        out, mean, rstd = fewest_calls_forward(x, g, b)
        return out, fewest_calls_backward(dout, x, mean, rstd, g)

    def traffic():
        return np.multiply(x, g), np.multiply(dout, x)

    return {"fewest calls": fewest, "traffic only": traffic}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21, help="timed rounds (median)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lstm = next(c for c in bench_sequence.build_cases() if c.name.startswith("LSTM"))
    layer_cases = bench_layers.build_cases()
    conv = next(c for c in layer_cases if "x(32,32,32,32)" in c.name and "fwd+bwd" in c.name)
    norm = next(c for c in layer_cases if c.name.startswith("layer norm"))
    groups = [(lstm.name, {"torch": lstm.fn_torch, "numpy": lstm.fn_np, "products only": lstm_products()}),
              (conv.name, {"torch": conv.fn_torch, "numpy": conv.fn_np, "products only": conv_products()}),
              (norm.name, {"torch": norm.fn_torch, "numpy": norm.fn_np, **layernorm_floors()})]
    print(f"numpy {np.__version__}, torch {torch.__version__}; float32; one thread each; "
          f"load average before {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'case':<52} {'side':<14} {'wall ms':>8} {'ratio':>6} {'cpu ms':>8} {'ratio':>6}")
    for name, fns in groups:
        for fn in fns.values():  # warm-up
            fn()
            fn()
        wall = {k: [] for k in fns}
        cpu = {k: [] for k in fns}
        for _ in range(args.repeat):
            for k, fn in fns.items():  # alternated, so outside load hits every side alike
                c0, t0 = time.thread_time(), time.perf_counter()
                fn()
                wall[k].append(time.perf_counter() - t0)
                cpu[k].append(time.thread_time() - c0)
        w_t, c_t = statistics.median(wall["torch"]), statistics.median(cpu["torch"])
        for k in fns:
            w, c = statistics.median(wall[k]), statistics.median(cpu[k])
            print(f"{name:<52} {k:<14} {w * 1e3:8.2f} {w / w_t:6.2f} {c * 1e3:8.2f} {c / c_t:6.2f}")
    print(f"load average after {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
