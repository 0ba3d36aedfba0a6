"""Graded exercises of lab 10 (recurrent networks and LSTMs).

References are the library's recurrent layers (``i2dl_lab.nn.functional``), whose
gradients are checked numerically and against torch in the library's own tests.
"""

from __future__ import annotations

import numpy as np

from ..spec import Exercise, allclose


def _rnn_params(rng, N, T, D, H, scale=0.5):
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)),
            scale * rng.standard_normal((D, H)), scale * rng.standard_normal((H, H)), 0.1 * rng.standard_normal(H))


def _copies(args):
    return tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args)


# ---------------------------------------------------------------- RNN forward
def ref_rnn_forward(x, h0, Wx, Wh, b):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    return F.rnn_forward(x, h0, Wx, Wh, b)[0]


def drive_first(obj, *args):
    res = obj(*_copies(args))
    return res[0] if isinstance(res, tuple) else res


def rnn_forward_cases(rng):
    return [_rnn_params(rng, 2, 4, 3, 5), _rnn_params(rng, 1, 1, 2, 3), _rnn_params(rng, 3, 6, 4, 2, scale=2.0)]


# ---------------------------------------------------------------- BPTT
def ref_rnn_bptt(dh, x, h0, Wx, Wh, b):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    _, cache = F.rnn_forward(x, h0, Wx, Wh, b)
    # a copy: the library's rnn_backward may write into dh when its time-major view is contiguous
    return tuple(F.rnn_backward(np.array(dh, copy=True), cache))


def drive_tuple(obj, *args):
    """Call on copies, so that neither side can change the inputs the other one sees."""
    return tuple(obj(*_copies(args)))


def bptt_cases(rng):
    cases = []
    for N, T, D, H in [(2, 4, 3, 5), (1, 1, 2, 3), (3, 7, 2, 4)]:
        x, h0, Wx, Wh, b = _rnn_params(rng, N, T, D, H)
        dh = rng.standard_normal((N, T, H))
        cases.append((dh, x, h0, Wx, Wh, b))
    # a loss on the last step only: the gradient must still reach every earlier step
    x, h0, Wx, Wh, b = _rnn_params(rng, 2, 5, 3, 3)
    dh = np.zeros((2, 5, 3))
    dh[:, -1] = rng.standard_normal((2, 3))
    cases.append((dh, x, h0, Wx, Wh, b))
    return cases


# ---------------------------------------------------------------- gradient clipping
def ref_clip(grads, max_norm):
    """The library's torch-compatible clipping, returning the clipped dict."""
    from i2dl_lab.nn.optim import clip_grad_norm

    clipped = {k: np.array(g, dtype=np.float64) for k, g in grads.items()}
    clip_grad_norm(clipped, max_norm)
    return clipped


def drive_clip(obj, grads, max_norm):
    copies = {k: v.copy() for k, v in grads.items()}
    out = obj(copies, max_norm)
    return {k: np.asarray(v) for k, v in out.items()}


def clip_cases(rng):
    big = {"Wx": 10 * rng.standard_normal((3, 4)), "Wh": 10 * rng.standard_normal((4, 4)), "b": rng.standard_normal(4)}
    small = {"W": 1e-3 * rng.standard_normal((2, 2)), "b": np.zeros(2)}
    one = {"w": np.array([3.0, 4.0])}  # norm 5
    return [(big, 5.0), (small, 1.0), (one, 1.0), (one, 10.0)]


# ---------------------------------------------------------------- LSTM step
def ref_lstm_step(x, prev_h, prev_c, Wx, Wh, b):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    next_h, next_c, _ = F.lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    return next_h, next_c


def drive_lstm(obj, *args):
    res = obj(*_copies(args))
    return (res[0], res[1])


def lstm_cases(rng):
    cases = []
    for N, D, H in [(2, 3, 4), (1, 5, 2), (4, 2, 3)]:
        cases.append((rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H)),
                      rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)))
    return cases


# ---------------------------------------------------------------- temperature
def ref_temperature_softmax(logits, temperature):
    """softmax(logits / T) along the last axis, stable for large logits."""
    from i2dl_lab.nn.losses import softmax

    return softmax(np.asarray(logits, float) / temperature, axis=-1)


def temperature_cases(rng):
    return [(rng.standard_normal(6), 1.0), (rng.standard_normal((3, 5)), 0.5), (rng.standard_normal(4), 5.0),
            (np.array([1e4, 0.0, -1e4]), 0.1), (np.array([2.0, 1.0, 0.0]), 1e-3)]


