"""DataLoader, Dataset containers, transforms and stratified splits."""

import numpy as np
import pytest
import torch

from i2dl_lab.data import (
    ArrayDataset,
    Brightness,
    Compose,
    DataLoader,
    Dataset,
    GaussianNoise,
    HorizontalFlip,
    Normalize,
    RandomCrop,
    Subset,
    ToFloat,
    default_collate,
    few_per_class,
    stratified_split,
    train_val_test_split,
)


def make_ds(n=10):
    return ArrayDataset(np.arange(n * 2, dtype=float).reshape(n, 2), np.arange(n))


# ----------------------------------------------------------------------------- DataLoader
def test_batches_cover_every_sample_once_in_order_without_shuffle():
    dl = DataLoader(make_ds(10), batch_size=4)
    ys = [yb for _, yb in dl]
    assert [len(y) for y in ys] == [4, 4, 2] and len(dl) == 3
    np.testing.assert_array_equal(np.concatenate(ys), np.arange(10))


def test_drop_last_skips_the_short_batch():
    dl = DataLoader(make_ds(10), batch_size=4, drop_last=True)
    assert len(dl) == 2 and [len(y) for _, y in dl] == [4, 4]


def test_seeded_shuffle_is_reproducible_and_changes_every_epoch():
    a = DataLoader(make_ds(20), batch_size=5, shuffle=True, seed=3)
    b = DataLoader(make_ds(20), batch_size=5, shuffle=True, seed=3)
    epoch_a1 = np.concatenate([y for _, y in a])
    epoch_a2 = np.concatenate([y for _, y in a])
    epoch_b1 = np.concatenate([y for _, y in b])
    np.testing.assert_array_equal(epoch_a1, epoch_b1)
    assert not np.array_equal(epoch_a1, epoch_a2)
    assert sorted(epoch_a1) == list(range(20))
    c = DataLoader(make_ds(20), batch_size=5, shuffle=True, seed=4)
    assert not np.array_equal(epoch_a1, np.concatenate([y for _, y in c]))
    a.reseed(3)
    np.testing.assert_array_equal(np.concatenate([y for _, y in a]), epoch_a1)


def test_x_and_y_stay_paired_after_shuffling():
    for xb, yb in DataLoader(make_ds(13), batch_size=4, shuffle=True, seed=0):
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)


def test_transform_path_matches_the_fast_path_and_applies_per_sample():
    X = np.arange(24, dtype=float).reshape(6, 1, 2, 2)
    plain = DataLoader(ArrayDataset(X, np.arange(6)), batch_size=4)
    via_transform = DataLoader(ArrayDataset(X, np.arange(6), transform=lambda x: x * 1.0), batch_size=4)
    for (a, ya), (b, yb) in zip(plain, via_transform):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ya, yb)
    doubled = DataLoader(ArrayDataset(X, np.arange(6), transform=lambda x: 2 * x), batch_size=6)
    np.testing.assert_array_equal(next(iter(doubled))[0], 2 * X)


def test_custom_collate_and_subset():
    ds = Subset(make_ds(10), [9, 0, 3])
    assert len(ds) == 3 and ds[0][1] == 9
    dl = DataLoader(ds, batch_size=3, collate_fn=lambda items: [y for _, y in items])
    assert next(iter(dl)) == [9, 0, 3]
    with pytest.raises(IndexError):
        Subset(make_ds(3), [5])


class ListDataset:
    """A plain Python dataset: only __len__ and __getitem__."""

    def __init__(self, n):
        self.items = [(np.full(2, i, dtype=float), i) for i in range(n)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_any_object_with_len_and_getitem_loads_also_through_a_subset():
    full = [y for _, y in DataLoader(ListDataset(7), batch_size=3)]
    assert [b.tolist() for b in full] == [[0, 1, 2], [3, 4, 5], [6]]
    sub = DataLoader(Subset(ListDataset(7), [6, 2, 4]), batch_size=2)
    assert [y.tolist() for _, y in sub] == [[6, 2], [4]]
    fast = DataLoader(Subset(make_ds(10), [9, 1]), batch_size=2)
    np.testing.assert_array_equal(next(iter(fast))[0], make_ds(10).arrays[0][[9, 1]])


def test_default_collate_handles_nested_structures():
    batch = default_collate([{"x": np.zeros(2), "t": (1, 0.5)}, {"x": np.ones(2), "t": (2, 1.5)}])
    assert batch["x"].shape == (2, 2)
    assert batch["t"][0].dtype == np.int64 and batch["t"][1].dtype == np.float64
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="empty"):
        default_collate([])


def test_bad_arguments_are_rejected_with_what_was_received():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        DataLoader(make_ds(), batch_size=0)
    with pytest.raises(TypeError, match="__len__ and __getitem__"):
        DataLoader(42)
    with pytest.raises(ValueError, match=r"same length.*\[3, 4\]"):
        ArrayDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(IndexError, match="out of range"):
        make_ds(3)[3]


