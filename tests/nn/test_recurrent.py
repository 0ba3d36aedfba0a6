"""Recurrent layers: numerical gradients (float64), agreement with torch.nn.RNN/LSTM/GRU,
embeddings, temporal layers, Modules and truncated BPTT state, and bad input."""

import numpy as np
import pytest
import torch

from i2dl_lab import nn
from i2dl_lab.gradcheck import check_layer, check_module, eval_numerical_gradient, rel_error
from i2dl_lab.nn.functional import recurrent as _rec

N, T, D, H = 3, 4, 5, 6


def weights(rng, gates, D=D, H=H, scale=0.5):
    return (scale * rng.standard_normal((D, gates * H)), scale * rng.standard_normal((H, gates * H)),
            scale * rng.standard_normal(gates * H))


# ----------------------------------------------------------------------------- numerical gradients
def test_rnn_step_gradients_match_centred_differences(rng):
    x, h = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    check_layer(_rec.rnn_step_forward, _rec.rnn_step_backward, x, h, *weights(rng, 1)).assert_ok(1e-7)


def test_rnn_sequence_gradients_match_centred_differences(rng):
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    report = check_layer(_rec.rnn_forward, _rec.rnn_backward, x, h0, *weights(rng, 1))
    assert set(report) == {"dx", "dh0", "dWx", "dWh", "db"}
    report.assert_ok(1e-7)


def test_lstm_step_gradients_match_centred_differences(rng):
    x, h, c = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    report = check_layer(_rec.lstm_step_forward, _rec.lstm_step_backward, x, h, c, *weights(rng, 4))
    assert set(report) == {"dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"}
    report.assert_ok(1e-7)


def test_lstm_sequence_gradients_match_centred_differences(rng):
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    check_layer(_rec.lstm_forward, _rec.lstm_backward, x, h0, *weights(rng, 4)).assert_ok(1e-7)


def test_lstm_gradient_of_initial_cell_state_and_final_cell_state(rng):
    x, h0, c0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh, b = weights(rng, 4)
    dh, dc_last = rng.standard_normal((N, T, H)), rng.standard_normal((N, H))

    def objective(c):
        h, cache = _rec.lstm_forward(x, h0, Wx, Wh, b, c0=c)
        return np.sum(h * dh) + np.sum(cache["c_last"] * dc_last)

    _, cache = _rec.lstm_forward(x, h0, Wx, Wh, b, c0=c0)
    grads = _rec.lstm_backward(dh, cache, dc_last=dc_last, return_dc0=True)
    assert len(grads) == 6
    assert rel_error(grads[5], eval_numerical_gradient(objective, c0.copy())) < 1e-7


def test_gru_step_gradients_match_centred_differences(rng):
    x, h = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    Wx, Wh, bx = weights(rng, 3)
    report = check_layer(_rec.gru_step_forward, _rec.gru_step_backward, x, h, Wx, Wh, bx, rng.standard_normal(3 * H))
    assert set(report) == {"dx", "dprev_h", "dWx", "dWh", "dbx", "dbh"}
    report.assert_ok(1e-7)


def test_gru_sequence_gradients_match_centred_differences(rng):
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh, bx = weights(rng, 3)
    check_layer(_rec.gru_forward, _rec.gru_backward, x, h0, Wx, Wh, bx, rng.standard_normal(3 * H)).assert_ok(1e-7)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_sequence_gradients_over_more_steps_than_one_weight_gradient_window(rng, kind):
    # the GRU's backward pass adds the weight gradient window by window: T crosses two
    # window boundaries and ends in a partial window (the LSTM is checked as long, too)
    steps = 2 * _rec._GRU_WINDOW + 2
    x, h0 = rng.standard_normal((2, steps, 3)), rng.standard_normal((2, 4))
    if kind == "lstm":
        args = (_rec.lstm_forward, _rec.lstm_backward, x, h0, *weights(rng, 4, D=3, H=4))
    else:
        args = (_rec.gru_forward, _rec.gru_backward, x, h0, *weights(rng, 3, D=3, H=4), rng.standard_normal(12))
    check_layer(*args).assert_ok(1e-7)


def test_temporal_affine_gradients_match_centred_differences(rng):
    x, w, b = rng.standard_normal((N, T, D)), rng.standard_normal((D, 7)), rng.standard_normal(7)
    check_layer(_rec.temporal_affine_forward, _rec.temporal_affine_backward, x, w, b).assert_ok(1e-7)


