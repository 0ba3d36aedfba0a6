"""A character-level language model in NumPy, trained with truncated backpropagation
through time.

The model reads characters one at a time and predicts the next one::

    ids (N, T) -> Embedding -> LSTM / GRU / RNN -> TemporalAffine -> scores (N, T, V)

Training (:func:`train_charlm`) cuts the text into N parallel streams and walks along them
in windows of T characters. The hidden state is carried from one window to the next (the
model keeps reading the same stream) but gradients stop at the window boundary: that is
*truncated* BPTT. Gradients are clipped (global norm, or per value) before each Adam or
Adagrad step.

The loss is reported in nats per character. A model that ignored the context could do no
better than the entropy of the character frequencies, :func:`unigram_entropy`; anything
clearly below it has learned structure (spelling, words, punctuation).

Example (a few seconds)::

    from i2dl_lab.data.corpus import CharCorpus
    corpus = CharCorpus(size=100_000)
    model = CharLM(corpus.vocab_size, hidden_size=128, seed=0)
    history = train_charlm(model, corpus.ids, steps=300)
    print(history["loss"][-1], unigram_entropy(corpus.ids))
    print(sample(model, corpus, prime="Return the ", length=200, temperature=0.7))
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..loop import History, check_finite
from ..nn import init as _init
from ..nn.functional.recurrent import temporal_softmax_loss
from ..nn.module import Module
from ..nn.optim import Adagrad, Adam, clip_grad_norm, clip_grad_value
from ..nn.recurrent import GRU, LSTM, RNN, Embedding, TemporalAffine
from ..progress import progress as _progress

__all__ = ["CharLM", "unigram_entropy", "train_charlm", "evaluate_charlm", "sample", "batch_streams"]

_CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


def unigram_entropy(ids, vocab_size: int | None = None, base: float = math.e) -> float:
    """Entropy of the character frequencies, ``-sum_c p(c) log p(c)``.

    It is the loss per character of the best model that ignores context (it predicts the
    frequencies every time), so it is the bar a language model must clear.

    Args:
        ids: integer character ids, any shape.
        vocab_size: V (default ``max(ids) + 1``).
        base: of the logarithm: e for nats (the unit of the training loss), 2 for bits.

    Example:
        >>> unigram_entropy(np.array([0, 1, 0, 1]), base=2)
        1.0
    """
    ids = np.asarray(ids).reshape(-1)
    if ids.size == 0:
        raise ValueError("unigram_entropy needs at least one id")
    if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0:
        raise ValueError(f"ids must be non-negative integers, got dtype {ids.dtype}")
    p = np.bincount(ids, minlength=vocab_size or 0) / ids.size
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / math.log(base))


class CharLM(Module):
    """Embedding -> recurrent cell -> per-step affine scores over the V characters.

    Args:
        vocab_size: V. hidden_size: H. embed_dim: size of the character embeddings.
        cell: ``"lstm"`` (default), ``"gru"`` or ``"rnn"``.
        forget_bias: LSTM forget-gate bias at initialisation.
        rng / seed, dtype: randomness and parameter dtype (float32 trains faster).

    ``forward(ids, state=None)`` returns scores (N, T, V) and keeps the final recurrent
    state in ``state`` (``(h,)`` or ``(h, c)``) for the next window; ``backward(dscores)``
    accumulates every gradient.

    Example:
        >>> m = CharLM(10, hidden_size=8, embed_dim=4, seed=0)
        >>> m(np.zeros((2, 5), dtype=int)).shape
        (2, 5, 10)
    """

    def __init__(self, vocab_size, hidden_size=128, embed_dim=32, cell="lstm", forget_bias=1.0, rng=None, seed=None,
                 dtype=np.float32):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
        if rng is not None and seed is not None:
            raise ValueError("CharLM: pass either rng or seed, not both")
        gen = _init.as_rng(rng if rng is not None else seed)
        self.vocab_size, self.hidden_size, self.embed_dim, self.cell = int(vocab_size), int(hidden_size), \
            int(embed_dim), cell
        self.embed = Embedding(vocab_size, embed_dim, rng=gen, dtype=dtype)
        kwargs = {"forget_bias": forget_bias} if cell == "lstm" else {}
        self.rnn = _CELLS[cell](embed_dim, hidden_size, rng=gen, dtype=dtype, **kwargs)
        self.head = TemporalAffine(hidden_size, vocab_size, rng=gen, dtype=dtype)
        self.state = None

    def forward(self, ids, state=None):
        x = self.embed(ids)  # (N, T, E)
        if self.cell == "lstm":
            h0, c0 = (None, None) if state is None else state
            h = self.rnn(x, h0=h0, c0=c0)
            self.state = (self.rnn.last_h, self.rnn.last_c)
        else:
            h = self.rnn(x, h0=None if state is None else state[0])
            self.state = (self.rnn.last_h,)
        return self.head(h)  # (N, T, V)

    def backward(self, dscores):
        dh = self.head.backward(dscores)
        dx = self.rnn.backward(dh)
        self.embed.backward(dx)
        return None

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, hidden_size={self.hidden_size}, cell={self.cell!r}"


def batch_streams(ids, batch_size: int) -> np.ndarray:
    """Cut a 1-D id array into ``batch_size`` contiguous streams, shape (N, L).

    Stream n is ``ids[n*L:(n+1)*L]``; the few ids past ``N*L`` are dropped.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D (one long text), got shape {ids.shape}")
    L = ids.size // batch_size
    if L < 2:
        raise ValueError(f"{ids.size} ids are too few for {batch_size} streams of at least 2 characters")
    return ids[: batch_size * L].reshape(batch_size, L)


