"""Update functions of lab 13, exercised without a browser."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from i2dl_lab.bridge.gan import make_ring  # noqa: E402
from i2dl_lab.widgets import lab13  # noqa: E402


def test_samples_are_tiled_with_gaps():
    x = np.arange(3 * 64, dtype=float).reshape(3, 64)
    fig, grid = lab13.samples_figure(x, cols=2)
    assert grid.shape == (17, 17)
    np.testing.assert_array_equal(grid[:8, 9:], x[1].reshape(8, 8))
    assert np.isnan(grid[8]).all() and np.isnan(grid[9:, 9:]).all()
    with pytest.raises(ValueError, match="samples"):
        lab13.samples_figure(np.zeros((2, 10)))


def test_snapshot_figure_picks_the_snapshot():
    snaps = [(1, np.zeros((4, 64))), (5, np.ones((4, 64)))]
    fig, grid = lab13.snapshot_figure(snaps, 1, cols=2)
    assert np.nanmin(grid) == 1.0 and "epoch 5" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="index"):
        lab13.snapshot_figure(snaps, 2)


def test_ring_figure_counts_modes():
    real = make_ring(800, seed=0)
    one_mode = np.tile([[0.8, 0.0]], (300, 1))
    fig, covered = lab13.ring_figure(real, {"collapsed": one_mode})
    assert covered == {"data": 8, "collapsed": 1}
    assert len(fig.axes) == 2


def test_generator_loss_slopes_vanish_only_for_the_minimax_loss_early_on():
    _, data = lab13.generator_loss_figure(points=51)
    d = data["d"]
    _, g_mm = data["minimax: log(1 - D)"]
    _, g_ns = data["non-saturating: -log D"]
    np.testing.assert_allclose(np.abs(g_mm), d, rtol=1e-6)  # |d/ds log(1 - sigmoid(s))| = D
    np.testing.assert_allclose(np.abs(g_ns), 1 - d, rtol=1e-6)                     # |d/ds -log sigmoid(s)| = 1 - D
    assert abs(g_mm[0]) < 0.01 < abs(g_ns[0])
