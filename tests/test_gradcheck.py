"""The gradient checker itself: it must measure correctly and must catch wrong backward passes."""

import warnings

import numpy as np
import pytest

from i2dl_lab import nn
from i2dl_lab.gradcheck import (
    GradReport,
    check_layer,
    check_module,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from i2dl_lab.nn import functional as F  # noqa: N812


def test_numerical_gradient_of_a_cubic_and_x_is_restored(rng):
    x = rng.standard_normal((3, 2))
    before = x.copy()
    grad = eval_numerical_gradient(lambda v: float(np.sum(v**3)), x)
    np.testing.assert_allclose(grad, 3 * before**2, rtol=1e-8)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_array_is_the_vector_jacobian_product(rng):
    A = rng.standard_normal((4, 3))
    x, df = rng.standard_normal(3), rng.standard_normal(4)
    grad = eval_numerical_gradient_array(lambda v: A @ v, x, df)
    np.testing.assert_allclose(grad, A.T @ df, rtol=1e-8)


def test_numerical_gradient_needs_a_float_array():
    with pytest.raises(TypeError, match="x must be a float ndarray"):
        eval_numerical_gradient(lambda v: 0.0, [1.0, 2.0])
    with pytest.raises(TypeError, match="x must be a float ndarray"):
        eval_numerical_gradient_array(lambda v: v, np.arange(3), np.ones(3))


def test_rel_error_values():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)  # 2 / 4
    assert rel_error(np.zeros(2), np.zeros(2)) == 0.0  # floor 1e-8 avoids 0/0
    assert rel_error(np.array([0.0]), np.array([1e-9])) == pytest.approx(0.1)  # 1e-9 / 1e-8
    with pytest.raises(ValueError, match=r"shapes differ, got \(2,\) and \(3,\)"):
        rel_error(np.zeros(2), np.zeros(3))


def test_check_layer_passes_a_correct_layer_and_names_gradients(rng):
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    report = check_layer(F.affine_forward, F.affine_backward, x, w, b)
    assert list(report) == ["dx", "dw", "db"]
    assert report.max_error < 1e-8
    report.assert_ok(1e-7)


def test_check_layer_catches_a_deliberately_wrong_backward(rng):
    def wrong_backward(dout, cache):
        dx, dw, db = F.affine_backward(dout, cache)
        return dx, dw, db * 1.01  # off by one percent in the bias only

    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    report = check_layer(F.affine_forward, wrong_backward, x, w, b)
    assert report["dx"] < 1e-8 and report["dw"] < 1e-8
    assert report["db"] > 1e-3 and report.worst == "db"
    with pytest.raises(AssertionError, match=r"db has relative error .* > tol 1e-07"):
        report.assert_ok(1e-7)


def test_check_layer_catches_a_forgotten_local_gradient(rng):
    def relu_backward_without_mask(dout, cache):
        return dout

    x = rng.standard_normal((3, 3))
    with pytest.raises(AssertionError, match="dx has relative error"):
        check_layer(F.relu_forward, relu_backward_without_mask, x).assert_ok()


def test_check_layer_with_param_dict_several_outputs_and_integer_inputs(rng):
    """A toy layer ``(idx, w, param) -> (w[idx] * scale, sum(w)**2, cache)``; idx is not differentiable."""

    def forward(idx, w, param):
        param["calls"] = param.get("calls", 0) + 1  # mutation must not leak between evaluations
        return w[idx] * param["scale"], np.sum(w) ** 2, (idx, w, param["scale"])

    def backward(d1, d2, cache):
        idx, w, scale = cache
        dw = np.zeros_like(w)
        np.add.at(dw, idx, d1 * scale)
        return dw + 2 * np.sum(w) * d2

    param = {"scale": 3.0}
    report = check_layer(forward, backward, np.array([0, 2, 2]), rng.standard_normal(4), param=param)
    assert list(report) == ["dw"]
    report.assert_ok(1e-7)
    assert param == {"scale": 3.0}


