"""Lab 03 widget: the gate-pattern graph f = (x*y + max(y, z)) * w."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from i2dl_lab.widgets import lab03


def _f(v):
    x, y, z, w = v
    return (x * y + max(y, z)) * w


@pytest.mark.parametrize("point", [(2.0, -1.0, 0.5, 3.0), (1.0, 2.0, 5.0, -1.0), (-0.7, 1.3, 0.2, 0.4)])
def test_hand_backward_matches_centred_differences(point):
    grads = lab03.gate_graph(*point)["grads"]
    v = np.array(point)
    h = 1e-6
    for i, name in enumerate("xyzw"):
        e = np.zeros(4)
        e[i] = h
        num = (_f(v + e) - _f(v - e)) / (2 * h)
        assert grads[name] == pytest.approx(num, abs=1e-6), name


def test_max_gate_routes_all_gradient_to_the_winner():
    g = lab03.gate_graph(1.0, 2.0, 5.0, -1.0)["grads"]
    assert g["z"] == -1.0  # z won the max
    assert g["y"] == pytest.approx(1.0 * -1.0)  # only the mul share reaches y


def test_copy_gate_adds_both_uses_of_y():
    g = lab03.gate_graph(3.0, 2.0, -5.0, 2.0)["grads"]
    assert g["y"] == pytest.approx(3.0 * 2.0 + 2.0)


def test_plot_returns_a_figure_and_the_same_numbers():
    fig, data = lab03.plot_gate_graph(x=1.0, y=2.0, z=5.0, w=-1.0)
    assert isinstance(fig, Figure)
    assert data["values"]["f"] == pytest.approx(-7.0)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "f = -7.00" in texts


def test_sliders_redraw_with_the_new_inputs():
    box = lab03.gate_explorer()
    box.controls["w"].value = 2.0
    _, data = box.redraw()
    assert data["values"]["w"] == 2.0
    assert data["grads"]["c"] == 2.0