# ---------------------------------------------------------------- LSTM: the lab's cache contract
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_step_cache(x, prev_h, prev_c, Wx, Wh, b):
    """The cache of one step in the lab's format: ``(x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)``."""
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    return o * np.tanh(next_c), next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_sequence_cache(x, h0, Wx, Wh, b):
    """Step caches of a whole sequence (cell state starts at zero), as the lab's lstm_forward keeps them."""
    h, c = h0, np.zeros_like(h0)
    caches = []
    for t in range(x.shape[1]):
        h, c, cache = lstm_step_cache(x[:, t], h, c, Wx, Wh, b)
        caches.append(cache)
    return caches


def _lstm_case(rng, N, D, H, T=None):
    x = rng.standard_normal((N, D) if T is None else (N, T, D))
    return (x, rng.standard_normal((N, H)), rng.standard_normal((N, H)), 0.5 * rng.standard_normal((D, 4 * H)),
            0.5 * rng.standard_normal((H, 4 * H)), 0.5 * rng.standard_normal(4 * H))


# ---------------------------------------------------------------- LSTM step backward
def _library_step_cache(cache):
    """The lab's step cache in the library's format ``(x, prev_h, prev_c, Wx, Wh, gates, tanh(next_c))``."""
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    return (x, prev_h, prev_c, Wx, Wh, np.concatenate([i, f, o, g], axis=1), np.tanh(next_c))


def ref_lstm_step_backward(dnext_h, dnext_c, cache):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    return F.lstm_step_backward(dnext_h, dnext_c, _library_step_cache(cache))


def drive_lstm_step_backward(obj, x, prev_h, prev_c, Wx, Wh, b, dnext_h, dnext_c):
    """The student's backward receives the cache of the lab's format for these inputs."""
    _, _, cache = lstm_step_cache(x, prev_h, prev_c, Wx, Wh, b)
    return tuple(obj(dnext_h.copy(), dnext_c.copy(), tuple(np.array(a, copy=True) for a in cache)))


def lstm_step_backward_cases(rng):
    cases = []
    for N, D, H in [(2, 3, 4), (1, 5, 2), (4, 2, 3)]:
        x, h, c, Wx, Wh, b = _lstm_case(rng, N, D, H)
        cases.append((x, h, c, Wx, Wh, b, rng.standard_normal((N, H)), rng.standard_normal((N, H))))
    x, h, c, Wx, Wh, b = _lstm_case(rng, 3, 2, 2)
    cases.append((x, h, c, Wx, Wh, b, rng.standard_normal((3, 2)), np.zeros((3, 2))))  # no gradient from later steps
    return cases


# ---------------------------------------------------------------- LSTM over a sequence
def ref_lstm_forward(x, h0, Wx, Wh, b):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    return F.lstm_forward(x, h0, Wx, Wh, b)[0]


def lstm_forward_cases(rng):
    cases = []
    for N, T, D, H in [(2, 4, 3, 5), (1, 1, 2, 3), (3, 6, 4, 2)]:
        x, h0, _, Wx, Wh, b = _lstm_case(rng, N, D, H, T)
        cases.append((x, h0, Wx, Wh, b))
    return cases


def ref_lstm_backward(dh, caches):
    """BPTT as a loop of the library's step backward over the lab's step caches."""
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    N, T, H = dh.shape
    dx = np.zeros((N, T, caches[0][0].shape[1]))
    dWx, dWh, db = np.zeros_like(caches[0][3]), np.zeros_like(caches[0][4]), np.zeros(4 * H)
    dprev_h, dprev_c = np.zeros((N, H)), np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = F.lstm_step_backward(
            dh[:, t] + dprev_h, dprev_c, _library_step_cache(caches[t]))
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dprev_h, dWx, dWh, db


def drive_lstm_backward(obj, dh, x, h0, Wx, Wh, b):
    """The student's lstm_backward receives the list of step caches of the lab's format."""
    return tuple(obj(np.array(dh, copy=True), lstm_sequence_cache(x, h0, Wx, Wh, b)))


