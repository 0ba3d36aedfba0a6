"""Update functions of lab 11, exercised without a browser."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from i2dl_lab.widgets import lab11  # noqa: E402


def test_attention_map_selects_example_and_head():
    w = np.random.default_rng(0).random((3, 2, 4, 5))
    fig, m = lab11.attention_map_figure(w, example=2, head=1, key_labels=list("abcde"))
    assert isinstance(fig, Figure)
    np.testing.assert_array_equal(m, w[2, 1])
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), w[2, 1])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list("abcde")


def test_attention_map_rejects_bad_indices_and_shapes():
    w = np.zeros((2, 2, 3, 3))
    with pytest.raises(ValueError, match="head"):
        lab11.attention_map_figure(w, head=2)
    with pytest.raises(ValueError, match="example"):
        lab11.attention_map_figure(w, example=5)
    with pytest.raises(ValueError, match="weights"):
        lab11.attention_map_figure(np.zeros((1, 1, 1, 2, 2)))


def test_positional_encoding_similarity_peaks_on_the_diagonal():
    fig, pe = lab11.positional_encoding_figure(T=20, d_model=16)
    assert pe.shape == (20, 16)
    sim = pe @ pe.T
    assert np.all(np.argmax(sim, axis=1) == np.arange(20))
    # the dot product depends only on the offset: compare two pairs with offset 3
    assert sim[2, 5] == pytest.approx(sim[10, 13])
    assert len(fig.axes) == 4  # two panels and their colour bars


def test_scaling_keeps_scores_at_unit_variance_and_softmax_unsaturated():
    scaled = lab11.score_scaling(256, scaled=True)
    raw = lab11.score_scaling(256, scaled=False)
    assert scaled["score_std"] == pytest.approx(1.0, abs=0.1)
    assert raw["score_std"] == pytest.approx(16.0, rel=0.1)
    assert raw["max_weight"] > 0.85 > 0.4 > scaled["max_weight"]
    assert scaled["entropy"] > 3.0 > 0.5 > raw["entropy"]


def test_scaling_makes_no_difference_for_d_k_one():
    a, b = lab11.score_scaling(1, scaled=True), lab11.score_scaling(1, scaled=False)
    assert a == b


def test_scaling_figure_bars_are_distributions():
    fig, stats = lab11.scaling_figure(d_k=16, n_keys=5)
    for ax in fig.axes:
        heights = [p.get_height() for p in ax.patches]
        assert len(heights) == 5 and sum(heights) == pytest.approx(1.0)
    assert set(stats) == {"scaled", "unscaled"}
    with pytest.raises(ValueError):
        lab11.score_scaling(0)


def test_widgets_redraw_with_their_controls():
    pytest.importorskip("ipywidgets")
    w = np.random.default_rng(1).random((4, 3, 2, 2))
    box = lab11.attention_widget(w, np.zeros((4, 2), int), np.ones((4, 2), int))
    box.controls["example"].value = 3
    box.controls["head"].value = 2
    _, m = box.redraw()
    np.testing.assert_array_equal(m, w[3, 2])
    box = lab11.scaling_widget(n_keys=4)
    box.controls["d_k"].value = 9
    _, stats = box.redraw()
    assert stats["scaled"]["score_std"] < stats["unscaled"]["score_std"]