def test_word_embedding_gradient_matches_centred_differences_with_repeated_ids(rng):
    ids = np.array([[0, 3, 3, 1], [3, 0, 2, 3]])  # id 3 four times, id 4 never
    report = check_layer(_rec.word_embedding_forward, _rec.word_embedding_backward, ids, rng.standard_normal((5, D)))
    report.assert_ok(1e-7)


def test_word_embedding_backward_sums_gradients_of_repeated_ids():
    ids = np.array([[1, 1, 1], [0, 1, 2]])
    _, cache = _rec.word_embedding_forward(ids, np.zeros((4, 2)))
    dW = _rec.word_embedding_backward(np.ones((2, 3, 2)), cache)
    np.testing.assert_array_equal(dW, [[1, 1], [4, 4], [1, 1], [0, 0]])


def test_word_embedding_backward_in_float32_agrees_with_torch_on_many_repeats(rng):
    ids = rng.integers(0, 50, size=(16, 40))  # 640 tokens over 50 ids; some ids unused by chance
    ids[0, :5] = 49
    W = rng.standard_normal((60, 8)).astype(np.float32)  # ids 50-59 never occur
    dout = rng.standard_normal((16, 40, 8)).astype(np.float32)
    _, cache = _rec.word_embedding_forward(ids, W)
    dW = _rec.word_embedding_backward(dout, cache)
    tW = torch.tensor(W, requires_grad=True)
    torch.nn.functional.embedding(torch.from_numpy(ids), tW).backward(torch.from_numpy(dout))
    assert dW.dtype == np.float32 and dW.shape == W.shape
    np.testing.assert_allclose(dW, tW.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert not dW[50:].any()


def test_word_embedding_backward_of_no_tokens_is_zero():
    _, cache = _rec.word_embedding_forward(np.zeros((2, 0), dtype=int), np.ones((3, 4)))
    np.testing.assert_array_equal(_rec.word_embedding_backward(np.zeros((2, 0, 4)), cache), np.zeros((3, 4)))


def test_temporal_softmax_loss_gradient_matches_centred_differences_with_mask(rng):
    x = rng.standard_normal((N, T, 7))
    y = rng.integers(0, 7, size=(N, T))
    mask = rng.random((N, T)) > 0.4
    _, dx = _rec.temporal_softmax_loss(x, y, mask)
    num = eval_numerical_gradient(lambda v: _rec.temporal_softmax_loss(v, y, mask)[0], x.copy())
    assert rel_error(dx, num) < 1e-7
    assert np.all(dx[~mask] == 0.0)  # masked steps contribute nothing


def test_temporal_softmax_loss_matches_torch_and_divides_by_n_only(rng):
    x = rng.standard_normal((N, T, 7))
    y = rng.integers(0, 7, size=(N, T))
    mask = rng.random((N, T)) > 0.3
    loss, _ = _rec.temporal_softmax_loss(x, y, mask)
    per_step = torch.nn.functional.cross_entropy(torch.tensor(x).reshape(-1, 7), torch.tensor(y).reshape(-1),
                                                 reduction="none")
    expected = float((per_step * torch.tensor(mask.reshape(-1), dtype=torch.float64)).sum()) / N
    assert loss == pytest.approx(expected, rel=1e-12)


def test_temporal_softmax_loss_is_finite_with_logits_of_1e4():
    x = np.zeros((1, 2, 3))
    x[0, :, 0] = 1e4
    loss, dx = _rec.temporal_softmax_loss(x, np.array([[0, 1]]))
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    assert loss == pytest.approx(1e4, rel=1e-12)  # step 0 costs 0, step 1 costs 1e4


# ----------------------------------------------------------------------------- torch agreement
def _torch_run(module, x, dh, *state):
    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s[None], requires_grad=True) for s in state]
    out, _ = module(xt, st[0] if len(st) == 1 else tuple(st))
    out.backward(torch.tensor(dh))
    return out.detach().numpy(), xt.grad.numpy(), [s.grad[0].numpy() for s in st]


