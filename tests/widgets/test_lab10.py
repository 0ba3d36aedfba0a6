"""Update functions of lab 10, exercised without a browser."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from i2dl_lab.sequence.gradient_flow import gradient_norms_through_time, lstm_gradient_norms  # noqa: E402
from i2dl_lab.widgets import lab10  # noqa: E402


def test_temperature_one_is_the_plain_softmax():
    logits = np.array([2.0, 1.0, 0.0, -1.0])
    p = lab10.softmax_with_temperature(logits, 1.0)
    e = np.exp(logits)
    np.testing.assert_allclose(p, e / e.sum(), rtol=1e-12)


def test_low_temperature_approaches_argmax_and_high_temperature_uniform():
    logits = np.array([0.3, 2.0, -1.0, 1.9])
    cold = lab10.softmax_with_temperature(logits, 1e-3)
    hot = lab10.softmax_with_temperature(logits, 1e4)
    assert cold.argmax() == 1 and cold[1] > 0.999
    np.testing.assert_allclose(hot, np.full(4, 0.25), atol=1e-3)


def test_temperature_is_stable_for_huge_logits():
    p = lab10.softmax_with_temperature(np.array([1e4, 0.0, -1e4]), 0.01)
    assert np.all(np.isfinite(p)) and p[0] == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf, np.nan])
def test_temperature_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match="temperature"):
        lab10.softmax_with_temperature(np.zeros(3), bad)


def test_entropy_of_uniform_and_one_hot():
    assert lab10.entropy_bits(np.full(8, 1 / 8)) == pytest.approx(3.0)
    assert lab10.entropy_bits(np.array([0.0, 1.0, 0.0])) == 0.0


def test_temperature_figure_returns_probabilities_and_checks_vocab():
    fig, probs = lab10.temperature_figure(np.array([1.0, 0.0, 3.0]), 0.5, vocab="abc")
    assert isinstance(fig, Figure)
    assert probs.sum() == pytest.approx(1.0) and probs.argmax() == 2
    # the bars are sorted by score: the first label is the most likely symbol
    assert fig.axes[0].get_xticklabels()[0].get_text() == "c"
    with pytest.raises(ValueError, match="vocab"):
        lab10.temperature_figure(np.zeros(3), 1.0, vocab="ab")


def test_gradient_vanishes_below_one_and_does_not_above():
    small = gradient_norms_through_time(0.5, steps=30, hidden=16)
    large = gradient_norms_through_time(2.5, steps=30, hidden=16)
    assert small.shape == (30,)
    # norms[-1] is where the unit gradient enters; far back it is tiny for ||W|| = 0.5
    assert small[0] < 1e-6 * small[-1]
    assert large[0] > 0.1 * large[-1]


def test_gradient_norm_never_exceeds_the_lecture_bound():
    # ||dh_t/dh_k|| <= (gamma_W * gamma_phi)^(t-k) with gamma_phi = 1 for tanh
    for scale in (0.7, 1.3):
        norms = gradient_norms_through_time(scale, steps=20, hidden=8, seed=3)
        k = np.arange(20)[::-1]
        assert np.all(norms <= norms[-1] * scale ** k * (1 + 1e-9) + 1e-300)


def test_gradient_flow_figure_draws_the_norms():
    fig, norms = lab10.gradient_flow_figure(1.0, steps=12, hidden=8, clip=5.0)
    assert isinstance(fig, Figure)
    line = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), norms)


def test_lstm_forget_bias_keeps_the_gradient_alive():
    closed = lstm_gradient_norms(40, 16, forget_bias=-2.0)
    open_ = lstm_gradient_norms(40, 16, forget_bias=4.0)
    assert open_[0] / open_[-1] > 1e3 * closed[0] / closed[-1]


def test_memory_figure_curves_start_at_one():
    fig, curves = lab10.memory_figure(steps=15, hidden=8, forget_biases=(0.0, 2.0))
    assert len(curves) == 3 and len(fig.axes[0].get_lines()) == 3
    for c in curves.values():
        assert c[0] == pytest.approx(1.0)


def test_sampling_widget_redraws_with_the_slider():
    widgets = pytest.importorskip("ipywidgets")  # noqa: F841
    calls = []

    def sample_fn(t):
        calls.append(t)
        return f"text at {t}"

    box = lab10.sampling_widget(sample_fn, lambda p: np.array([0.0, 1.0, 2.0]), "ab", "xyz")
    box.controls["temperature"].value = 0.5
    fig, text = box.redraw()
    assert text == "text at 0.5" and calls[-1] == 0.5
    assert isinstance(fig, Figure)


def test_gradient_flow_widget_has_a_norm_slider():
    pytest.importorskip("ipywidgets")
    box = lab10.gradient_flow_widget(steps=10, hidden=4)
    box.controls["scale"].value = 2.0
    fig, norms = box.redraw()
    assert norms.shape == (10,)
