"""Lab 00 widget: spread of minibatch means against the batch size."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from i2dl_lab.widgets import lab00


@pytest.mark.parametrize("batch_size", [1, 16, 256])
def test_spread_of_batch_means_follows_one_over_sqrt_b(batch_size):
    d = lab00.batch_means(batch_size, n_batches=3000)
    predicted = d["population_std"] / np.sqrt(batch_size)
    assert d["std_of_means"] == pytest.approx(predicted, rel=0.08)


def test_batch_means_are_centred_on_the_population_mean():
    d = lab00.batch_means(64, n_batches=3000)
    assert abs(d["means"].mean() - d["population_mean"]) < 0.01


def test_same_seed_same_batches():
    a = lab00.batch_means(8, n_batches=50, seed=3)["means"]
    b = lab00.batch_means(8, n_batches=50, seed=3)["means"]
    np.testing.assert_array_equal(a, b)


def test_batch_size_outside_the_population_is_rejected():
    with pytest.raises(ValueError, match="batch_size must be between 1"):
        lab00.batch_means(0)


def test_plot_title_reports_measured_and_predicted_spread():
    fig, d = lab00.plot_batch_noise(batch_size=4, n_batches=200)
    assert isinstance(fig, Figure)
    assert "B = 4" in fig.axes[0].get_title()


def test_slider_redraws_for_the_chosen_batch_size():
    box = lab00.batch_size_explorer()
    box.controls["batch_size"].value = 256
    fig, d = box.redraw()
    assert "B = 256" in fig.axes[0].get_title()