def test_rnn_matches_torch_rnn_outputs_and_gradients(rng):
    torch.manual_seed(0)
    ref = torch.nn.RNN(D, H, batch_first=True).double()
    x, h0, dh = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, T, H))
    out_t, dx_t, (dh0_t,) = _torch_run(ref, x, dh, h0)
    Wx, Wh = ref.weight_ih_l0.detach().numpy().T, ref.weight_hh_l0.detach().numpy().T
    b = (ref.bias_ih_l0 + ref.bias_hh_l0).detach().numpy()
    h, cache = _rec.rnn_forward(x, h0, Wx, Wh, b)
    dx, dh0, dWx, dWh, db = _rec.rnn_backward(dh, cache)
    np.testing.assert_allclose(h, out_t, atol=1e-12)
    for ours, theirs in ((dx, dx_t), (dh0, dh0_t), (dWx, ref.weight_ih_l0.grad.numpy().T),
                         (dWh, ref.weight_hh_l0.grad.numpy().T), (db, ref.bias_ih_l0.grad.numpy()),
                         (db, ref.bias_hh_l0.grad.numpy())):
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_lstm_matches_torch_lstm_with_gate_order_mapped(rng):
    torch.manual_seed(1)
    ref = torch.nn.LSTM(D, H, batch_first=True).double()
    x, h0, c0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dh = rng.standard_normal((N, T, H))
    out_t, dx_t, (dh0_t, dc0_t) = _torch_run(ref, x, dh, h0, c0)
    tw = [p.detach().numpy() for p in (ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0)]
    Wx, Wh, b = _rec.lstm_weights_from_torch(*tw)
    h, cache = _rec.lstm_forward(x, h0, Wx, Wh, b, c0=c0)
    dx, dh0, dWx, dWh, db, dc0 = _rec.lstm_backward(dh, cache, return_dc0=True)
    np.testing.assert_allclose(h, out_t, atol=1e-12)
    np.testing.assert_allclose(dx, dx_t, atol=1e-12)
    np.testing.assert_allclose(dh0, dh0_t, atol=1e-12)
    np.testing.assert_allclose(dc0, dc0_t, atol=1e-12)
    # torch's gradients put through the same mapping (the bias gradient is shared by both biases)
    gWx, gWh, gb = _rec.lstm_weights_from_torch(ref.weight_ih_l0.grad.numpy(), ref.weight_hh_l0.grad.numpy(),
                                              ref.bias_ih_l0.grad.numpy(), np.zeros(4 * H))
    np.testing.assert_allclose(dWx, gWx, atol=1e-12)
    np.testing.assert_allclose(dWh, gWh, atol=1e-12)
    np.testing.assert_allclose(db, gb, atol=1e-12)


def test_lstm_weight_mapping_swaps_the_last_two_gate_blocks():
    Hs = 2
    w = np.repeat(np.arange(4.0), Hs)[:, None] * np.ones((1, 3))  # torch rows: block k filled with k
    Wx, _, _ = _rec.lstm_weights_from_torch(w, np.zeros((4 * Hs, Hs)), np.zeros(4 * Hs), np.zeros(4 * Hs))
    np.testing.assert_array_equal(Wx[0], [0, 0, 1, 1, 3, 3, 2, 2])  # i, f, o, g from torch's i, f, g, o


def test_gru_matches_torch_gru_including_reset_gate_placement(rng):
    torch.manual_seed(2)
    ref = torch.nn.GRU(D, H, batch_first=True).double()
    with torch.no_grad():  # large hidden biases: the n-block's bh sits inside r * (.)
        ref.bias_hh_l0.mul_(20.0)
    x, h0, dh = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, T, H))
    out_t, dx_t, (dh0_t,) = _torch_run(ref, x, dh, h0)
    params = _rec.gru_weights_from_torch(
        *(p.detach().numpy() for p in (ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0)))
    h, cache = _rec.gru_forward(x, h0, *params)
    dx, dh0, dWx, dWh, dbx, dbh = _rec.gru_backward(dh, cache)
    np.testing.assert_allclose(h, out_t, atol=1e-12)
    for ours, theirs in ((dx, dx_t), (dh0, dh0_t), (dWx, ref.weight_ih_l0.grad.numpy().T),
                         (dWh, ref.weight_hh_l0.grad.numpy().T), (dbx, ref.bias_ih_l0.grad.numpy()),
                         (dbh, ref.bias_hh_l0.grad.numpy())):
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_sequence_functions_equal_their_step_functions_in_a_loop(rng):
    x, h0, c0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh, b = weights(rng, 4)
    h_seq, cache = _rec.lstm_forward(x, h0, Wx, Wh, b, c0=c0)
    h, c = h0, c0
    for t in range(T):
        h, c, _ = _rec.lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        np.testing.assert_allclose(h_seq[:, t], h, atol=1e-14)
    np.testing.assert_allclose(cache["c_last"], c, atol=1e-14)


