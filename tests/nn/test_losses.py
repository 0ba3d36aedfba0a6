"""Losses: numerical gradients, torch agreement, stability at logits of 1e4, validation."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812

from i2dl_lab.gradcheck import eval_numerical_gradient, rel_error
from i2dl_lab.nn import losses


def numeric_grad(loss_fn, x, y):
    return eval_numerical_gradient(lambda v: loss_fn(v, y)[0], x.copy())


def t(a, grad=True):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def torch_loss_and_grad(fn, x, y):
    xt = t(x)
    loss = fn(xt, y)
    loss.backward()
    return loss.item(), xt.grad.numpy()


# ----------------------------------------------------------------------------- regression
def regression_pair(rng, shape=(4, 3), gap=0.05):
    pred = rng.standard_normal(shape)
    target = rng.standard_normal(shape)
    close = np.abs(pred - target) < gap  # |.| has a kink where pred == target
    pred[close] += 3 * gap
    return pred, target


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_regression_loss_gradient_matches_centred_differences(name, rng):
    fn = getattr(losses, name)
    pred, target = regression_pair(rng)
    _, dx = fn(pred, target)
    assert rel_error(dx, numeric_grad(fn, pred, target)) < 1e-7


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_regression_loss_matches_torch(name, rng):
    fn = getattr(losses, name)
    pred, target = regression_pair(rng, (2, 3, 4))
    loss, dx = fn(pred, target)
    tloss, tdx = torch_loss_and_grad(lambda p, y: getattr(TF, name)(p, torch.tensor(y)), pred, target)
    assert loss == pytest.approx(tloss, rel=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=1e-12)


def test_mse_known_value():
    loss, dx = losses.mse_loss(np.array([[1.0, 3.0]]), np.array([[0.0, 0.0]]))
    assert loss == 5.0  # (1 + 9) / 2
    np.testing.assert_array_equal(dx, [[1.0, 3.0]])  # 2 * diff / 2


def test_l1_subgradient_is_zero_where_prediction_equals_target():
    _, dx = losses.l1_loss(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    np.testing.assert_array_equal(dx, [0.0, 0.5])


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "bce_loss"])
def test_elementwise_loss_rejects_shape_mismatch(name):
    with pytest.raises(ValueError, match=r"same shape, got pred \(2, 3\) and target \(3, 2\)"):
        getattr(losses, name)(np.zeros((2, 3)), np.zeros((3, 2)))


def test_loss_keeps_float32_gradient(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    for loss, dx in (
        losses.mse_loss(x, np.zeros_like(x)),
        losses.bce_loss(x, np.ones_like(x)),
        losses.softmax_loss(x, np.array([0, 1, 3])),
        losses.svm_loss(x, np.array([0, 1, 3])),
    ):
        assert isinstance(loss, float) and dx.dtype == np.float32


# ----------------------------------------------------------------------------- BCE
def test_bce_gradient_matches_centred_differences(rng):
    z, target = rng.standard_normal((5, 2)), rng.uniform(0, 1, (5, 2))
    _, dx = losses.bce_loss(z, target)
    assert rel_error(dx, numeric_grad(losses.bce_loss, z, target)) < 1e-7


def test_bce_matches_torch_with_logits(rng):
    z = rng.standard_normal((6, 3)) * 5
    target = (rng.uniform(size=(6, 3)) > 0.5).astype(float)
    loss, dx = losses.bce_loss(z, target)
    tloss, tdx = torch_loss_and_grad(lambda p, y: TF.binary_cross_entropy_with_logits(p, torch.tensor(y)), z, target)
    assert loss == pytest.approx(tloss, rel=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=1e-12)


def test_bce_is_exact_for_huge_logits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, dx = losses.bce_loss(np.array([1e4, -1e4, 1e4]), np.array([0.0, 1.0, 1.0]))
    assert loss == pytest.approx(2e4 / 3, rel=1e-15)  # two confident mistakes of 1e4, one correct
    np.testing.assert_allclose(dx, np.array([1.0, -1.0, 0.0]) / 3)


def test_bce_rejects_targets_outside_unit_interval():
    with pytest.raises(ValueError, match=r"target must lie in \[0, 1\], got values in \[-1.0, 2.0\]"):
        losses.bce_loss(np.zeros(2), np.array([-1.0, 2.0]))


# ----------------------------------------------------------------------------- classification
def scores_away_from_hinges(rng, N=5, C=4, gap=0.05):
    """Scores where no margin x_j - x_y + 1 is within ``gap`` of 0 (the hinge)."""
    y = rng.integers(0, C, N)
    for _ in range(100):
        x = rng.standard_normal((N, C))
        m = x - x[np.arange(N), y][:, None] + 1
        m[np.arange(N), y] = 1.0
        if np.min(np.abs(m)) > gap:
            return x, y
    raise AssertionError("could not draw smooth scores")


@pytest.mark.parametrize("name", ["softmax_loss", "svm_loss"])
def test_classification_loss_gradient_matches_centred_differences(name, rng):
    fn = getattr(losses, name)
    x, y = scores_away_from_hinges(rng)
    _, dx = fn(x, y)
    assert rel_error(dx, numeric_grad(fn, x, y)) < 1e-7


def test_softmax_loss_matches_torch_cross_entropy(rng):
    x, y = rng.standard_normal((6, 5)) * 3, rng.integers(0, 5, 6)
    loss, dx = losses.softmax_loss(x, y)
    tloss, tdx = torch_loss_and_grad(lambda p, yy: TF.cross_entropy(p, torch.tensor(yy)), x, y)
    assert loss == pytest.approx(tloss, rel=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=1e-10, atol=1e-15)


def test_svm_loss_is_torch_multi_margin_times_classes():
    rng = np.random.default_rng(3)
    x, y = scores_away_from_hinges(rng, N=6, C=5)
    loss, dx = losses.svm_loss(x, y)
    tloss, tdx = torch_loss_and_grad(lambda p, yy: 5 * TF.multi_margin_loss(p, torch.tensor(yy)), x, y)
    assert loss == pytest.approx(tloss, rel=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=1e-12)


def test_softmax_loss_of_uniform_scores_is_log_c():
    loss, _ = losses.softmax_loss(np.zeros((3, 10)), np.array([0, 4, 9]))
    assert loss == pytest.approx(np.log(10), rel=1e-14)


def test_softmax_loss_is_exact_for_logits_of_1e4():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wrong, dwrong = losses.softmax_loss(np.array([[1e4, 0.0]]), np.array([1]))
        right, dright = losses.softmax_loss(np.array([[1e4, 0.0]]), np.array([0]))
        tie, _ = losses.softmax_loss(np.array([[1e4, 1e4]]), np.array([0]))
    assert wrong == 1e4
    assert right == 0.0
    assert tie == pytest.approx(np.log(2), rel=1e-14)
    np.testing.assert_array_equal(dwrong, [[1.0, -1.0]])
    np.testing.assert_array_equal(dright, [[0.0, 0.0]])


def test_svm_loss_known_value_and_huge_scores():
    loss, _ = losses.svm_loss(np.array([[3.0, 1.0, 2.5]]), np.array([0]))
    assert loss == 0.5  # only class 2 violates: 2.5 - 3 + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big, dx = losses.svm_loss(np.array([[1e4, 0.0]]), np.array([1]))
    assert big == 10001.0
    np.testing.assert_array_equal(dx, [[1.0, -1.0]])


@pytest.mark.parametrize("name", ["softmax_loss", "svm_loss"])
def test_classification_loss_rejects_out_of_range_labels(name):
    with pytest.raises(ValueError, match=r"y must lie in \[0, 3\) for 3 classes, got values in \[0, 3\]"):
        getattr(losses, name)(np.zeros((2, 3)), np.array([0, 3]))


@pytest.mark.parametrize("name", ["softmax_loss", "svm_loss"])
def test_classification_loss_rejects_fractional_labels(name):
    with pytest.raises(TypeError, match="integer class labels, got dtype float64"):
        getattr(losses, name)(np.zeros((2, 3)), np.array([0.5, 1.0]))


@pytest.mark.parametrize("name", ["softmax_loss", "svm_loss"])
def test_classification_loss_rejects_label_count_mismatch(name):
    with pytest.raises(ValueError, match=r"y must have shape \(2,\).*got \(3,\)"):
        getattr(losses, name)(np.zeros((2, 3)), np.array([0, 1, 2]))


def test_classification_loss_rejects_1d_scores():
    with pytest.raises(ValueError, match=r"x must have 2 dimensions \(N, C\) class scores, got shape \(3,\)"):
        losses.softmax_loss(np.zeros(3), np.array([0]))


def test_softmax_rows_sum_to_one_for_huge_logits():
    p = losses.softmax(np.array([[1e4, -1e4, 0.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[1], 1 / 3)


@pytest.mark.parametrize("name,target,torch_fn", [
    ("mse_loss", np.array([[0.0, 1.0, -2.0], [3.0, 0.0, 0.5]]), lambda p, y: TF.mse_loss(p, torch.tensor(y))),
    ("l1_loss", np.array([[0.0, 1.0, -2.0], [3.0, 0.0, 0.5]]), lambda p, y: TF.l1_loss(p, torch.tensor(y))),
    ("bce_loss", np.array([[0.0, 1.0, 0.3], [1.0, 0.0, 0.5]]),
     lambda p, y: TF.binary_cross_entropy_with_logits(p, torch.tensor(y))),
    ("softmax_loss", np.array([2, 0]), lambda p, y: TF.cross_entropy(p, torch.tensor(y))),
    ("svm_loss", np.array([2, 0]), lambda p, y: 3 * TF.multi_margin_loss(p, torch.tensor(y))),
])
def test_every_loss_is_finite_and_matches_torch_at_scores_of_1e4(name, target, torch_fn):
    scores = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow or invalid operation fails the test
        loss, dx = getattr(losses, name)(scores, target)
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    tloss, tdx = torch_loss_and_grad(torch_fn, scores, target)
    assert loss == pytest.approx(tloss, rel=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=1e-12, atol=1e-15)
