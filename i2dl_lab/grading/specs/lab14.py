"""Graded exercises of lab 14 (sequence to sequence with cross-attention).

References are :mod:`i2dl_lab.bridge.seq2seq`. Attention and the layers load the reference's
weights by name and are compared in eval mode (outputs and attention weights). The loss and
the decoder loop run on a small model built here with the ``encode``/``decode`` interface of
the lab's transformer, so they are graded on their own, whatever the student's layers do.
"""

from __future__ import annotations

import numpy as np

from ...bridge import seq2seq as s2s
from ..spec import Exercise, allclose, plain


def _t(a, dtype=None):
    import torch

    a = np.asarray(a)
    if dtype is None:
        dtype = torch.float32 if a.dtype.kind == "f" else (torch.bool if a.dtype.kind == "b" else torch.int64)
    return torch.as_tensor(np.array(a, copy=True), dtype=dtype)


def _random_state(module, rng):
    out = {}
    for k, v in module.state_dict().items():
        out[k] = (1 + 0.2 * rng.standard_normal(tuple(v.shape))) if "norm" in k and k.endswith("weight") \
            else 0.4 * rng.standard_normal(tuple(v.shape))
    return out


def _run(make, inputs, state):
    import torch

    net = make()
    net.load_state_dict({k: _t(v) for k, v in state.items()})
    net.eval()
    with torch.no_grad():
        return plain(net(*[None if a is None else _t(a) for a in inputs]))


# ---------------------------------------------------------------- multi-head attention
def drive_mha(obj, d_model, num_heads, x_q, x_kv, mask, state):
    return _run(lambda: obj(d_model, num_heads), (x_q, x_kv, mask), state)


def mha_cases(rng):
    cases = []
    for N, Tq, Tk, D, h, masked in [(2, 3, 5, 8, 2, False), (1, 4, 4, 6, 3, True), (2, 2, 6, 8, 4, True)]:
        mask = None
        if masked:
            mask = rng.random((N, Tq, Tk)) < 0.7
            mask[:, :, 0] = True  # every query may attend somewhere
        state = _random_state(s2s.MultiHeadAttention(D, h), rng)
        cases.append((D, h, rng.standard_normal((N, Tq, D)), rng.standard_normal((N, Tk, D)), mask, state))
    return cases


# ---------------------------------------------------------------- masks
def drive_masks(obj, src, tgt_in, pad_id):
    masks = obj(_t(src), _t(tgt_in), pad_id)
    out = []
    for m in masks:
        m = np.asarray(m.detach().cpu().numpy() if hasattr(m, "detach") else m)
        if m.dtype != np.bool_:
            raise TypeError(f"masks must be boolean (True = may attend), got dtype {m.dtype}")
        out.append(m)
    return tuple(out)


def mask_cases(rng):
    cases = []
    for N, S, T in [(2, 5, 4), (3, 3, 6), (1, 7, 2)]:
        src = rng.integers(3, 9, (N, S))
        tgt = rng.integers(3, 9, (N, T))
        tgt[:, 0] = 1
        for i in range(N):  # pad the tail of some rows
            src[i, S - int(rng.integers(0, S - 1)):] = 0
            tgt[i, T - int(rng.integers(0, T - 1)):] = 0
        cases.append((src, tgt, 0))
    return cases


# ---------------------------------------------------------------- layers
def drive_encoder_layer(obj, d_model, num_heads, dim_ff, x, mask, state):
    return _run(lambda: obj(d_model, num_heads, dim_ff, 0.1), (x, mask), state)


def encoder_cases(rng):
    cases = []
    for N, S, D, h, F in [(2, 4, 8, 2, 16), (1, 5, 6, 3, 8)]:
        mask = np.ones((N, S, S), dtype=bool)
        mask[0, :, -1] = False
        cases.append((D, h, F, rng.standard_normal((N, S, D)), mask,
                      _random_state(s2s.EncoderLayer(D, h, F), rng)))
    return cases


def drive_decoder_layer(obj, d_model, num_heads, dim_ff, x, memory, self_mask, cross_mask, state):
    return _run(lambda: obj(d_model, num_heads, dim_ff, 0.1), (x, memory, self_mask, cross_mask), state)


def decoder_cases(rng):
    cases = []
    for N, T, S, D, h, F in [(2, 3, 5, 8, 2, 16), (1, 4, 3, 6, 3, 8)]:
        self_mask = np.broadcast_to(np.tril(np.ones((T, T), dtype=bool)), (N, T, T)).copy()
        cross_mask = np.ones((N, T, S), dtype=bool)
        cross_mask[0, :, -1] = False
        cases.append((D, h, F, rng.standard_normal((N, T, D)), rng.standard_normal((N, S, D)), self_mask, cross_mask,
                      _random_state(s2s.DecoderLayer(D, h, F), rng)))
    return cases