def train_charlm(model: CharLM, ids, steps: int = 500, batch_size: int = 32, seq_len: int = 50,
                 optimizer: str = "adam", lr: float | None = None, max_grad_norm: float | None = 5.0,
                 max_grad_value: float | None = None, time_limit: float | None = None, progress: bool = True,
                 log_every: int = 10) -> History:
    """Train with truncated BPTT: windows of ``seq_len`` characters over ``batch_size`` streams.

    The argument names and the history are those of every loop in the course
    (:mod:`i2dl_lab.loop`); an *epoch* here is one pass along the streams.

    Args:
        model: a :class:`CharLM`.
        ids: the training text as a 1-D array of character ids.
        steps: number of parameter updates (one per window).
        batch_size: N parallel streams. seq_len: T, the truncation length.
        optimizer: ``"adam"`` (default lr 2e-3) or ``"adagrad"`` (default lr 0.1).
        lr: learning rate (default depends on the optimizer).
        max_grad_norm: rescale the gradients when their global L2 norm exceeds this (None: off).
        max_grad_value: clamp every gradient entry into [-max_grad_value, max_grad_value] (None: off).
        time_limit: stop early after this many seconds.
        progress: progress bar with the running loss.
        log_every: refresh the bar's (smoothed) loss every this many steps.

    Returns:
        History: per iteration ``loss`` (nats per character) and ``grad_norm`` (before
        clipping); per completed pass ``epoch``, ``train_loss``, ``lr``, ``time``;
        ``stop_reason`` and ``seconds``.

    Raises:
        TrainingDiverged: the loss stopped being finite (with the pass, the step and a hint).
    """
    if optimizer not in ("adam", "adagrad"):
        raise ValueError(f"optimizer must be 'adam' or 'adagrad', got {optimizer!r}")
    streams = batch_streams(ids, batch_size)  # (N, L)
    L = streams.shape[1]
    if seq_len < 1 or seq_len + 1 > L:
        raise ValueError(f"seq_len must be in [1, {L - 1}] for streams of {L} characters, got {seq_len}")
    if lr is None:
        lr = 2e-3 if optimizer == "adam" else 0.1
    opt = Adam(model, lr=lr) if optimizer == "adam" else Adagrad(model, lr=lr)
    history = History(["loss", "grad_norm", "epoch", "train_loss", "lr", "time"])
    windows = (L - 1) // seq_len  # per pass along the streams
    state, smooth = None, None
    start = time.perf_counter()
    bar = _progress(total=steps, desc="char-LM", disable=not progress)
    try:
        for step in range(steps):
            epoch, it = step // windows + 1, step % windows + 1
            if it == 1:
                state = None  # a new pass starts from a fresh state
            x, y = _window(streams, (it - 1) * seq_len, seq_len)
            loss, state = _tbptt_step(model, opt, x, y, state, max_grad_norm, max_grad_value,
                                      history, epoch=epoch, iteration=it, global_iteration=step + 1)
            smooth = loss if smooth is None else 0.95 * smooth + 0.05 * loss
            bar.update(1)
            if step % log_every == 0:
                bar.set_postfix(loss=smooth)
            if it == windows:
                history.log(epoch=epoch, train_loss=float(np.mean(history["loss"][-windows:])), lr=lr,
                            time=time.perf_counter() - start)
            if time_limit is not None and time.perf_counter() - start > time_limit:
                history.stop_reason = f"time limit {time_limit:g}s reached after step {step + 1}"
                break
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    return history


