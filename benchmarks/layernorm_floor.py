"""How close can a NumPy layer norm get to torch's fused kernel? Floors, timed against torch.

Torch computes a layer norm's forward and backward each in one fused pass per row. NumPy
has no fusion: every ufunc call reads and writes whole arrays, and binary ufuncs with a
per-row *and* a per-column factor cost one call each. This script times, in one process with
one thread and alternated with torch (``benchmarks/_timing.py``), on the shape of the issue
table, x (3200, 256) float32:

- **library**: ``F.layernorm_forward`` + ``F.layernorm_backward`` (exact, centred).
- **fewest calls**: the fewest NumPy calls we found for the same result: the variance from
  ``E[x^2] - mean^2`` (one einsum, no centred pass), the shift ``b - mean*rstd*g`` written by a
  rank-2 GEMM, and ``dx = k1*(dout*g) + k2*x + k3`` from four matrix-vector products. The
  uncentred variance loses every digit when a row's mean dwarfs its spread, so this is a floor,
  not a candidate for the library.
- **traffic only**: what any implementation must move: one pass that reads x and writes the
  output, one that reads x and dout and writes dx (no arithmetic that layer norm needs).

Run: ``python benchmarks/layernorm_floor.py [--repeat 31]``. The issue's target is 1.25x.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: N812, E402
from _timing import alternate_medians, header  # noqa: E402  (Python puts the script's folder on sys.path)

from i2dl_lab.nn import functional as F  # noqa: N812, E402

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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=31, help="timed calls per side (median)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3200, 256)).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    g, b = (rng.standard_normal(256).astype(np.float32) for _ in range(2))
    tx, tg, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, g, b))
    tdout = torch.from_numpy(dout)

    def torch_call():
        tx.grad = tg.grad = tb.grad = None
        TF.layer_norm(tx, (256,), tg, tb).backward(tdout)

    def library():
        out, cache = F.layernorm_forward(x, g, b, {})
        return out, F.layernorm_backward(dout, cache)

    def fewest():
        out, mean, rstd = fewest_calls_forward(x, g, b)
        return out, fewest_calls_backward(dout, x, mean, rstd, g)

    def traffic():
        out = np.multiply(x, g)
        return out, np.multiply(dout, x)

    # the floor must compute what the library computes, or its time means nothing
    (o1, (dx1, dg1, db1)), (o2, (dx2, dg2, db2)) = library(), fewest()
    for name, u, v in (("out", o1, o2), ("dx", dx1, dx2), ("dgamma", dg1, dg2), ("dbeta", db1, db2)):
        if not np.allclose(u, v, rtol=1e-3, atol=1e-3):
            raise SystemExit(f"the fewest-calls variant disagrees with the library on {name}")
    print(header(args.repeat).split("; memory:")[0])  # no memory measured here
    print(f"{'layer norm x(3200,256) fwd+bwd':34s} {'numpy ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    for name, fn in (("library", library), ("fewest calls (unstable)", fewest), ("traffic only", traffic)):
        t_np, t_torch = alternate_medians(fn, torch_call, args.repeat)
        print(f"{name:34s} {t_np * 1e3:9.2f} {t_torch * 1e3:9.2f} {t_np / t_torch:6.2f}")


if __name__ == "__main__":
    main()
