"""One training vocabulary: the NumPy Trainer, the torch fit loop and the char-LM loop agree."""

import inspect
import math

import numpy as np
import pytest
import torch

from i2dl_lab.bridge.fit import fit
from i2dl_lab.data import ArrayDataset, DataLoader
from i2dl_lab.loop import PER_EPOCH, PER_ITERATION, EarlyStopping, History, TrainingDiverged, check_finite
from i2dl_lab.nn import Linear, ReLU, Sequential
from i2dl_lab.nn.losses import softmax_loss
from i2dl_lab.nn.optim import SGD
from i2dl_lab.sequence.charlm import CharLM, train_charlm
from i2dl_lab.train import Trainer

SHARED = {"max_grad_norm", "max_grad_value", "progress", "time_limit"}
EPOCH_LOOPS = {"early_stopping", "monitor", "restore_best", "seed"}


def test_the_three_loops_take_the_same_argument_names():
    names = {f.__qualname__: set(inspect.signature(f).parameters) for f in (Trainer, fit, train_charlm)}
    for loop, params in names.items():
        assert SHARED <= params, (loop, SHARED - params)
        assert not params & {"grad_clip", "clip_norm", "clip_value", "verbose", "show_progress", "max_seconds",
                             "early_stopping_patience"}, loop
    assert EPOCH_LOOPS <= names["Trainer"] and EPOCH_LOOPS <= names["fit"]


@pytest.fixture
def blobs(rng):
    centres = rng.normal(scale=3.0, size=(3, 4))
    y = rng.integers(0, 3, size=90)
    X = centres[y] + rng.normal(size=(90, 4))
    return X, y


def _numpy_run(X, y):
    model = Sequential(Linear(4, 8, seed=0), ReLU(), Linear(8, 3, seed=1))
    return Trainer(model, softmax_loss, SGD(model, lr=0.1), (X[:60], y[:60]), (X[60:], y[60:]), batch_size=20,
                   epochs=2, monitor="val_loss", progress=False).fit()


def _torch_run(X, y):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    X = X.astype(np.float32)
    tr = DataLoader(ArrayDataset(X[:60], y[:60]), batch_size=20)
    va = DataLoader(ArrayDataset(X[60:], y[60:]), batch_size=30)
    return fit(model, tr, va, epochs=2, optimizer="sgd", lr=0.1, monitor="val_loss", progress=False, device="cpu")


def test_numpy_and_torch_loops_record_the_same_history_keys(blobs):
    a, b = _numpy_run(*blobs), _torch_run(*blobs)
    assert isinstance(a, History) and isinstance(b, History)
    assert set(a) == set(b) == set(PER_ITERATION) | set(PER_EPOCH)
    for h in (a, b):
        assert len(h["loss"]) == len(h["grad_norm"]) == 6 and h["epoch"] == [1, 2]
        assert h.stop_reason == "completed" and h.best_epoch in (1, 2) and h.seconds > 0
        assert h.best_value == h["val_loss"][h.best_epoch - 1] == min(h["val_loss"])
        assert all(len(h[k]) == 2 for k in PER_EPOCH)


def test_charlm_records_the_same_per_iteration_keys():
    model = CharLM(5, hidden_size=8, embed_dim=4, seed=0)
    # 4 streams of 100 characters: 11 windows of 9 per pass, so 12 steps complete one pass
    h = train_charlm(model, np.arange(400) % 5, steps=12, batch_size=4, seq_len=9, progress=False)
    assert isinstance(h, History) and set(PER_ITERATION) <= set(h) and set(h) <= set(PER_ITERATION) | set(PER_EPOCH)
    assert len(h["loss"]) == len(h["grad_norm"]) == 12
    assert h["epoch"] == [1] and h["train_loss"] == [pytest.approx(np.mean(h["loss"][:11]))]


def test_torch_fit_clips_gradient_values():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    before = [p.detach().clone() for p in model.parameters()]
    X = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32) * 10
    y = np.arange(32) % 3
    h = fit(model, DataLoader(ArrayDataset(X, y), batch_size=32), None, epochs=1, optimizer="sgd", lr=1.0,
            momentum=0.0, max_grad_value=1e-4, progress=False, device="cpu")
    assert h["grad_norm"][0] > 1e-2, "the raw gradient must exceed the clip for the test to bite"
    step = max(float((p.detach() - b).abs().max()) for p, b in zip(model.parameters(), before, strict=True))
    assert 0 < step <= 1e-4 * (1 + 1e-3)  # float32 parameters: a few ulps of rounding


def test_early_stopping_maximises_accuracies_and_minimises_losses():
    acc = EarlyStopping(patience=2, monitor="val_accuracy")
    assert [acc.update(e, v) for e, v in enumerate([0.5, 0.7, 0.6, 0.7], 1)] == [True, True, False, False]
    assert acc.should_stop and (acc.best_epoch, acc.best_value) == (2, 0.7)
    assert "val_accuracy did not improve for 2 epochs (best 0.7 at epoch 2)" in acc.reason(4)
    loss = EarlyStopping(patience=None, monitor="train_loss", min_delta=0.1)
    assert [loss.update(e, v) for e, v in enumerate([1.0, 0.95, 0.8], 1)] == [True, False, True]
    assert not loss.should_stop


def test_early_stopping_never_takes_a_nan_as_best():
    stopper = EarlyStopping(patience=3, monitor="val_loss")
    assert not stopper.update(1, math.nan) and stopper.best_epoch is None
    assert stopper.update(2, 5.0) and stopper.best_epoch == 2


@pytest.mark.parametrize("patience", [0, -1, 1.5, True])
def test_early_stopping_rejects_a_bad_patience(patience):
    with pytest.raises(ValueError, match="early_stopping must be None or a patience >= 1"):
        EarlyStopping(patience, "val_loss")


def test_check_finite_names_the_place_and_keeps_the_history():
    h = History(["loss"])
    h.log(loss=2.5)
    check_finite(2.5, epoch=1, iteration=1, global_iteration=1, lr=0.1, last_finite_loss=None)
    with pytest.raises(TrainingDiverged, match=r"the gradient norm became inf at epoch 3, iteration 2 of that epoch "
                                               r"\(iteration 12 overall\); last finite loss: 2.5\. Hint: lower the "
                                               r"learning rate \(it is 0.1\)") as info:
        check_finite(math.inf, epoch=3, iteration=2, global_iteration=12, lr=0.1, last_finite_loss=2.5,
                     what="the gradient norm", history=h)
    err = info.value
    assert isinstance(err, FloatingPointError) and err.history is h
    assert (err.epoch, err.iteration, err.global_iteration, err.value) == (3, 2, 12, math.inf)


def test_history_keys_are_exact():
    h = History(["loss", "val_accuracy"])
    assert h["loss"] == [] and h.last("loss") is None
    with pytest.raises(KeyError):
        _ = h["val_acc"]  # the old abbreviation is not silently empty
