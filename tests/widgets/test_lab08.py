"""Update functions of lab 08, exercised without a browser."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from i2dl_lab.widgets import lab08  # noqa: E402


def test_pca_finds_the_direction_of_largest_variance():
    rng = np.random.default_rng(0)
    X = np.zeros((200, 3))
    X[:, 1] = 10 * rng.standard_normal(200)  # dominant axis
    X[:, 2] = rng.standard_normal(200)
    Z = lab08.pca_2d(X)
    # the first coordinate follows the dominant column (up to the tiny sample correlation)
    assert abs(np.corrcoef(Z[:, 0], X[:, 1])[0, 1]) > 0.999
    assert Z[:, 0].var() > Z[:, 1].var()


def test_pca_signs_are_stable_and_bad_shapes_rejected():
    X = np.random.default_rng(1).standard_normal((30, 4))
    np.testing.assert_allclose(lab08.pca_2d(X), lab08.pca_2d(X.copy()))
    np.testing.assert_allclose(np.abs(lab08.pca_2d(-X)), np.abs(lab08.pca_2d(X)), atol=1e-9)
    assert lab08.pca_2d(X[:, :1]).shape == (30, 2)
    with pytest.raises(ValueError, match="features"):
        lab08.pca_2d(np.zeros(5))


def test_class_separation_grows_when_classes_move_apart():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 50)
    noise = rng.standard_normal((100, 2))
    close = noise + np.outer(y, [0.5, 0])
    far = noise + np.outer(y, [5.0, 0])
    assert lab08.class_separation(far, y) > 10 * lab08.class_separation(close, y)


def test_feature_space_figure_plots_every_point():
    X = np.random.default_rng(3).standard_normal((40, 6))
    y = np.arange(40) % 4
    fig, Z = lab08.feature_space_figure({"a": X}, y, "a")
    assert isinstance(fig, Figure) and Z.shape == (40, 2)
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets(), Z)
    with pytest.raises(ValueError, match="unknown"):
        lab08.feature_space_figure({"a": X}, y, "b")
    with pytest.raises(ValueError, match="labels"):
        lab08.feature_space_figure({"a": X}, y[:3], "a")


def test_comparison_figure_draws_one_bar_per_method():
    fig, acc = lab08.comparison_figure({"scratch": 0.6, "transfer": 0.9}, {"scratch": 1.0})
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([0.6, 0.9]) and acc == {"scratch": 0.6, "transfer": 0.9}
    with pytest.raises(ValueError):
        lab08.comparison_figure({})


def test_feature_space_widget_switches_sets():
    pytest.importorskip("ipywidgets")
    rng = np.random.default_rng(4)
    sets = {"a": rng.standard_normal((10, 3)), "b": rng.standard_normal((10, 5))}
    box = lab08.feature_space_widget(sets, np.arange(10) % 2)
    box.controls["name"].value = "b"
    _, Z = box.redraw()
    np.testing.assert_allclose(Z, lab08.pca_2d(sets["b"]))
