"""Vanishing/exploding gradient helpers and deep supervision."""

import numpy as np
import pytest

from i2dl_lab.gradcheck import eval_numerical_gradient, rel_error
from i2dl_lab.nn.functional import recurrent as _rec
from i2dl_lab.nn.losses import softmax_loss
from i2dl_lab.sequence import gradient_flow as gf

SEED_W = np.full((2, 2), 3.5)  # the midterm's W_hh


# ----------------------------------------------------------------------------- spectral argument
def test_seed_matrix_has_spectral_radius_7_and_sigmoid_growth_7_over_4():
    assert gf.spectral_radius(SEED_W) == pytest.approx(7.0)
    assert gf.gradient_growth_factor(SEED_W, "sigmoid") == pytest.approx(1.75)
    assert gf.classify_gradient_flow(SEED_W, "sigmoid") == "exploding"


def test_spectral_radius_uses_absolute_eigenvalues_of_non_symmetric_matrices():
    rotation_by_90_scaled = np.array([[0.0, -2.0], [2.0, 0.0]])  # eigenvalues +-2i
    assert gf.spectral_radius(rotation_by_90_scaled) == pytest.approx(2.0)
    assert gf.spectral_radius(np.array([[-3.0, 0.0], [0.0, 1.0]])) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="square"):
        gf.spectral_radius(np.ones((2, 3)))


def test_classification_below_at_and_above_one():
    assert gf.classify_gradient_flow(0.5 * np.eye(3), "tanh") == "vanishing"
    assert gf.classify_gradient_flow(np.eye(3), "tanh") == "critical"
    assert gf.classify_gradient_flow(3.0 * np.eye(3), "sigmoid") == "vanishing"  # 3/4 < 1
    with pytest.raises(ValueError, match="activation must be one of"):
        gf.classify_gradient_flow(np.eye(2), "gelu")


def test_backprop_bound_grows_exactly_like_seven_quarters_to_the_n():
    norms = gf.backprop_bound_norms(SEED_W, 10, "sigmoid")
    np.testing.assert_allclose(norms / norms[0], 1.75 ** np.arange(11), rtol=1e-12)
    # along the other eigenvector (eigenvalue 0) the bound collapses after one step
    other = gf.backprop_bound_norms(SEED_W, 3, "sigmoid", vector=np.array([-1.0, 1.0]))
    np.testing.assert_allclose(other[1:], 0.0, atol=1e-15)


# ----------------------------------------------------------------------------- exact Jacobians
def _numerical_jacobian(f, h):
    H = h.size
    J = np.empty((H, H))
    for j in range(H):
        J[j] = eval_numerical_gradient(lambda v, j=j: f(v)[j], h.copy())
    return J


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_jacobians_match_finite_differences_of_the_forward_pass(cell, rng):
    T, D, H = 5, 3, 4
    x = rng.standard_normal((T, D))
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    params = [rng.standard_normal((D, gates * H)), rng.standard_normal((H, gates * H)), rng.standard_normal(gates * H)]
    if cell == "gru":
        params.append(rng.standard_normal(3 * H))
    J = gf.hidden_state_jacobians(cell, x, params)
    assert J.shape == (T + 1, H, H)
    np.testing.assert_array_equal(J[T], np.eye(H))
    # states h_k (and c_k) along the sequence, to restart the forward pass from step k
    fwd = {"rnn": _rec.rnn_forward, "gru": _rec.gru_forward}.get(cell)
    hs, cs = [np.zeros(H)], [np.zeros(H)]
    for t in range(T):
        if cell == "lstm":
            h, c, _ = _rec.lstm_step_forward(x[None, t], hs[-1][None], cs[-1][None], *params)
            cs.append(c[0])
        else:
            h, _ = fwd(x[None, t : t + 1], hs[-1][None], *params)
            h = h[:, -1]
        hs.append(h[0])
    for k in (0, 2, 4):
        if cell == "lstm":
            def last_h(h_k, k=k):
                return _rec.lstm_forward(x[None, k:], h_k[None], *params, c0=cs[k][None])[0][0, -1]
        else:
            def last_h(h_k, k=k):
                return fwd(x[None, k:], h_k[None], *params)[0][0, -1]
        assert rel_error(J[k], _numerical_jacobian(last_h, hs[k])) < 1e-7, k


