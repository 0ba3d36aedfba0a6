"""The generated segmentation scenes and date-translation pairs."""

import datetime as dt

import numpy as np
import pytest

from i2dl_lab.data.dates import DATE_FORMATS, Vocab, encode_pairs, make_date_pairs
from i2dl_lab.data.scenes import SCENE_CLASSES, make_scenes


def test_scenes_are_reproducible_and_labelled():
    a, ma = make_scenes(20, size=24, seed=3)
    b, mb = make_scenes(20, size=24, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ma, mb)
    assert a.shape == (20, 3, 24, 24) and a.min() >= 0 and a.max() <= 1
    assert set(np.unique(ma)) <= set(range(len(SCENE_CLASSES)))
    assert (ma > 0).any(axis=(1, 2)).all()  # every scene holds at least one visible shape
    assert not np.array_equal(ma, make_scenes(20, size=24, seed=4)[1])


def test_colour_alone_does_not_separate_the_classes():
    x, m = make_scenes(200, seed=0)
    means = np.stack([x.transpose(0, 2, 3, 1)[m == k].mean(0) for k in range(4)])
    assert np.abs(means - means.mean(0)).max() < 0.08  # every class has about the same mean colour


@pytest.mark.parametrize("kwargs, match", [({"n": 0}, "n must"), ({"size": 8}, "size"),
                                           ({"max_shapes": 0}, "max_shapes"), ({"noise": -1}, "noise")])
def test_scenes_reject_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_scenes(**{"n": 2, **kwargs})


def test_date_pairs_are_correct_translations():
    pairs = make_date_pairs(300, seed=1)
    assert len({s for s, _ in pairs}) > 250
    for src, iso in pairs:
        d = dt.date.fromisoformat(iso)
        assert 1950 <= d.year <= 2049
        assert str(d.day) in src and (str(d.year) in src or f"{d.year % 100:02d}" in src)
    assert DATE_FORMATS[0] == "17 march 2026" and DATE_FORMATS[4] == "17/03/26"
    with pytest.raises(ValueError, match="100 years"):
        make_date_pairs(3, 1900, 2049)


def test_vocab_round_trip_and_padding():
    sv, tv = Vocab.for_dates()
    pairs = make_date_pairs(50, seed=0)
    src, tgt = encode_pairs(pairs, sv, tv)
    assert tgt.shape == (50, 12) and (tgt[:, 0] == Vocab.BOS).all() and (tgt[:, -1] == Vocab.EOS).all()
    for row_s, row_t, (s, t) in zip(src, tgt, pairs):
        assert sv.decode(row_s) == s and tv.decode(row_t) == t
    assert (src == Vocab.PAD).any()
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tv.encode("2026/03/17")
    with pytest.raises(ValueError, match="unique"):
        Vocab("aa")