def test_float32_inputs_stay_float32(rng):
    x, h0 = rng.standard_normal((N, T, D)).astype(np.float32), np.zeros((N, H), np.float32)
    Wx, Wh, b = (a.astype(np.float32) for a in weights(rng, 4))
    h, cache = _rec.lstm_forward(x, h0, Wx, Wh, b)
    grads = _rec.lstm_backward(np.ones_like(h), cache)
    assert h.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)


# ----------------------------------------------------------------------------- modules
@pytest.mark.parametrize("make", [lambda: nn.RNN(D, H, seed=0), lambda: nn.LSTM(D, H, forget_bias=1.0, seed=0),
                                  lambda: nn.GRU(D, H, seed=0), lambda: nn.TemporalAffine(D, 7, seed=0)],
                         ids=["rnn", "lstm", "gru", "temporal_affine"])
def test_sequence_modules_pass_check_module(make, rng):
    check_module(make(), rng.standard_normal((2, 3, D))).assert_ok(1e-7)


def test_lstm_module_matches_torch_after_loading_its_weights(rng):
    torch.manual_seed(3)
    ref = torch.nn.LSTM(D, H, batch_first=True).double()
    mod = nn.LSTM(D, H, seed=0)
    Wx, Wh, b = _rec.lstm_weights_from_torch(
        *(p.detach().numpy() for p in (ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0)))
    mod.load_state_dict({"Wx": Wx, "Wh": Wh, "b": b})
    x = rng.standard_normal((N, T, D))
    out, (hn, cn) = ref(torch.tensor(x))
    np.testing.assert_allclose(mod(x), out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(mod.last_c, cn[0].detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_carrying_last_state_across_windows_equals_one_long_pass(cls, rng):
    mod = cls(D, H, seed=0)
    x = rng.standard_normal((2, 8, D))
    full = mod(x)
    first = mod(x[:, :5])
    state = {"h0": mod.last_h} if cls is not nn.LSTM else {"h0": mod.last_h, "c0": mod.last_c}
    second = mod(x[:, 5:], **state)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), full, atol=1e-13)


def test_module_gradients_accumulate_until_zero_grad(rng):
    mod = nn.GRU(D, H, seed=0)
    x, dh = rng.standard_normal((2, 3, D)), rng.standard_normal((2, 3, H))
    mod.zero_grad()
    mod(x)
    mod.backward(dh)
    once = {k: g.copy() for k, g in mod.grads.items()}
    mod(x)
    mod.backward(dh)
    for k, g in mod.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], atol=1e-13)


def test_embedding_module_accumulates_and_returns_no_input_gradient():
    emb = nn.Embedding(4, 2, seed=0)
    emb.zero_grad()
    out = emb(np.array([[3, 3]]))
    assert out.shape == (1, 2, 2)
    assert emb.backward(np.ones((1, 2, 2))) is None
    np.testing.assert_array_equal(emb.grads["W"], [[0, 0], [0, 0], [0, 0], [2, 2]])


def test_module_reprs_show_sizes():
    assert repr(nn.LSTM(3, 4, forget_bias=1.0)) == "LSTM(input_size=3, hidden_size=4, forget_bias=1)"
    assert repr(nn.GRU(3, 4)) == "GRU(input_size=3, hidden_size=4)"
    assert repr(nn.Embedding(10, 4)) == "Embedding(10, 4)"


# ----------------------------------------------------------------------------- bad input
def test_wrong_hidden_size_of_h0_names_expected_shape(rng):
    x = rng.standard_normal((N, T, D))
    with pytest.raises(ValueError, match=r"h0 must have shape \(3, 6\)"):
        _rec.lstm_forward(x, np.zeros((N, H + 1)), *weights(rng, 4))


def test_recurrent_matrix_of_wrong_size_is_rejected(rng):
    Wx, Wh, b = weights(rng, 4)
    with pytest.raises(ValueError, match=r"Wh must have shape \(H, 4\*H\)"):
        _rec.lstm_forward(rng.standard_normal((N, T, D)), np.zeros((N, H)), Wx, Wh[:, :-4], b)
    with pytest.raises(ValueError, match="Wx must have shape"):
        _rec.rnn_forward(rng.standard_normal((N, T, D)), np.zeros((N, H)), Wx, Wh[:, :H], b[:H])


def test_input_feature_size_mismatch_is_rejected(rng):
    with pytest.raises(ValueError, match="D=5 features"):
        _rec.gru_forward(rng.standard_normal((N, T, D + 1)), np.zeros((N, H)), *weights(rng, 3), np.zeros(3 * H))


