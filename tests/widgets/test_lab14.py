"""Update functions of lab 14, exercised without a browser."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from i2dl_lab.widgets import lab14  # noqa: E402


def test_cross_attention_picks_layer_example_head_and_cuts_padding():
    rng = np.random.default_rng(0)
    w = [rng.random((2, 3, 4, 6)), rng.random((2, 3, 4, 6))]
    src, out = [list("abc"), list("abcdef")], [list("xy"), list("wxyz")]
    fig, m = lab14.cross_attention_figure(w, src, out, example=0, layer=1, head=2)
    np.testing.assert_array_equal(m, w[1][0, 2, :2, :3])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list("abc")
    assert "layer 1, head 2" in fig.axes[0].get_title()
    _, m = lab14.cross_attention_figure(w, src, out, example=1, layer=0)
    np.testing.assert_array_equal(m, w[0][1, 0])


def test_cross_attention_rejects_bad_indices():
    w = [np.zeros((1, 1, 2, 2))]
    with pytest.raises(ValueError, match="layer"):
        lab14.cross_attention_figure(w, ["ab"], ["ab"], layer=1)
    with pytest.raises(ValueError, match="example"):
        lab14.cross_attention_figure(w, ["ab"], ["ab"], example=1)
    with pytest.raises(ValueError, match="no attention"):
        lab14.cross_attention_figure([], [], [])