def test_array_dataset_works_with_torch_dataloader():
    ds = make_ds(6)
    assert isinstance(ds, Dataset)
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert isinstance(xb, torch.Tensor) and xb.shape == (4, 2) and yb.tolist() == [0, 1, 2, 3]


# ----------------------------------------------------------------------------- transforms
def test_normalize_uses_per_channel_statistics():
    x = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 5.0)])
    out = Normalize([1.0, 3.0], [1.0, 2.0])(x)
    np.testing.assert_allclose(out[0], 0.0)
    np.testing.assert_allclose(out[1], 1.0)
    with pytest.raises(ValueError, match="3 channels"):
        Normalize([0, 0], [1, 1])(np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="std must be positive"):
        Normalize([0], [0])


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    x = np.arange(1, 26, dtype=float).reshape(1, 5, 5)
    crop = RandomCrop(5, padding=2, seed=0)
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    seen = set()
    for _ in range(30):
        out = crop(x)
        assert out.shape == (1, 5, 5)
        matches = [(i, j) for i in range(5) for j in range(5) if np.array_equal(padded[:, i:i + 5, j:j + 5], out)]
        assert matches, "crop is not a window of the padded image"
        seen.add(matches[0])
    assert len(seen) > 5  # it really moves
    a, b = RandomCrop(5, 2, seed=7), RandomCrop(5, 2, seed=7)
    assert all(np.array_equal(a(x), b(x)) for _ in range(5))
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(8)(x)


def test_horizontal_flip_mirrors_columns():
    x = np.arange(6.0).reshape(1, 2, 3)
    np.testing.assert_array_equal(HorizontalFlip(p=1.0)(x), x[:, :, ::-1])
    np.testing.assert_array_equal(HorizontalFlip(p=0.0)(x), x)
    flips = [not np.array_equal(HorizontalFlip(p=0.5, seed=s)(x), x) for s in range(200)]
    assert 0.35 < np.mean(flips) < 0.65
    with pytest.raises(ValueError, match="probability"):
        HorizontalFlip(p=1.5)


def test_brightness_adds_one_bounded_offset_and_noise_has_its_std():
    x = np.zeros((1, 4, 4))
    out = Brightness(0.3, seed=0)(x)
    assert np.ptp(out) == 0 and abs(out[0, 0, 0]) <= 0.3 and out[0, 0, 0] != 0
    noisy = GaussianNoise(0.5, seed=0)(np.zeros((1, 100, 100)))
    assert abs(noisy.std() - 0.5) < 0.02 and abs(noisy.mean()) < 0.02


def test_compose_applies_in_order():
    t = Compose([ToFloat(scale=0.5), Normalize([1.0], [2.0])])
    np.testing.assert_allclose(t(np.full((1, 2, 2), 6, dtype=np.uint8)), 1.0)
    with pytest.raises(TypeError, match="callable"):
        Compose([1])


# ----------------------------------------------------------------------------- splits
def test_stratified_split_partitions_and_keeps_class_proportions():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    tr, va, te = stratified_split(y, (0.6, 0.2, 0.2), seed=0)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(100))
    for part, frac in ((tr, 0.6), (va, 0.2), (te, 0.2)):
        counts = np.bincount(y[part], minlength=3)
        np.testing.assert_allclose(counts, frac * np.array([60, 30, 10]), atol=1)
    again = stratified_split(y, (0.6, 0.2, 0.2), seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again))
    other = stratified_split(y, (0.6, 0.2, 0.2), seed=1)
    assert not np.array_equal(tr, other[0])


def test_split_errors_name_the_bad_input():
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(np.zeros(4), (0.5, 0.6))
    with pytest.raises(ValueError, match="1-D"):
        stratified_split(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="same length"):
        train_val_test_split(np.zeros(3), np.zeros(4))


def test_train_val_test_split_keeps_rows_with_their_labels():
    X = np.arange(50)[:, None] * np.ones((1, 3))
    y = np.arange(50) % 5
    d = train_val_test_split(X, y, val=0.2, test=0.2, seed=0)
    assert len(d["X_train"]) + len(d["X_val"]) + len(d["X_test"]) == 50
    for s in ("train", "val", "test"):
        np.testing.assert_array_equal(d[f"X_{s}"][:, 0] % 5, d[f"y_{s}"])


def test_few_per_class_takes_k_of_each_class():
    y = np.repeat(np.arange(4), 20)
    idx = few_per_class(y, 3, seed=0)
    np.testing.assert_array_equal(np.bincount(y[idx]), [3, 3, 3, 3])
    with pytest.raises(ValueError, match="only 20 samples"):
        few_per_class(y, 25)
