"""The PyTorch track's references (bridge.vision): shapes, costs against torch, the loop's promises."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from i2dl_lab.bridge import vision


def _loader(X, y, batch):
    return [(torch.as_tensor(X[i:i + batch]), torch.as_tensor(y[i:i + batch])) for i in range(0, len(X), batch)]


def test_dataset_serves_float32_images_and_int64_labels_through_a_dataloader():
    X = np.arange(2 * 1 * 3 * 3, dtype=np.uint8).reshape(2, 1, 3, 3)
    ds = vision.ImageDataset(X, np.array([4, 7]), transform=lambda t: t * 2)
    x, y = ds[1]
    assert len(ds) == 2 and x.dtype == torch.float32 and y.dtype == torch.int64 and y.dim() == 0
    np.testing.assert_array_equal(x.numpy(), 2 * X[1].astype(np.float32))
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert tuple(xb.shape) == (2, 1, 3, 3) and yb.tolist() == [4, 7]
    with pytest.raises(ValueError, match="same length"):
        vision.ImageDataset(X, np.array([1]))


@pytest.mark.parametrize("model, x_shape, out_shape", [
    (lambda: vision.SmallCNN(1, 10, 28, width=4, hidden=8), (2, 1, 28, 28), (2, 10)),
    (lambda: vision.SmallResNet(3, 5, widths=(4, 8, 8), blocks=2), (2, 3, 20, 20), (2, 5)),
    (lambda: vision.ResidualBlock(3, 6, stride=2), (2, 3, 9, 9), (2, 6, 5, 5)),
    (lambda: vision.DepthwiseSeparableConv(4, 6, 5, stride=2), (2, 4, 9, 9), (2, 6, 5, 5)),
])
def test_modules_give_the_documented_shapes(model, x_shape, out_shape):
    torch.manual_seed(0)
    assert tuple(model()(torch.randn(x_shape)).shape) == out_shape


def test_residual_block_with_a_zero_branch_passes_a_nonnegative_input_through():
    block = vision.ResidualBlock(3, 3).eval()
    nn.init.zeros_(block.bn2.weight)  # F(x) = bn2(...) = 0: the block is the identity on x >= 0
    x = torch.rand(2, 3, 5, 5)
    torch.testing.assert_close(block(x), x)
    assert isinstance(block.shortcut, nn.Identity)
    assert isinstance(vision.ResidualBlock(3, 4).shortcut, nn.Sequential)


@pytest.mark.parametrize("c_in, c_out, k, groups, bias", [(3, 96, 11, 1, True), (64, 64, 3, 64, False),
                                                          (8, 12, 5, 4, True), (16, 92, 1, 1, False)])
def test_conv_cost_matches_torch_parameters_and_counted_multiplications(c_in, c_out, k, groups, bias):
    conv = nn.Conv2d(c_in, c_out, k, groups=groups, bias=bias)
    params, mults = vision.conv_cost(c_in, c_out, k, 7, 5, groups=groups, bias=bias)
    assert params == sum(p.numel() for p in conv.parameters())
    # multiplications = (weights per output channel) * output values, counted from the weight tensor itself
    assert mults == conv.weight[0].numel() * c_out * 7 * 5
    with pytest.raises(ValueError, match="groups"):
        vision.conv_cost(6, 4, 3, 1, 1, groups=4)


def test_lecture_inception_figures():
    naive = vision.conv_cost(200, 92, 5, 32, 32)[1]
    reduced = vision.conv_cost(200, 16, 1, 32, 32)[1] + vision.conv_cost(16, 92, 5, 32, 32)[1]
    assert round(naive / 1e6) == 471 and round(reduced / 1e6) == 41


def test_train_epoch_returns_the_sample_weighted_mean_and_evaluation_changes_nothing():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((7, 3)).astype(np.float32), rng.integers(0, 2, 7)
    loader = _loader(X, y, 5)  # batches of 5 and 2
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # no update: the epoch's losses are the model's
    model.eval()
    mean = vision.train_epoch(model, loader, opt, F.cross_entropy)
    assert model.training
    with torch.no_grad():
        per_batch = [F.cross_entropy(model(xb), yb).item() * len(xb) for xb, yb in loader]
    assert mean == pytest.approx(sum(per_batch) / 7, rel=1e-6)
    stats = model[1].running_mean.clone()
    acc = vision.evaluate_accuracy(model, loader)
    assert not model.training and torch.equal(stats, model[1].running_mean)
    with torch.no_grad():
        expected = (model(torch.as_tensor(X)).argmax(1).numpy() == y).mean()
    assert acc == pytest.approx(expected)


def test_fit_early_stopping_stops_and_restores_the_best_checkpoint(tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((40, 4)).astype(np.float32), rng.integers(0, 3, 40)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=2.0)  # far too large: the validation accuracy wanders
    hist = vision.fit_early_stopping(model, _loader(X[:30], y[:30], 10), _loader(X[30:], y[30:], 10), opt,
                                     F.cross_entropy, epochs=30, early_stopping=2, checkpoint=tmp_path / "b.pt",
                                     device="cpu")
    n = len(hist["val_accuracy"])
    best = hist["best_epoch"]
    assert n < 30 and n - best == 2  # stopped two bad epochs after the best one
    assert hist["val_accuracy"][best - 1] == max(hist["val_accuracy"])
    epoch, metrics = vision.load_training_state(tmp_path / "b.pt", nn.Sequential(nn.Linear(4, 16), nn.ReLU(),
                                                                                 nn.Linear(16, 3)))
    assert epoch == best and metrics["val_accuracy"] == max(hist["val_accuracy"])
    assert vision.evaluate_accuracy(model, _loader(X[30:], y[30:], 10)) == max(hist["val_accuracy"])


def test_checkpoint_reload_continues_adam_exactly(tmp_path):
    torch.manual_seed(0)
    a = nn.Linear(3, 2)
    opt_a = torch.optim.Adam(a.parameters(), lr=0.1)
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])

    def step(m, o):
        o.zero_grad()
        F.cross_entropy(m(x), y).backward()
        o.step()

    step(a, opt_a)
    vision.save_training_state(tmp_path / "s.pt", a, opt_a, 3, {"val_accuracy": 0.5})
    b = nn.Linear(3, 2)
    opt_b = torch.optim.Adam(b.parameters(), lr=0.1)
    assert vision.load_training_state(tmp_path / "s.pt", b, opt_b) == (3, {"val_accuracy": 0.5})
    step(a, opt_a)
    step(b, opt_b)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))

