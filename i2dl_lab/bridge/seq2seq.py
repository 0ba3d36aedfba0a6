"""Sequence to sequence in torch: an encoder-decoder transformer with cross-attention.

The references of lab 14, and the baseline it is compared with.

* :class:`MultiHeadAttention`: queries from one sequence, keys and values from another (the
  same one for self-attention); returns the attention weights for the maps;
* :func:`make_masks`: padding masks and the decoder's causal mask (True = may attend);
* :class:`EncoderLayer`, :class:`DecoderLayer`: pre-norm transformer layers; the decoder's
  has masked self-attention, cross-attention over the encoder's output and a feed-forward net;
* :class:`Seq2SeqTransformer`: embeddings, learned positions, the two stacks and the output
  projection, built from any layer classes with these signatures (the lab passes the
  student's);
* :func:`seq2seq_loss` (teacher forcing) and :func:`greedy_decode`;
* :class:`GRUSeq2Seq`: the encoder-decoder *without* attention (Sutskever et al., 2014): the
  whole source reaches the decoder through one fixed-size vector.

Every model here has ``encode(src, enc_mask) -> memory`` and
``decode(tgt_in, memory, self_mask, cross_mask) -> logits``; calling it runs both.

Example:
    >>> import torch
    >>> m = Seq2SeqTransformer(10, 7, d_model=16, num_heads=2, num_layers=1, dim_ff=32)
    >>> src, tgt_in = torch.tensor([[3, 4, 2, 0]]), torch.tensor([[1, 5]])
    >>> m(src, tgt_in, *make_masks(src, tgt_in)).shape
    torch.Size([1, 2, 7])
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the usual torch alias)

__all__ = ["MultiHeadAttention", "make_masks", "EncoderLayer", "DecoderLayer", "Seq2SeqTransformer",
           "seq2seq_loss", "greedy_decode", "GRUSeq2Seq"]


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention with separate query and key/value inputs.

    ``head_i = softmax(Q_i K_i^T / sqrt(d_head) + mask) V_i`` with ``Q = q(x_q)``,
    ``K = k(x_kv)``, ``V = v(x_kv)`` split into ``num_heads`` slices of ``d_head`` features;
    the heads are concatenated and projected by ``o``.

    Args:
        d_model: feature size D (divisible by ``num_heads``).
        num_heads: h.

    Shape:
        x_q (N, T_q, D), x_kv (N, T_k, D), mask (T_q, T_k) or (N, T_q, T_k) boolean with
        True = may attend -> out (N, T_q, D), weights (N, h, T_q, T_k).
    """

    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.q, self.k, self.v, self.o = (nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, x_q: torch.Tensor, x_kv: torch.Tensor, mask: torch.Tensor | None = None):
        N, Tq, D = x_q.shape
        Tk, h = x_kv.shape[1], self.num_heads
        q = self.q(x_q).view(N, Tq, h, D // h).transpose(1, 2)   # (N, h, Tq, dh)
        k = self.k(x_kv).view(N, Tk, h, D // h).transpose(1, 2)  # (N, h, Tk, dh)
        v = self.v(x_kv).view(N, Tk, h, D // h).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(D // h)     # (N, h, Tq, Tk)
        if mask is not None:
            m = mask.unsqueeze(1) if mask.ndim == 3 else mask    # broadcast over the heads
            scores = scores.masked_fill(~m, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(N, Tq, D)    # heads side by side again
        return self.o(out), weights


def make_masks(src: torch.Tensor, tgt_in: torch.Tensor, pad_id: int = 0):
    """The three attention masks of an encoder-decoder transformer (True = may attend).

    Args:
        src: (N, S) source ids.  tgt_in: (N, T) decoder input ids.  pad_id: the padding id.

    Returns:
        ``(enc_mask, self_mask, cross_mask)``: (N, S, S) no source query attends to padding;
        (N, T, T) decoder position t attends to non-padding positions <= t; (N, T, S) decoder
        positions attend to non-padding source positions.
    """
    N, S = src.shape
    T = tgt_in.shape[1]
    src_keys = (src != pad_id).unsqueeze(1)                                   # (N, 1, S)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=tgt_in.device))
    self_mask = causal.unsqueeze(0) & (tgt_in != pad_id).unsqueeze(1)       # (N, T, T)
    return src_keys.expand(N, S, S), self_mask, src_keys.expand(N, T, S)


def _feed_forward(d_model: int, dim_ff: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_model, dim_ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim_ff, d_model))


class EncoderLayer(nn.Module):
    """Pre-norm encoder layer: ``x + attn(norm1(x))``, then ``x + ff(norm2(x))``.

    Args:
        d_model, num_heads: attention sizes.  dim_ff: hidden width of the feed-forward net
        (``ff = Linear, ReLU, Dropout, Linear``).  dropout: on each sublayer's output.

    Shape:
        x (N, S, D), mask (N, S, S) -> (N, S, D).
    """

    def __init__(self, d_model: int, num_heads: int, dim_ff: int, dropout: float = 0.1):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, num_heads)
        self.ff = _feed_forward(d_model, dim_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.drop(self.attn(h, h, mask)[0])
        return x + self.drop(self.ff(self.norm2(x)))


class DecoderLayer(nn.Module):
    """Pre-norm decoder layer: masked self-attention, cross-attention, feed-forward net.

    ``x + self_attn(norm1(x))`` (causal), then ``x + cross_attn(norm2(x), memory)`` (queries
    from the decoder, keys and values from the encoder's output), then ``x + ff(norm3(x))``.

    Shape:
        x (N, T, D), memory (N, S, D), self_mask (N, T, T), cross_mask (N, T, S) ->
        ``(out (N, T, D), cross_weights (N, h, T, S))``.
    """

    def __init__(self, d_model: int, num_heads: int, dim_ff: int, dropout: float = 0.1):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.cross_attn = MultiHeadAttention(d_model, num_heads)
        self.ff = _feed_forward(d_model, dim_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        h = self.norm1(x)
        x = x + self.drop(self.self_attn(h, h, self_mask)[0])
        a, weights = self.cross_attn(self.norm2(x), memory, cross_mask)
        x = x + self.drop(a)
        return x + self.drop(self.ff(self.norm3(x))), weights


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder transformer over token ids.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes.
        d_model, num_heads, num_layers, dim_ff, dropout: sizes of every layer.
        max_len: longest sequence (learned position embeddings).
        encoder_layer, decoder_layer: classes called as ``cls(d_model, num_heads, dim_ff, dropout)``
            with the forward signatures of :class:`EncoderLayer` and :class:`DecoderLayer`.

    After every ``decode``, ``cross_weights`` holds each decoder layer's (N, h, T, S) weights.

    Shape:
        src (N, S), tgt_in (N, T) ids and the three masks of :func:`make_masks` -> (N, T, tgt_vocab).
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int = 64, num_heads: int = 4, num_layers: int = 2,
                 dim_ff: int = 128, dropout: float = 0.1, max_len: int = 64, encoder_layer=EncoderLayer,
                 decoder_layer=DecoderLayer):
        super().__init__()
        self.max_len = max_len
        self.src_emb, self.tgt_emb = nn.Embedding(src_vocab, d_model), nn.Embedding(tgt_vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.encoder = nn.ModuleList(encoder_layer(d_model, num_heads, dim_ff, dropout) for _ in range(num_layers))
        self.decoder = nn.ModuleList(decoder_layer(d_model, num_heads, dim_ff, dropout) for _ in range(num_layers))
        self.enc_norm, self.dec_norm = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, tgt_vocab)
        self.cross_weights: list[torch.Tensor] = []

    def _embed(self, emb: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] > self.max_len:
            raise ValueError(f"sequence of length {ids.shape[1]} is longer than max_len={self.max_len}")
        return emb(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))

    def encode(self, src: torch.Tensor, enc_mask: torch.Tensor) -> torch.Tensor:
        x = self._embed(self.src_emb, src)
        for layer in self.encoder:
            x = layer(x, enc_mask)
        return self.enc_norm(x)

    def decode(self, tgt_in, memory, self_mask, cross_mask) -> torch.Tensor:
        x = self._embed(self.tgt_emb, tgt_in)
        self.cross_weights = []
        for layer in self.decoder:
            x, w = layer(x, memory, self_mask, cross_mask)
            self.cross_weights.append(w.detach())
        return self.out(self.dec_norm(x))

    def forward(self, src, tgt_in, enc_mask, self_mask, cross_mask) -> torch.Tensor:
        return self.decode(tgt_in, self.encode(src, enc_mask), self_mask, cross_mask)


def seq2seq_loss(model: nn.Module, src: torch.Tensor, tgt: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Teacher forcing: the decoder reads ``tgt[:, :-1]`` and is scored on predicting ``tgt[:, 1:]``.

    Args:
        model: called as ``model(src, tgt_in, *make_masks(src, tgt_in, pad_id))`` -> (N, T, V) logits.
        src: (N, S) ids.  tgt: (N, T + 1) ids starting with ``bos``.  pad_id: ignored in the loss.

    Returns:
        scalar tensor: cross-entropy averaged over the non-padding target tokens.
    """
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
    logits = model(src, tgt_in, *make_masks(src, tgt_in, pad_id))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad_id)


@torch.no_grad()
def greedy_decode(model: nn.Module, src: torch.Tensor, max_len: int, pad_id: int = 0, bos_id: int = 1,
                  eos_id: int = 2) -> torch.Tensor:
    """Encode once, then append the most likely next token until ``eos`` or ``max_len`` tokens.

    Returns:
        (N, max_len) ids after ``bos``; a row that emitted ``eos`` is ``pad`` after it.
    """
    N = src.shape[0]
    ys = torch.full((N, 1), bos_id, dtype=torch.long, device=src.device)
    memory = model.encode(src, make_masks(src, ys, pad_id)[0])
    done = torch.zeros(N, dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        _, self_mask, cross_mask = make_masks(src, ys, pad_id)
        nxt = model.decode(ys, memory, self_mask, cross_mask)[:, -1].argmax(-1)  # (N,)
        nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
        ys = torch.cat([ys, nxt[:, None]], dim=1)
        done |= nxt == eos_id
        if bool(done.all()):
            break
    out = torch.full((N, max_len), pad_id, dtype=torch.long, device=src.device)
    out[:, :ys.shape[1] - 1] = ys[:, 1:]
    return out


class GRUSeq2Seq(nn.Module):
    """Encoder-decoder GRUs without attention: the decoder starts from the encoder's last state.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes.  embed: embedding size.  hidden: GRU state size.

    ``encode`` returns the state after the last non-padding source token as a (N, 1, hidden)
    memory; the masks only tell it where the padding starts.
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, embed: int = 32, hidden: int = 128):
        super().__init__()
        self.src_emb, self.tgt_emb = nn.Embedding(src_vocab, embed), nn.Embedding(tgt_vocab, embed)
        self.enc = nn.GRU(embed, hidden, batch_first=True)
        self.dec = nn.GRU(embed, hidden, batch_first=True)
        self.out = nn.Linear(hidden, tgt_vocab)

    def encode(self, src, enc_mask):
        states, _ = self.enc(self.src_emb(src))                 # (N, S, H)
        last = enc_mask[:, 0, :].sum(1).clamp(min=1) - 1         # index of the last real token
        return states[torch.arange(src.shape[0]), last].unsqueeze(1)

    def decode(self, tgt_in, memory, self_mask=None, cross_mask=None):
        out, _ = self.dec(self.tgt_emb(tgt_in), memory.transpose(0, 1).contiguous())
        return self.out(out)

    def forward(self, src, tgt_in, enc_mask, self_mask, cross_mask):
        return self.decode(tgt_in, self.encode(src, enc_mask))