def lstm_backward_cases(rng):
    cases = []
    for N, T, D, H in [(2, 4, 3, 5), (1, 1, 2, 3), (3, 6, 2, 4)]:
        x, h0, _, Wx, Wh, b = _lstm_case(rng, N, D, H, T)
        cases.append((rng.standard_normal((N, T, H)), x, h0, Wx, Wh, b))
    x, h0, _, Wx, Wh, b = _lstm_case(rng, 2, 2, 3, 5)
    dh = np.zeros((2, 5, 3))
    dh[:, -1] = rng.standard_normal((2, 3))  # a loss on the last step only must still reach every step
    cases.append((dh, x, h0, Wx, Wh, b))
    return cases


# ---------------------------------------------------------------- word embeddings
def ref_embedding_forward(x, W):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    return F.word_embedding_forward(x, W)[0]


def embedding_cases(rng):
    return [(rng.integers(0, 5, size=(2, 4)), rng.standard_normal((5, 3))),
            (rng.integers(0, 7, size=(3, 1)), rng.standard_normal((7, 2))),
            (np.array([[1, 1, 1], [0, 1, 1]]), rng.standard_normal((3, 4)))]  # repeated ids


def ref_embedding_backward(dout, cache):
    from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

    x, W = cache
    _, lib_cache = F.word_embedding_forward(x, W)
    return F.word_embedding_backward(dout, lib_cache)


def drive_embedding_backward(obj, x, W, dout):
    return np.asarray(obj(dout.copy(), (x.copy(), W.copy())))


def embedding_backward_cases(rng):
    return [(x, W, rng.standard_normal(x.shape + (W.shape[1],))) for x, W in embedding_cases(rng)]


# ---------------------------------------------------------------- the student's language model
class LSTMLanguageModel:
    """Reference: embedding -> LSTM -> per-step affine -> softmax, from the library.

    The lab's contract: ``params`` holds ``W_embed (V, D), Wx (D, 4H), Wh (H, 4H), b (4H,),
    W_out (H, V), b_out (V,)``; ``forward(ids)`` maps ids (N, T) to scores (N, T, V) with zero
    initial states; ``loss(ids)`` reads ids (N, T+1), predicts ids[:, 1:] from ids[:, :-1] and
    returns the mean cross-entropy per character (nats) and the gradient of every parameter.
    """

    def __init__(self, vocab_size, embed_dim=16, hidden_size=48, forget_bias=1.0, seed=0):
        rng = np.random.default_rng(seed)
        V, D, H = vocab_size, embed_dim, hidden_size
        b = np.zeros(4 * H)
        b[H:2 * H] = forget_bias
        self.params = {"W_embed": 0.1 * rng.standard_normal((V, D)),
                       "Wx": rng.standard_normal((D, 4 * H)) / np.sqrt(D),
                       "Wh": rng.standard_normal((H, 4 * H)) / np.sqrt(H), "b": b,
                       "W_out": rng.standard_normal((H, V)) / np.sqrt(H), "b_out": np.zeros(V)}

    def _run(self, ids):
        from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

        p = self.params
        x, emb_cache = F.word_embedding_forward(ids, p["W_embed"])
        h, lstm_cache = F.lstm_forward(x, np.zeros((ids.shape[0], p["Wh"].shape[0])), p["Wx"], p["Wh"], p["b"])
        scores, out_cache = F.temporal_affine_forward(h, p["W_out"], p["b_out"])
        return scores, (emb_cache, lstm_cache, out_cache)

    def forward(self, ids):
        return self._run(ids)[0]

    def loss(self, ids):
        from i2dl_lab.nn import functional as F  # noqa: N812 - the documented alias

        scores, (emb_cache, lstm_cache, out_cache) = self._run(ids[:, :-1])
        T = scores.shape[1]
        loss, dscores = F.temporal_softmax_loss(scores, ids[:, 1:])
        grads = {}
        dh, grads["W_out"], grads["b_out"] = F.temporal_affine_backward(dscores / T, out_cache)
        dx, _, grads["Wx"], grads["Wh"], grads["b"] = F.lstm_backward(dh, lstm_cache)
        grads["W_embed"] = F.word_embedding_backward(dx, emb_cache)
        return loss / T, grads


def drive_language_model(cls, config, params, ids):
    model = cls(**config)
    for name, value in params.items():
        model.params[name] = value.copy()
    scores = model.forward(ids[:, :-1].copy())
    loss, grads = model.loss(ids.copy())
    return np.asarray(scores), float(loss), {k: np.asarray(v) for k, v in grads.items()}


