"""Lab 04 widget: six optimizers racing on 2-D surfaces, driven by learning-rate/momentum/beta sliders."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from i2dl_lab.widgets import lab04


@pytest.mark.parametrize("surface", sorted(lab04.SURFACES))
def test_surface_gradients_match_centred_differences(surface, rng):
    for _ in range(3):
        p = rng.uniform(-1.5, 1.5, size=2)
        _, g = lab04.surface_loss(surface, p)
        h = 1e-6
        num = [(lab04.surface_loss(surface, p + h * e)[0] - lab04.surface_loss(surface, p - h * e)[0]) / (2 * h)
               for e in np.eye(2)]
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_every_optimizer_gets_a_path_from_the_same_start():
    data = lab04.trajectories(steps=10)
    assert set(data) == set(lab04.OPTIMIZERS)
    start = lab04.SURFACES["ravine"][1]
    for d in data.values():
        assert d["path"].shape == (11, 2)
        np.testing.assert_allclose(d["path"][0], start)


def test_momentum_beats_plain_sgd_on_the_ravine():
    data = lab04.trajectories(lr=0.1, momentum=0.9, steps=100, surface="ravine")
    assert data["Momentum"]["loss"][-1] < 1e-2 * data["SGD"]["loss"][-1]


def test_zero_momentum_reduces_momentum_to_sgd():
    data = lab04.trajectories(lr=0.05, momentum=0.0, steps=30, optimizers=("SGD", "Momentum"))
    np.testing.assert_allclose(data["Momentum"]["path"], data["SGD"]["path"], atol=1e-12)


def test_adaptive_methods_escape_the_saddle_faster_than_sgd():
    data = lab04.trajectories(lr=0.05, steps=40, surface="saddle")
    assert data["Adam"]["loss"][-1] < data["SGD"]["loss"][-1] - 0.5


def test_too_large_learning_rate_diverges_and_stops_with_nan_padding():
    data = lab04.trajectories(lr=0.9, momentum=0.0, steps=200, surface="ravine", optimizers=("SGD",))
    loss = data["SGD"]["loss"]
    assert np.isnan(loss[-1]) and np.isfinite(loss[0])


def test_unknown_surface_is_rejected():
    with pytest.raises(ValueError, match="surface must be one of"):
        lab04.trajectories(surface="bowl")


def test_plot_returns_contour_and_convergence_axes():
    fig, data = lab04.plot_trajectories(steps=20, surface="rosenbrock", lr=0.01)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].get_legend().get_texts()) == len(lab04.OPTIMIZERS)


def test_first_slider_is_the_learning_rate_and_redraws():
    import ipywidgets as widgets

    box = lab04.optimizer_explorer(steps=20)
    sliders = [c for row in box.children[:2] for c in row.children if isinstance(c, widgets.FloatLogSlider)
               or isinstance(c, widgets.FloatSlider)]
    assert sliders[0].description == "learning rate"
    box.controls["lr"].value = 0.01
    fig, data = box.redraw()
    assert "lr=0.01" in fig.axes[0].get_title()


def test_rmsprop_first_step_is_lr_over_sqrt_one_minus_decay_while_adam_moves_lr():
    # the lab's point about Adam's bias correction: RMSProp's zero-started cache makes its first step
    # lr / sqrt(1 - rho) long in every coordinate; Adam's corrected first step is lr
    data = lab04.trajectories(lr=0.1, beta2=0.999, steps=1, surface="ravine", optimizers=("RMSProp", "Adam"))
    rms_step = np.abs(np.diff(data["RMSProp"]["path"], axis=0))[0]
    adam_step = np.abs(np.diff(data["Adam"]["path"], axis=0))[0]
    np.testing.assert_allclose(rms_step, 0.1 / np.sqrt(1 - 0.999), rtol=1e-5)
    np.testing.assert_allclose(adam_step, 0.1, rtol=1e-5)


def _first_step_past(path, y=1.0):
    above = np.flatnonzero(path[:, 1] > y)
    return int(above[0]) if above.size else None


def test_sgd_lingers_at_the_saddle_long_after_momentum_and_adam_have_left():
    data = lab04.trajectories(lr=0.05, momentum=0.9, steps=100, surface="saddle",
                              optimizers=("SGD", "Momentum", "Adam"))
    sgd, mom, adam = (_first_step_past(data[n]["path"]) for n in ("SGD", "Momentum", "Adam"))
    assert None not in (sgd, mom, adam)
    assert sgd > 2 * mom and sgd > 2 * adam