@pytest.mark.parametrize("fn,gates", [(_rec.rnn_forward, 1), (_rec.lstm_forward, 4)])
def test_sequence_length_zero_is_rejected(fn, gates, rng):
    with pytest.raises(ValueError, match="T=0"):
        fn(np.zeros((N, 0, D)), np.zeros((N, H)), *weights(rng, gates))


def test_module_rejects_sequence_length_zero():
    with pytest.raises(ValueError, match="T=0"):
        nn.GRU(D, H, seed=0)(np.zeros((2, 0, D)))


def test_token_ids_out_of_range_are_rejected():
    with pytest.raises(ValueError, match=r"\[0, 4\).*got values in \[0, 4\]"):
        _rec.word_embedding_forward(np.array([[0, 4]]), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        _rec.temporal_softmax_loss(np.zeros((1, 2, 3)), np.array([[0, -1]]))
    with pytest.raises(TypeError, match="integer token ids"):
        nn.Embedding(4, 2)(np.array([[0.5]]))


def test_loss_mask_of_wrong_shape_or_dtype_is_rejected():
    x, y = np.zeros((2, 3, 4)), np.zeros((2, 3), dtype=int)
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 3\)"):
        _rec.temporal_softmax_loss(x, y, np.ones((3, 2), dtype=bool))
    with pytest.raises(TypeError, match="boolean"):
        _rec.temporal_softmax_loss(x, y, np.ones((2, 3)))


def test_upstream_gradient_of_wrong_shape_is_rejected(rng):
    h, cache = _rec.rnn_forward(rng.standard_normal((N, T, D)), np.zeros((N, H)), *weights(rng, 1))
    with pytest.raises(ValueError, match="dh must have shape"):
        _rec.rnn_backward(h[:, :-1], cache)


# ----------------------------------------------------------------------------- the Trainer's sequence path
def test_sequence_model_trains_through_the_trainer_with_gradient_clipping():
    from i2dl_lab.nn.optim import Adam
    from i2dl_lab.train import Trainer

    text = np.tile([0, 1, 2, 3, 2, 1], 300)  # the next token is determined by the previous two
    X = np.stack([text[i : i + 12] for i in range(0, 1500, 3)])
    Y = np.stack([text[i + 1 : i + 13] for i in range(0, 1500, 3)])
    model = nn.Sequential(nn.Embedding(4, 8, seed=0), nn.LSTM(8, 16, seed=1), nn.TemporalAffine(16, 4, seed=2))
    trainer = Trainer(model, _rec.temporal_softmax_loss, Adam(model, lr=1e-2), (X, Y), epochs=3, batch_size=32,
                      max_grad_norm=1.0, progress=False,
                      metric=lambda scores, y: float(np.mean(scores.argmax(-1) == y)))
    history = trainer.fit()
    assert history["loss"][-1] < 0.2 * history["loss"][0]
    assert history["train_metric"][-1] > 0.95  # a custom metric is logged as train_metric


def test_token_ids_stored_as_whole_floats_are_accepted():
    out, _ = _rec.word_embedding_forward(np.array([[2.0, 0.0]]), np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(out, [[[4, 5], [0, 1]]])


@pytest.mark.parametrize("n, t", [(1, 4), (3, 1), (1, 1)])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_sequence_backward_neither_mutates_dh_nor_aliases_outputs_when_n_or_t_is_1(kind, n, t):
    """With N or T equal to 1 a transpose is already contiguous: a lazy copy would alias."""
    rng = np.random.default_rng(3)
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    x, h0 = rng.standard_normal((n, t, D)), rng.standard_normal((n, H))
    Wx, Wh, b = weights(rng, gates)
    fwd, bwd = {"rnn": (_rec.rnn_forward, _rec.rnn_backward), "lstm": (_rec.lstm_forward, _rec.lstm_backward),
                "gru": (_rec.gru_forward, _rec.gru_backward)}[kind]
    args = (x, h0, Wx, Wh, b) + ((rng.standard_normal(3 * H),) if kind == "gru" else ())
    h, cache = fwd(*args)
    h_before = h.copy()
    h *= 0.0  # a caller scribbling on the output must not change what backward sees
    dh = rng.standard_normal((n, t, H))
    dh_before = dh.copy()
    first = bwd(dh, cache)
    second = bwd(dh, cache)
    np.testing.assert_array_equal(dh, dh_before)
    for a, b_ in zip(first, second):
        np.testing.assert_array_equal(a, b_)
    h_again, _ = fwd(*args)
    np.testing.assert_array_equal(h_again, h_before)
