"""Update functions of lab 12, exercised without a browser."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from i2dl_lab.widgets import lab12  # noqa: E402


@pytest.mark.parametrize("k, s", [(2, 2), (4, 2), (3, 3), (1, 1)])
def test_stamps_are_even_when_the_kernel_is_a_multiple_of_the_stride(k, s):
    counts = lab12.stamp_counts(k, s, size=5)
    assert counts.shape == ((5 - 1) * s + k,) * 2
    inner = counts[k:-k, k:-k] if counts.shape[0] > 2 * k else counts
    assert len(np.unique(inner)) == 1
    assert counts.sum() == 25 * k * k  # every stamp lands somewhere


def test_uneven_stamps_make_a_checkerboard():
    fig, counts = lab12.stamp_figure(kernel_size=3, stride=2, size=4)
    assert isinstance(fig, Figure)
    centre = counts[2:-2, 2:-2]
    assert set(np.unique(centre)) == {1.0, 2.0, 4.0}
    assert "checkerboard" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="stride"):
        lab12.stamp_counts(3, 0)


def test_segmentation_figure_draws_rows_and_checks_shapes():
    rng = np.random.default_rng(0)
    images, masks = rng.random((3, 3, 8, 8)), rng.integers(0, 4, (3, 8, 8))
    fig, n = lab12.segmentation_figure(images, masks, masks, n=5)
    assert n == 3 and len(fig.axes) == 9
    np.testing.assert_allclose(fig.axes[3].images[0].get_array(), lab12.MASK_COLOURS[masks[0]])
    with pytest.raises(ValueError, match="masks"):
        lab12.segmentation_figure(images, masks[:, :4])
    with pytest.raises(ValueError, match="labels"):
        lab12.segmentation_figure(images, masks + 10)