def test_check_layer_rejects_a_backward_with_the_wrong_number_of_gradients(rng):
    with pytest.raises(ValueError, match="backward returned 2 gradients but forward has 3 float array inputs"):
        check_layer(F.affine_forward, lambda d, c: F.affine_backward(d, c)[:2],
                    rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4))


def test_check_layer_runs_in_float64_for_float32_inputs(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    check_layer(F.tanh_forward, F.tanh_backward, x).assert_ok(1e-7)


def test_report_nan_fails_and_empty_report_passes():
    with pytest.raises(AssertionError, match="dw has relative error nan"):
        GradReport(dx=1e-10, dw=float("nan")).assert_ok()
    GradReport().assert_ok()
    assert GradReport().max_error == 0.0


def test_check_module_restores_parameters_and_gradients(rng):
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.Tanh(), nn.Linear(4, 2, seed=1))
    params = {k: p.copy() for k, p in model.params.items()}
    for g in model.grads.values():
        g[...] = 7.0
    check_module(model, rng.standard_normal((2, 3))).assert_ok(1e-7)
    for k, p in model.params.items():
        np.testing.assert_array_equal(p, params[k])
    assert all((g == 7.0).all() for g in model.grads.values())


def test_check_module_catches_a_wrong_parameter_gradient(rng):
    class HalfBiasGrad(nn.Linear):
        def backward(self, dout):
            dx = super().backward(dout)
            self.grads["b"] *= 0.5
            return dx

    report = check_module(nn.Sequential(HalfBiasGrad(3, 2, seed=0), nn.Tanh()), rng.standard_normal((2, 3)))
    assert report.worst == "0.b"
    with pytest.raises(AssertionError, match="0.b has relative error"):
        report.assert_ok()


def test_check_module_refuses_float32_parameters(rng):
    with pytest.raises(ValueError, match="needs float64 parameters.*'W' has dtype float32"):
        check_module(nn.Linear(2, 2, seed=0, dtype=np.float32), rng.standard_normal((1, 2)))


def test_check_module_through_batchnorm_restores_the_running_statistics(rng):
    # no bias before batch norm: its true gradient is 0, and a relative error against 0 is only noise
    model = nn.Sequential(nn.Linear(3, 4, bias=False, seed=0), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2, seed=1))
    model.train()
    x = rng.standard_normal((6, 3))
    before = {k: b.copy() for k, b in model.buffers.items()}
    report = check_module(model, x)
    assert {"0.W", "1.gamma", "1.beta", "3.W"} <= set(report)
    report.assert_ok(1e-7)
    for k, b in model.buffers.items():
        np.testing.assert_array_equal(b, before[k], err_msg=k)
    model(x)  # the check above ran hundreds of such passes, each of which moves the statistics
    assert not np.array_equal(model.buffers["1.running_mean"], before["1.running_mean"])


def test_numerical_gradient_of_float32_warns_about_precision(rng):
    x32 = rng.standard_normal(4).astype(np.float32)
    with pytest.warns(UserWarning, match="float32 array: expect relative errors near 1e-2.*float64"):
        eval_numerical_gradient(lambda v: float(np.sum(v**3)), x32)
    with pytest.warns(UserWarning, match="float32"):
        eval_numerical_gradient_array(lambda v: v * 2, x32, np.ones(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # float64: silent
        eval_numerical_gradient(lambda v: float(np.sum(v**3)), x32.astype(np.float64))


def test_gradient_error_floors_only_entries_far_below_the_gradients_scale():
    from i2dl_lab.gradcheck import gradient_error

    g = np.array([2.0, -1.0, 3e-6])
    # rounding-level noise on an entry a million times smaller than the largest: not a bug
    assert gradient_error(g, g + np.array([0.0, 0.0, 1e-12])) < 1e-9
    # but a wrong sign on that small entry is still far above the pass mark
    assert gradient_error(g, g * np.array([1, 1, -1])) > 1e-6
    # and entries near the gradient's scale keep the plain relative error
    wrong = g * np.array([1.0, 1.0 + 1e-5, 1.0])
    assert gradient_error(g, wrong) == pytest.approx(rel_error(g, wrong))
