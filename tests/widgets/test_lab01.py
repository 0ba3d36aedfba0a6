"""Lab 01 widget: gradient descent on a line fit, driven by a learning-rate slider."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from i2dl_lab.classic import design_matrix
from i2dl_lab.widgets import lab01, slider_plot


def test_moderate_learning_rate_converges_to_the_normal_equation():
    fig, data = lab01.plot_gd_fit(lr=0.1, steps=200)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert not data["diverged"]
    np.testing.assert_allclose(data["theta_gd"], data["theta_ne"], atol=1e-6)


def test_tiny_learning_rate_is_still_far_from_the_optimum():
    _, data = lab01.plot_gd_fit(lr=0.001, steps=60)
    assert not data["diverged"]
    assert np.linalg.norm(data["theta_gd"] - data["theta_ne"]) > 0.5


def test_learning_rate_above_the_stability_bound_diverges():
    x, _ = lab01.make_line_data(n=60, seed=0)
    X = design_matrix(x)
    bound = 2 / np.linalg.eigvalsh(2 * X.T @ X / len(X)).max()
    _, below = lab01.plot_gd_fit(lr=0.95 * bound, steps=300)
    _, above = lab01.plot_gd_fit(lr=1.05 * bound, steps=300)
    assert not below["diverged"] and above["diverged"]


def test_make_line_data_rejects_fewer_than_two_points():
    with pytest.raises(ValueError, match="at least 2"):
        lab01.make_line_data(n=1)


def test_slider_redraws_with_the_new_learning_rate():
    box = lab01.lr_explorer(steps=20)
    slider = box.controls["lr"]
    assert slider.description == "learning rate"
    slider.value = 0.9
    fig, data = box.redraw()
    assert data["diverged"]


def test_slider_plot_calls_update_with_every_control_value():
    import ipywidgets as widgets

    calls = []

    def update(a, b):
        calls.append((a, b))
        return Figure()

    a, b = widgets.FloatSlider(value=1.0), widgets.IntSlider(value=3)
    slider_plot(update, a=a, b=b)
    b.value = 5
    assert calls == [(1.0, 3), (1.0, 5)]
