"""Update functions of lab 09, exercised without a browser."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from i2dl_lab.widgets import lab09  # noqa: E402


def _decode_position(z):
    """A fake decoder: a 4x4 image whose top-left pixel is z1 and bottom-right pixel is z2."""
    out = np.zeros((len(z), 1, 4, 4))
    out[:, 0, 0, 0] = z[:, 0]
    out[:, 0, 3, 3] = z[:, 1]
    return out


def test_reconstruction_figure_measures_the_error_against_the_first_row():
    clean = np.zeros((3, 1, 4, 4))
    noisy = clean + 0.5
    fig, mse = lab09.reconstruction_figure({"clean": clean, "noisy": noisy}, n=3)
    assert isinstance(fig, Figure)
    assert mse == pytest.approx({"clean": 0.0, "noisy": 0.25})
    assert len(fig.axes) == 6


def test_reconstruction_figure_accepts_flat_rows_and_rejects_mismatches():
    _, mse = lab09.reconstruction_figure({"a": np.ones((2, 16)), "b": np.ones((2, 4, 4))})
    assert mse["b"] == 0.0
    with pytest.raises(ValueError, match="shape"):
        lab09.reconstruction_figure({"a": np.ones((2, 16)), "b": np.ones((2, 3, 3))})
    with pytest.raises(ValueError, match="square"):
        lab09.reconstruction_figure({"a": np.ones((2, 15))})


def test_latent_scatter_projects_wide_codes_to_two_dimensions():
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((30, 5))
    fig, pts = lab09.latent_scatter_figure(codes, np.arange(30) % 3)
    assert pts.shape == (30, 2) and "PCA" in fig.axes[0].get_title()
    _, pts2 = lab09.latent_scatter_figure(codes[:, :2], np.arange(30) % 3)
    np.testing.assert_array_equal(pts2, codes[:, :2])
    with pytest.raises(ValueError):
        lab09.latent_scatter_figure(codes, np.arange(3))


def test_decode_figure_decodes_the_chosen_point():
    fig, img = lab09.decode_figure(_decode_position, 0.7, -0.2)
    assert img[0, 0] == pytest.approx(0.7) and img[3, 3] == pytest.approx(-0.2)
    assert "0.70" in fig.axes[0].get_title()


def test_latent_grid_puts_z1_on_columns_and_large_z2_on_top():
    canvas = lab09.latent_grid(_decode_position, n=3, span=1.0)
    assert canvas.shape == (12, 12)
    tops = canvas[0::4, 0::4]    # top-left pixel of every tile = z1 of that tile
    bottoms = canvas[3::4, 3::4]  # bottom-right pixel = z2
    np.testing.assert_allclose(tops, np.tile([-1.0, 0.0, 1.0], (3, 1)))
    np.testing.assert_allclose(bottoms, np.tile([[1.0], [0.0], [-1.0]], (1, 3)))
    with pytest.raises(ValueError):
        lab09.latent_grid(_decode_position, n=0)


def test_latent_grid_figure_and_widget():
    fig, canvas = lab09.latent_grid_figure(_decode_position, n=2, span=1.0)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), canvas)
    pytest.importorskip("ipywidgets")
    box = lab09.latent_widget(_decode_position)
    box.controls["z1"].value = 1.5
    _, img = box.redraw()
    assert img[0, 0] == pytest.approx(1.5)
