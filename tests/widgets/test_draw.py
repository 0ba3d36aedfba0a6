"""Shared drawing of the widgets: pyplot-free figures and image grids."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from i2dl_lab.widgets.draw import figure, image_grid


def test_figure_is_pyplot_free():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = figure(figsize=(2, 3))
    assert isinstance(fig, Figure) and tuple(fig.get_size_inches()) == (2, 3)
    assert plt.get_fignums() == before


def test_image_grid_lays_out_and_validates():
    fig = image_grid(np.zeros((5, 3, 3)), ncols=2, titles=list("abcde"))
    assert len(fig.axes) == 6  # 3 rows x 2 columns, the last one switched off
    assert fig.axes[4].get_title() == "e"
    with pytest.raises(ValueError, match="shape"):
        image_grid(np.zeros((3, 3)))
