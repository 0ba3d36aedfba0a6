"""Update functions of lab 06, exercised without a browser."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from i2dl_lab.widgets import lab06  # noqa: E402

EXAM_IMAGE = np.array([[6, 3, 4, 4, 5, 0, 3], [4, 7, 4, 0, 4, 0, 4], [7, 0, 2, 3, 4, 5, 2],
                       [3, 7, 5, 0, 3, 0, 7], [5, 8, 1, 2, 5, 4, 2], [8, 0, 1, 0, 6, 0, 0],
                       [6, 4, 1, 3, 0, 4, 5]], dtype=float)


def test_horizontal_edge_on_the_exam_image_matches_a_hand_computation():
    out = lab06.apply_kernel(EXAM_IMAGE, "horizontal edge")
    assert out.shape == (5, 5)
    # each entry: sum of the window's top row minus the sum of its bottom row
    for i in range(5):
        for j in range(5):
            assert out[i, j] == EXAM_IMAGE[i, j:j + 3].sum() - EXAM_IMAGE[i + 2, j:j + 3].sum()
    assert out[0, 0] == 4 and out[3, 1] == 11


def test_stride_and_padding_change_the_output_size():
    img = np.zeros((10, 12))
    assert lab06.apply_kernel(img, "box blur", stride=1).shape == (8, 10)
    assert lab06.apply_kernel(img, "box blur", stride=1, pad=1).shape == (10, 12)
    assert lab06.apply_kernel(np.zeros((11, 11)), "box blur", stride=2).shape == (5, 5)


def test_edge_filters_ignore_flat_regions_and_blur_keeps_them():
    flat = np.full((6, 6), 0.7)
    for name in ("horizontal edge", "vertical edge", "sobel x", "laplacian"):
        np.testing.assert_allclose(lab06.apply_kernel(flat, name), 0.0, atol=1e-12)
    np.testing.assert_allclose(lab06.apply_kernel(flat, "box blur"), 0.7)


def test_to_gray_accepts_every_layout():
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 1] = 255
    g = lab06.to_gray(rgb)
    assert g.shape == (4, 5)
    np.testing.assert_allclose(g, 0.587)
    np.testing.assert_allclose(lab06.to_gray(np.moveaxis(rgb, -1, 0)), g)
    with pytest.raises(ValueError, match="image"):
        lab06.to_gray(np.zeros((2, 3, 4, 5)))


def test_filter_figure_shows_the_response():
    img = np.tile(np.linspace(0, 1, 20), (16, 1))  # brightness grows to the right
    fig, out = lab06.filter_figure(img, "vertical edge", stride=2)
    assert isinstance(fig, Figure)
    assert out.shape == (7, 9)
    # [1, 0, -1] columns: left minus right, so a ramp to the right is negative everywhere
    assert np.all(out < 0)
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), out)


def test_speed_figure_checks_lengths():
    fig = lab06.speed_figure([8, 16], {"a": [1.0, 2.0], "b": [0.1, 0.2]})
    assert len(fig.axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match="timings"):
        lab06.speed_figure([8, 16], {"a": [1.0]})


def test_filter_widget_redraws_on_change():
    pytest.importorskip("ipywidgets")
    box = lab06.filter_widget(np.random.default_rng(0).random((12, 12)))
    box.controls["kernel"].value = "sobel y"
    box.controls["stride"].value = 3
    fig, out = box.redraw()
    assert out.shape == (4, 4)