def language_model_cases(rng):
    cases = []
    for V, D, H, N, T in [(5, 3, 4, 2, 6), (7, 2, 3, 3, 2), (4, 4, 2, 1, 8)]:
        params = {"W_embed": rng.standard_normal((V, D)), "Wx": 0.5 * rng.standard_normal((D, 4 * H)),
                  "Wh": 0.5 * rng.standard_normal((H, 4 * H)), "b": 0.5 * rng.standard_normal(4 * H),
                  "W_out": rng.standard_normal((H, V)), "b_out": rng.standard_normal(V)}
        config = {"vocab_size": V, "embed_dim": D, "hidden_size": H}
        cases.append((config, params, rng.integers(0, V, size=(N, T + 1))))
    return cases


# ---------------------------------------------------------------- measured gradient flow
def ref_jacobian_norms(Wh, b, h0, T):
    """Spectral norm of d h_t / d h_0, t = 1..T, for the sigmoid RNN ``h_t = sigmoid(h_{t-1} Wh + b)``."""
    h = np.asarray(h0, dtype=np.float64)
    J = np.eye(h.shape[0])  # J[j, i] = d h_t[j] / d h_0[i]
    norms = []
    for _ in range(T):
        h = _sigmoid(h @ Wh + b)
        J = (h * (1 - h))[:, None] * (Wh.T @ J)  # diag(sigmoid') Wh^T J: chain rule, row-vector convention
        norms.append(np.linalg.norm(J, 2))
    return np.array(norms)


def jacobian_cases(rng):
    return [(np.full((2, 2), 3.5), np.zeros(2), np.array([0.5, -0.5]), 10),
            (0.5 * rng.standard_normal((3, 3)), 0.1 * rng.standard_normal(3), rng.standard_normal(3), 6),
            (3.0 * rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal(4), 5),
            (np.array([[4.0]]), np.array([-2.0]), np.array([0.5]), 4)]


EXERCISES = [
    Exercise("rnn_forward", "rnn_forward", 2, ref_rnn_forward, rnn_forward_cases, driver=drive_first,
             title="vanilla RNN forward over a sequence"),
    Exercise("rnn_bptt", "rnn_bptt", 4, ref_rnn_bptt, bptt_cases, driver=drive_tuple,
             compare=allclose(rtol=1e-6, atol=1e-9), title="backpropagation through time"),
    Exercise("clip_grad_norm", "clip_grad_norm", 2, ref_clip, clip_cases, driver=drive_clip,
             compare=allclose(rtol=1e-5, atol=1e-9), title="gradient clipping by global norm"),
    Exercise("lstm_step", "lstm_step_forward", 3, ref_lstm_step, lstm_cases, driver=drive_lstm,
             title="one LSTM step"),
    Exercise("temperature", "softmax_with_temperature", 1, ref_temperature_softmax, temperature_cases,
             title="softmax with temperature"),
    Exercise("lstm_step_backward", "lstm_step_backward", 4, ref_lstm_step_backward, lstm_step_backward_cases,
             driver=drive_lstm_step_backward, compare=allclose(rtol=1e-5, atol=1e-9), title="one LSTM step backward"),
    Exercise("lstm_forward", "lstm_forward", 2, ref_lstm_forward, lstm_forward_cases, driver=drive_first,
             title="LSTM over a sequence"),
    Exercise("lstm_backward", "lstm_backward", 4, ref_lstm_backward, lstm_backward_cases, driver=drive_lstm_backward,
             compare=allclose(rtol=1e-5, atol=1e-9), title="LSTM backpropagation through time"),
    Exercise("embedding", "word_embedding_forward", 1, ref_embedding_forward, embedding_cases, driver=drive_first,
             title="word embedding forward"),
    Exercise("embedding_backward", "word_embedding_backward", 2, ref_embedding_backward, embedding_backward_cases,
             driver=drive_embedding_backward, title="word embedding backward (repeated ids add up)"),
    Exercise("language_model", "LSTMLanguageModel", 4, LSTMLanguageModel, language_model_cases,
             driver=drive_language_model, compare=allclose(rtol=1e-5, atol=1e-9),
             title="a character language model from your LSTM"),
    Exercise("jacobian_norms", "jacobian_norms", 2, ref_jacobian_norms, jacobian_cases,
             compare=allclose(rtol=1e-6, atol=1e-12), title="measured gradient flow of a sigmoid RNN"),
]
