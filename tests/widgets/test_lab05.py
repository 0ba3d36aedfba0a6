"""Lab 05 widget: activation histograms per layer for each initialisation and nonlinearity."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from i2dl_lab.widgets import lab05


@pytest.mark.parametrize("scheme, expected_std", [("xavier", np.sqrt(2 / 600)), ("kaiming", np.sqrt(2 / 300)),
                                                  ("small", 0.01), ("large", 1.0)])
def test_init_weights_have_the_scheme_standard_deviation(scheme, expected_std):
    W = lab05.init_weights(scheme, 300, 300, np.random.default_rng(0))
    assert W.shape == (300, 300)
    assert W.std() == pytest.approx(expected_std, rel=0.03)


def test_zero_init_gives_all_zero_activations():
    d = lab05.activation_stats("zero", "tanh", depth=3, n=50)
    assert np.all(d["std"] == 0)


def test_small_weights_shrink_tanh_activations_by_sqrt_width_times_std_per_layer():
    # tanh is linear near 0, so each layer multiplies the spread by 0.01 * sqrt(256) = 0.16
    std = lab05.activation_stats("small", "tanh", depth=6, width=256, n=400)["std"]
    np.testing.assert_allclose(std[2:] / std[1:-1], 0.16, rtol=0.1)
    assert std[-1] < 1e-4


def test_large_weights_saturate_tanh_units():
    a = lab05.activation_stats("large", "tanh", depth=4, n=200)["activations"][-1]
    assert np.mean(np.abs(a) > 0.99) > 0.8


def test_kaiming_keeps_relu_activations_at_a_steady_scale():
    std = lab05.activation_stats("kaiming", "relu", depth=10, n=300)["std"]
    assert 0.3 < std.min() and std.max() < 3.0


def test_unknown_scheme_and_activation_are_rejected():
    with pytest.raises(ValueError, match="init must be one of"):
        lab05.init_weights("orthogonal", 3, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="activation must be one of"):
        lab05.activation_stats("xavier", "swish", depth=1, n=5)


def test_plot_has_one_histogram_per_layer_plus_the_std_panel():
    fig, data = lab05.plot_activation_histograms("xavier", "relu", depth=5)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert len(data["activations"]) == 5


def test_dropdowns_redraw_with_the_new_scheme():
    box = lab05.init_explorer(depth=3)
    box.controls["init"].value = "large"
    box.controls["activation"].value = "relu"
    fig, data = box.redraw()
    assert "large initialisation, relu units" in fig._suptitle.get_text()
    assert data["std"][-1] > 100