def test_lstm_jacobian_with_respect_to_the_cell_state_matches_finite_differences(rng):
    T, D, H = 4, 3, 3
    x = rng.standard_normal((T, D))
    params = [rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)]
    J = gf.hidden_state_jacobians("lstm", x, params, wrt="c")
    h, c = np.zeros((1, H)), np.zeros((1, H))
    for t in range(T):
        h_k, c_k = h, c  # the state (h_k, c_k) before step k = t
        # perturb c_k with h_k held fixed, run the rest of the sequence
        def last_h(v, k=t, h_k=h_k):
            return _rec.lstm_forward(x[None, k:], h_k, *params, c0=v[None])[0][0, -1]
        # entries reach ~1e-6 here, where an elementwise relative error only measures h^2 noise
        np.testing.assert_allclose(J[t], _numerical_jacobian(last_h, c_k[0]), rtol=1e-6, atol=1e-9)
        h, c, _ = _rec.lstm_step_forward(x[None, t], h, c, *params)
    o = _rec.sigmoid(x[-1] @ params[0][:, 2 * H : 3 * H] + h_k[0] @ params[1][:, 2 * H : 3 * H]
                     + params[2][2 * H : 3 * H])
    np.testing.assert_allclose(J[T], np.diag(o * (1 - np.tanh(c[0]) ** 2)), atol=1e-14)  # h_T = o_T tanh(c_T)


def test_lstm_keeps_gradients_alive_where_the_rnn_loses_them():
    r = gf.compare_rnn_lstm(T=50, forget_bias=1.0, seed=0)
    assert r["rnn"][0] == pytest.approx(1.0) and r["lstm"][0] == pytest.approx(1.0)
    assert r["rnn"][50] < 1e-8  # vanished: fifty factors well below one
    assert r["lstm"][50] > 1e4 * r["rnn"][50]
    closed = gf.compare_rnn_lstm(T=50, forget_bias=0.0, seed=0)
    assert r["lstm"][30] > 10 * closed["lstm"][30]  # an open forget gate is what carries the gradient


def test_jacobian_arguments_are_validated(rng):
    with pytest.raises(ValueError, match="cell must be"):
        gf.hidden_state_jacobians("transformer", np.zeros((2, 3)), ())
    with pytest.raises(ValueError, match="LSTM only"):
        gf.hidden_state_jacobians("rnn", np.zeros((2, 3)), (), wrt="c")
    with pytest.raises(ValueError, match="T >= 1"):
        gf.hidden_state_jacobians("rnn", np.zeros((0, 3)), (np.zeros((3, 2)), np.zeros((2, 2)), np.zeros(2)))


# ----------------------------------------------------------------------------- deep supervision
def test_deep_supervision_loss_is_the_weighted_sum_with_weighted_gradients(rng):
    heads = [rng.standard_normal((4, 3)) for _ in range(3)]
    y = rng.integers(0, 3, size=4)
    total, grads, losses = gf.deep_supervision_loss(heads, y, weights=[0.2, 0.5, 1.0])
    separate = [softmax_loss(s, y)[0] for s in heads]
    assert losses == pytest.approx(separate)
    assert total == pytest.approx(0.2 * separate[0] + 0.5 * separate[1] + separate[2])
    for i, s in enumerate(heads):
        def f(v, i=i):
            return gf.deep_supervision_loss([v if j == i else heads[j] for j in range(3)], y, [0.2, 0.5, 1.0])[0]
        assert rel_error(grads[i], eval_numerical_gradient(f, s.copy())) < 1e-7


def test_deep_supervision_default_weights_and_validation(rng):
    heads = [np.zeros((2, 3)), np.zeros((2, 3))]
    total, _, _ = gf.deep_supervision_loss(heads, np.array([0, 2]))
    assert total == pytest.approx(1.3 * np.log(3))  # 0.3 for the auxiliary head, 1 for the main one
    with pytest.raises(ValueError, match="one weight per head"):
        gf.deep_supervision_loss(heads, np.array([0, 2]), weights=[1.0])
