"""The child -> grader wire format carries plain data only and rejects anything else."""

import json

import numpy as np
import pytest

from i2dl_lab.grading import wire


def test_plain_values_round_trip_with_their_types():
    value = {"a": (1, 2.5, np.arange(6.0).reshape(2, 3)), 3: [True, None, "s"], "n": np.float32(1.5),
             "nan": float("nan"), "i": np.arange(4, dtype=np.int16)}
    back = wire.loads(wire.dumps(value))
    assert isinstance(back["a"], tuple) and isinstance(back[3], list)
    np.testing.assert_array_equal(back["a"][2], value["a"][2])
    assert back["i"].dtype == np.int16 and back["n"].dtype == np.float32
    assert np.isnan(back["nan"])


class AlwaysEqual:
    def __eq__(self, other):
        return True


class SneakyArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, bool)


def test_objects_cross_as_type_names_never_as_objects():
    back = wire.loads(wire.dumps((AlwaysEqual(), np.array([object()], dtype=object))))
    assert isinstance(back[0], wire.Unsupported) and back[0].type_name.endswith("AlwaysEqual")
    assert isinstance(back[1], wire.Unsupported) and back[0] != back[0]


def test_ndarray_subclass_is_sent_as_its_numbers():
    x = np.arange(3.0).view(SneakyArray)
    back = wire.loads(wire.dumps(x))
    assert type(back) is np.ndarray
    assert not np.array_equal(back, np.zeros(3))


@pytest.mark.parametrize("bad", [
    [1, 2],                                                        # untagged list
    {"$a": "AAAA", "dtype": "|O", "shape": [1]},                   # object dtype
    {"$a": "AAAAAAAAAAA=", "dtype": "<f8", "shape": [3]},          # bytes do not fit the shape
    {"$a": "not base64!", "dtype": "<f8", "shape": [1]},
    {"$z": 1},
    {"$d": [[[1], 2]]},                                            # list as a dict key
])
def test_decoder_rejects_malformed_data(bad):
    with pytest.raises(wire.WireError):
        wire.decode(json.loads(json.dumps(bad)))


def test_decoder_limits_nesting_depth():
    deep = 1.0
    for _ in range(40):
        deep = {"$t": [deep]}
    with pytest.raises(wire.WireError, match="deeper"):
        wire.decode(deep)


def test_zero_dimensional_and_non_contiguous_arrays_keep_their_shape():
    a = np.arange(12.0).reshape(3, 4)
    for x in (np.array(2.5), a.T, a[:, ::2], np.zeros((0, 3))):
        back = wire.loads(wire.dumps(x))
        assert back.shape == x.shape
        np.testing.assert_array_equal(back, x)
