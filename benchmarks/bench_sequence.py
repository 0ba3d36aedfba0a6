"""NumPy vs torch speed and memory of the sequence layers (forward + backward), on the CPU.

    .venv/bin/python benchmarks/bench_sequence.py [--repeat 15] [--only LSTM] [--no-memory]

Cases: LSTM and GRU (N=32, T=50, D=64, H=128) against ``torch.nn.LSTM`` / ``torch.nn.GRU``;
a word embedding (V=1000, D=128) looked up by 64x128 token ids with many repeats against
``torch.nn.functional.embedding``; multi-head self-attention (N=32, T=64, d_model=64, 4
heads) against ``torch.nn.MultiheadAttention``, without masks and with a causal mask plus
a key-padding mask. Every case runs forward + backward; the target is at most 1.25x torch's
time and 1.5x its peak memory. Both sides run in float32 on one thread, are warmed up and
are timed alternately (NumPy, torch, NumPy, ...) so that load from other processes hits
both; the medians are compared. Exit status 1 if a target is missed (unless ``--no-fail``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: N812, E402
from _timing import Case, main  # noqa: E402  (Python puts the script's folder on sys.path)

from i2dl_lab.nn.functional import attention as _att  # noqa: E402
from i2dl_lab.nn.functional import recurrent as _rec  # noqa: E402

TARGET = 1.25


def _recurrent_case(kind: str) -> Case:
    N, T, D, H = 32, 50, 64, 128
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    layer = (torch.nn.LSTM if kind == "LSTM" else torch.nn.GRU)(D, H, batch_first=True)
    tparams = [p.detach().numpy() for p in (layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0,
                                            layer.bias_hh_l0)]
    to_np = _rec.lstm_weights_from_torch if kind == "LSTM" else _rec.gru_weights_from_torch
    weights = [a.astype(np.float32) for a in to_np(*tparams)]
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    h0 = np.zeros((N, H), np.float32)
    dh = rng.standard_normal((N, T, H)).astype(np.float32)
    xt, dht = torch.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(dh)
    fwd, bwd = ((_rec.lstm_forward, _rec.lstm_backward) if kind == "LSTM"
                else (_rec.gru_forward, _rec.gru_backward))

    def run_np():
        h, cache = fwd(x, h0, *weights)
        return bwd(dh, cache)

    def run_torch():
        layer.zero_grad(set_to_none=True)
        xt.grad = None
        out, _ = layer(xt)
        out.backward(dht)

    return Case(f"{kind} fwd+bwd N=32 T=50 D=64 H=128", TARGET, run_np, run_torch,
                (xt, *layer.parameters()))


def _embedding_case() -> Case:
    N, T, V, D = 64, 128, 1000, 128
    rng = np.random.default_rng(0)
    ids = rng.integers(0, V, size=(N, T))  # 8192 lookups in 1000 rows: every row repeats
    W = (0.1 * rng.standard_normal((V, D))).astype(np.float32)
    dout = rng.standard_normal((N, T, D)).astype(np.float32)
    tW, tids, tdout = torch.from_numpy(W.copy()).requires_grad_(), torch.from_numpy(ids), torch.from_numpy(dout)

    def run_np():
        out, cache = _rec.word_embedding_forward(ids, W)
        return _rec.word_embedding_backward(dout, cache)

    def run_torch():
        tW.grad = None
        TF.embedding(tids, tW).backward(tdout)

    return Case("word embedding fwd+bwd ids(64,128) V=1000 D=128", TARGET, run_np, run_torch, (tW,))


def _mha_case(masked: bool) -> Case:
    N, T, D, heads = 32, 64, 64, 4
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(D, heads, batch_first=True)
    params = {k: v.astype(np.float32) for k, v in _att.mha_params_from_torch(mha).items()}
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    dout = rng.standard_normal((N, T, D)).astype(np.float32)
    xt, doutt = torch.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(dout)
    masks, tmasks = {}, {}
    if masked:
        lengths = rng.integers(T // 2, T + 1, size=N)  # padded at the end; key 0 is always kept
        keep_keys = np.arange(T)[None, :] < lengths[:, None]  # (N, T), True = attend
        causal = _att.causal_mask(T)
        masks = {"attn_mask": causal, "key_padding_mask": keep_keys}
        # torch's MultiheadAttention masks mean the opposite: True = ignore
        tmasks = {"attn_mask": torch.from_numpy(~causal), "key_padding_mask": torch.from_numpy(~keep_keys)}

    def run_np():
        out, cache = _att.multi_head_attention_forward(x, x, x, params, heads, **masks)
        return _att.multi_head_attention_backward(dout, cache)

    def run_torch():
        mha.zero_grad(set_to_none=True)
        xt.grad = None
        out, _ = mha(xt, xt, xt, need_weights=False, **tmasks)
        out.backward(doutt)

    name = "MHA fwd+bwd N=32 T=64 d=64 h=4" + (" causal+padding" if masked else "")
    return Case(name, TARGET, run_np, run_torch, (xt, *mha.parameters()))


def build_cases() -> list[Case]:
    return [_recurrent_case("LSTM"), _recurrent_case("GRU"), _embedding_case(), _mha_case(False),
            _mha_case(True)]


if __name__ == "__main__":
    raise SystemExit(main(os.path.abspath(__file__), build_cases, __doc__.splitlines()[0]))