def _window(streams: np.ndarray, offset: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-character targets of one window, both (N, T)."""
    return streams[:, offset: offset + seq_len], streams[:, offset + 1: offset + seq_len + 1]


def _tbptt_step(model: CharLM, opt, x, y, state, max_grad_norm, max_grad_value, history: History,
                **where) -> tuple[float, tuple]:
    """Forward from the carried ``state``, backward through this window only, clip, update.

    Returns ``(loss per character, the state to carry on)``.
    """
    T = x.shape[1]
    model.zero_grad()
    scores = model.forward(x, state=state)
    loss, dscores = temporal_softmax_loss(scores, y)
    loss /= T  # per character (temporal_softmax_loss averages over N only)
    check_finite(loss, lr=opt.lr, last_finite_loss=history.last("loss"), history=history, **where)
    model.backward(dscores / T)
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in model.grads.values()))
    if max_grad_value:
        clip_grad_value(model, max_grad_value)
    if max_grad_norm:
        clip_grad_norm(model, max_grad_norm)
    opt.step()
    history.log(loss=loss, grad_norm=norm)
    return loss, model.state  # carried on, but no gradient flows into it: truncation


def evaluate_charlm(model: CharLM, ids, batch_size: int = 16, seq_len: int = 100) -> float:
    """Average loss per character (nats) on ``ids``, carrying the state across windows."""
    streams = batch_streams(ids, batch_size)
    L = streams.shape[1]
    seq_len = min(seq_len, L - 1)
    total, count, state = 0.0, 0, None
    for offset in range(0, L - 1, seq_len):
        T = min(seq_len, L - 1 - offset)
        scores = model.forward(streams[:, offset : offset + T], state=state)
        state = model.state
        loss, _ = temporal_softmax_loss(scores, streams[:, offset + 1 : offset + T + 1])
        total += loss * batch_size
        count += batch_size * T
    return total / count


def sample(model: CharLM, corpus, prime: str = "\n", length: int = 200, temperature: float = 1.0,
           seed: int | None = 0) -> str:
    """Generate text: read ``prime``, then draw one character at a time.

    Each character is drawn from ``softmax(scores / temperature)``: temperatures below 1
    sharpen the distribution (safer, more repetitive text), above 1 flatten it (more
    surprising, more misspelt).

    Args:
        model: a trained :class:`CharLM`.
        corpus: anything with ``encode(str)`` and ``decode(ids)`` (a ``CharCorpus``).
        prime: text to start from (non-empty, characters from the vocabulary).
        length: characters to generate.
        temperature: > 0.
        seed: of the sampling generator.

    Returns:
        ``prime`` followed by the generated characters.
    """
    if not (isinstance(temperature, (int, float)) and temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    if not prime:
        raise ValueError("prime must contain at least one character")
    rng = np.random.default_rng(seed)
    ids = corpus.encode(prime)
    scores = model.forward(ids[None, :], state=None)  # read the whole prime
    state = model.state
    out = []
    for _ in range(length):
        logits = scores[0, -1].astype(np.float64) / temperature
        p = np.exp(logits - logits.max())
        p /= p.sum()
        nxt = int(rng.choice(p.size, p=p))
        out.append(nxt)
        scores = model.forward(np.array([[nxt]]), state=state)
        state = model.state
    return prime + corpus.decode(out)
