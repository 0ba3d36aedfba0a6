"""NumPy vs torch speed of the sequence layers (forward + backward), on the CPU.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sequence.py [--repeats 15]

Targets (from the issue): the NumPy LSTM (N=32, T=50, D=64, H=128) and multi-head
attention (N=32, T=64, d_model=64, 4 heads) each take at most 3x the time of
``torch.nn.LSTM`` / ``torch.nn.MultiheadAttention``. Both sides run in float32 on one
thread, are warmed up, and are timed alternately (NumPy, torch, NumPy, ...) so that load
from other processes hits both; the medians are compared. Exit status 1 if a ratio
exceeds the target.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

# run from a checkout without installing the package
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _timing import alternate_medians  # noqa: E402  (the script folder is on sys.path)

from i2dl_lab.nn.functional import attention as _att  # noqa: E402
from i2dl_lab.nn.functional import recurrent as _rec  # noqa: E402

TARGET = 3.0


def bench_lstm(repeats: int):
    N, T, D, H = 32, 50, 64, 128
    rng = np.random.default_rng(0)
    lstm = torch.nn.LSTM(D, H, batch_first=True)
    Wx, Wh, b = (a.astype(np.float32) for a in _rec.lstm_weights_from_torch(
        *(p.detach().numpy() for p in (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0))))
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    h0 = np.zeros((N, H), np.float32)
    dh = rng.standard_normal((N, T, H)).astype(np.float32)
    xt, dht = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dh)

    def run_np():
        h, cache = _rec.lstm_forward(x, h0, Wx, Wh, b)
        _rec.lstm_backward(dh, cache)

    def run_torch():
        lstm.zero_grad(set_to_none=True)
        xt.grad = None
        out, _ = lstm(xt)
        out.backward(dht)

    return alternate_medians(run_np, run_torch, repeats)


def bench_mha(repeats: int):
    N, T, D, heads = 32, 64, 64, 4
    rng = np.random.default_rng(0)
    mha = torch.nn.MultiheadAttention(D, heads, batch_first=True)
    params = {k: v.astype(np.float32) for k, v in _att.mha_params_from_torch(mha).items()}
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    dout = rng.standard_normal((N, T, D)).astype(np.float32)
    xt, doutt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dout)

    def run_np():
        out, cache = _att.multi_head_attention_forward(x, x, x, params, heads)
        _att.multi_head_attention_backward(dout, cache)

    def run_torch():
        mha.zero_grad(set_to_none=True)
        xt.grad = None
        out, _ = mha(xt, xt, xt, need_weights=False)
        out.backward(doutt)

    return alternate_medians(run_np, run_torch, repeats)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"threads: torch={torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
          f"dtype float32; {args.repeats} alternating repeats, medians")
    if hasattr(os, "getloadavg"):
        print(f"load average (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    ok = True
    for name, fn in (("LSTM fwd+bwd N=32 T=50 D=64 H=128", bench_lstm),
                     ("MHA fwd+bwd N=32 T=64 d_model=64 heads=4", bench_mha)):
        t_np, t_torch = fn(args.repeats)
        ratio = t_np / t_torch
        ok &= ratio <= TARGET
        print(f"{name}: numpy {1e3 * t_np:.2f} ms, torch {1e3 * t_torch:.2f} ms, ratio {ratio:.2f} "
              f"(target <= {TARGET:g}) {'OK' if ratio <= TARGET else 'SLOW'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