# ---------------------------------------------------------------- loss and decoding on a small model
def _tiny_model(src_vocab, tgt_vocab, dim, seed):
    """A small encoder-decoder with the lab's interface: the decoder mixes each prefix with the
    masked mean of the memory, so its output depends on the masks, the prefix and the source."""
    import torch
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.src_emb, self.tgt_emb = nn.Embedding(src_vocab, dim), nn.Embedding(tgt_vocab, dim)
            self.out = nn.Linear(2 * dim, tgt_vocab)

        def encode(self, src, enc_mask):
            return torch.tanh(self.src_emb(src)) * enc_mask[:, :1, :].transpose(1, 2)   # zero at padding

        def decode(self, tgt_in, memory, self_mask, cross_mask):
            x = self.tgt_emb(tgt_in)                                                    # (N, T, d)
            w = self_mask.to(x.dtype)
            prefix = (w @ x) / w.sum(-1, keepdim=True).clamp(min=1)                     # masked causal mean
            c = cross_mask.to(x.dtype)
            context = (c @ memory) / c.sum(-1, keepdim=True).clamp(min=1)
            return self.out(torch.cat([prefix, context], -1))

        def forward(self, src, tgt_in, enc_mask, self_mask, cross_mask):
            return self.decode(tgt_in, self.encode(src, enc_mask), self_mask, cross_mask)

    torch.manual_seed(seed)
    return Tiny().double()


def drive_loss(obj, vocab, src, tgt, pad_id, seed):
    import torch

    model = _tiny_model(vocab, vocab, 6, seed)
    loss = obj(model, _t(src), _t(tgt), pad_id)
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise TypeError(f"the loss must be a scalar tensor, got {type(loss).__name__}")
    grads = torch.autograd.grad(loss, [model.out.weight, model.src_emb.weight])
    return loss.item(), grads[0].numpy(), grads[1].numpy()


def loss_cases(rng):
    cases = []
    for N, S, T, V in [(3, 5, 4, 9), (2, 6, 6, 7), (4, 3, 3, 12)]:
        src = rng.integers(3, V, (N, S))
        tgt = rng.integers(3, V, (N, T))
        tgt[:, 0] = 1
        src[0, -2:] = 0
        tgt[0, -2:] = 0  # a shorter target: its padding must not count
        cases.append((V, src, tgt, 0, int(rng.integers(0, 1000))))
    return cases


def drive_decode(obj, vocab, src, max_len, seed, bias):
    import torch

    model = _tiny_model(vocab, vocab, 6, seed)
    with torch.no_grad():
        model.out.bias += torch.as_tensor(bias)  # makes eos likely for some rows, so rows stop at different steps
    model.eval()
    out = obj(model, _t(src), max_len, 0, 1, 2)
    out = np.asarray(out.detach().cpu().numpy() if hasattr(out, "detach") else out)
    if out.shape != (len(src), max_len):
        raise ValueError(f"expected ({len(src)}, {max_len}) token ids, got shape {out.shape}")
    return out.astype(np.int64)


def _stop_steps(out) -> set:
    """Where each row emitted eos (its length if never)."""
    return {int(np.argmax(r == 2)) if (r == 2).any() else len(r) for r in out}


def decode_cases(rng):
    cases = []
    for N, S, V, L in [(4, 5, 9, 6), (3, 4, 7, 5), (5, 6, 12, 8)]:
        src = rng.integers(3, V, (N, S))
        src[0, -1] = 0
        seed = int(rng.integers(0, 1000))
        bias = np.zeros(V)
        bias[:2] = -5.0  # pad and bos are never good next tokens
        # the smallest eos bias that makes rows stop at different steps, so the loop's bookkeeping
        # after a row's eos is exercised
        for b in np.linspace(-0.5, 2.0, 26):
            bias[2] = b
            steps = _stop_steps(drive_decode(s2s.greedy_decode, V, src, L, seed, bias))
            if len(steps) >= 2 and max(steps) > 1:
                break
        cases.append((V, src, L, seed, bias.copy()))
    return cases


def _exact():
    return allclose(rtol=0, atol=0)


EXERCISES = [
    Exercise("multi_head_attention", "MultiHeadAttention", 4, s2s.MultiHeadAttention, mha_cases, driver=drive_mha,
             compare=allclose(rtol=1e-4, atol=1e-5), title="multi-head attention (self and cross)"),
    Exercise("make_masks", "make_masks", 2, s2s.make_masks, mask_cases, driver=drive_masks, compare=_exact(),
             title="padding and causal masks"),
    Exercise("encoder_layer", "EncoderLayer", 2, s2s.EncoderLayer, encoder_cases, driver=drive_encoder_layer,
             compare=allclose(rtol=1e-4, atol=1e-5), title="the encoder layer"),
    Exercise("decoder_layer", "DecoderLayer", 3, s2s.DecoderLayer, decoder_cases, driver=drive_decoder_layer,
             compare=allclose(rtol=1e-4, atol=1e-5), title="the decoder layer with cross-attention"),
    Exercise("seq2seq_loss", "seq2seq_loss", 3, s2s.seq2seq_loss, loss_cases, driver=drive_loss,
             compare=allclose(rtol=1e-7, atol=1e-10), title="the teacher-forcing loss"),
    Exercise("greedy_decode", "greedy_decode", 3, s2s.greedy_decode, decode_cases, driver=drive_decode,
             compare=_exact(), title="greedy decoding"),
]
