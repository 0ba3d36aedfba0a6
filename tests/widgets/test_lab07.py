"""Update functions of lab 07, exercised without a browser."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from i2dl_lab.widgets import lab07  # noqa: E402


def _tiny_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 2))


def test_collect_activations_records_the_conv_outputs_in_order():
    model = _tiny_cnn()
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    acts = lab07.collect_activations(model, x)
    assert list(acts) == ["0 (Conv2d)", "1 (ReLU)", "2 (MaxPool2d)"]
    with torch.no_grad():
        expected = model[0](torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(acts["0 (Conv2d)"], expected, rtol=1e-6)
    assert acts["2 (MaxPool2d)"].shape == (5, 3, 4, 4)
    assert np.all(acts["1 (ReLU)"] >= 0)


def test_collect_activations_leaves_the_mode_and_removes_its_hooks():
    model = _tiny_cnn().train()
    lab07.collect_activations(model, np.zeros((1, 1, 8, 8), np.float32))
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


def test_feature_maps_figure_shows_one_image():
    acts = {"conv": np.arange(2 * 20 * 3 * 3, dtype=float).reshape(2, 20, 3, 3)}
    images = np.zeros((2, 1, 3, 3))
    fig, maps = lab07.feature_maps_figure(acts, images, "conv", index=1, max_maps=4)
    assert isinstance(fig, Figure)
    np.testing.assert_array_equal(maps, acts["conv"][1])
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 5  # the input and four maps
    np.testing.assert_array_equal(drawn[2].images[0].get_array(), acts["conv"][1, 1])


def test_feature_maps_figure_draws_colour_inputs_in_colour():
    acts = {"conv": np.zeros((1, 2, 4, 4))}
    rgb = np.zeros((1, 3, 4, 4))
    rgb[0, 0] = 1.0  # pure red
    fig, _ = lab07.feature_maps_figure(acts, rgb, "conv")
    shown = np.asarray(fig.axes[0].images[0].get_array())
    assert shown.shape == (4, 4, 3)
    np.testing.assert_array_equal(shown[..., 0], 1.0)
    np.testing.assert_array_equal(shown[..., 1:], 0.0)
    grey, _ = lab07.feature_maps_figure(acts, rgb[:, :1], "conv")
    assert np.asarray(grey.axes[0].images[0].get_array()).shape == (4, 4)


def test_feature_maps_figure_rejects_bad_requests():
    acts = {"conv": np.zeros((2, 3, 4, 4)), "flat": np.zeros((2, 3))}
    with pytest.raises(ValueError, match="unknown layer"):
        lab07.feature_maps_figure(acts, np.zeros((2, 1, 4, 4)), "pool")
    with pytest.raises(ValueError, match="index"):
        lab07.feature_maps_figure(acts, np.zeros((2, 1, 4, 4)), "conv", index=2)
    with pytest.raises(ValueError, match="N, C, H, W"):
        lab07.feature_maps_figure(acts, np.zeros((2, 1, 4, 4)), "flat")


def test_speed_table_reports_speedups_against_the_slowest():
    fig, speedup = lab07.speed_table_figure({"slow": 0.02, "fast": 0.005})
    assert speedup == pytest.approx({"slow": 1.0, "fast": 4.0})
    assert len(fig.axes[0].patches) == 2
    with pytest.raises(ValueError):
        lab07.speed_table_figure({"broken": 0.0})


def test_feature_maps_widget_follows_its_controls():
    pytest.importorskip("ipywidgets")
    acts = {"a": np.random.default_rng(0).random((3, 2, 4, 4)), "b": np.ones((3, 5, 2, 2))}
    box = lab07.feature_maps_widget(acts, np.zeros((3, 1, 4, 4)))
    box.controls["layer"].value = "b"
    box.controls["index"].value = 2
    _, maps = box.redraw()
    assert maps.shape == (5, 2, 2)
