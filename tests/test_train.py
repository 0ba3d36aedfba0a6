"""The NumPy Trainer: accuracy on digits, early stopping, divergence, reproducibility, schedules."""

import re
import time

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from i2dl_lab.loop import TrainingDiverged
from i2dl_lab.nn import BatchNorm1d, CrossEntropyLoss, Dropout, Linear, Module, ReLU, Sequential
from i2dl_lab.nn.losses import mse_loss, softmax_loss
from i2dl_lab.nn.lr_scheduler import CosineAnnealingLR, StepLR, step_lr
from i2dl_lab.nn.optim import SGD, Adam
from i2dl_lab.train import Solver, Trainer, accuracy, plot_history


def mlp(D=5, H=16, C=2, seed=0):
    return Sequential(Linear(D, H, seed=seed), ReLU(), Linear(H, C, seed=seed + 1))


@pytest.fixture
def sign_task(rng):
    """Label = sign of the first feature; the validation set has the labels flipped, so the
    better the model fits the training rule the worse it does on validation."""
    X = rng.standard_normal((300, 5))
    Xv = rng.standard_normal((200, 5))
    return (X, (X[:, 0] > 0).astype(int)), (Xv, (Xv[:, 0] <= 0).astype(int))


@pytest.mark.slow
def test_two_layer_mlp_with_adam_reaches_97_percent_on_digits_test_split(capsys):
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)
    start = time.perf_counter()
    model = Sequential(Linear(64, 256, seed=0), ReLU(), Linear(256, 10, seed=1))
    opt = Adam(model, lr=3e-3, weight_decay=1e-3)
    trainer = Trainer(model, softmax_loss, opt, (Xtr, ytr), batch_size=64, epochs=40,
                      scheduler=CosineAnnealingLR(opt, T_max=40), seed=0, progress=False)
    trainer.fit()
    test_acc = trainer.check_accuracy(Xte, yte)
    elapsed = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n[digits MLP 64-256-10, Adam+cosine, 40 epochs] test accuracy {test_acc:.4f} in {elapsed:.2f} s")
    assert test_acc >= 0.97
    assert np.mean(trainer.predict(Xte) == yte) == pytest.approx(test_acc)
    # The 20 s budget is measured by benchmarks/bench_training.py, not asserted here.


def test_early_stopping_restores_the_best_parameters(sign_task):
    train, val = sign_task
    model = mlp()
    trainer = Trainer(model, softmax_loss, Adam(model, lr=1e-2), train, val, batch_size=32, epochs=20,
                      early_stopping=2, progress=False)
    h = trainer.fit()
    assert h.stopped_early and len(h["epoch"]) < 20
    best = h.best_epoch
    assert h["val_accuracy"][best - 1] == max(h["val_accuracy"])
    assert h["val_accuracy"][-1] < h["val_accuracy"][best - 1], "the case must make validation get worse"
    # the model now carries the best epoch's parameters...
    assert trainer.check_accuracy(*val) == pytest.approx(h["val_accuracy"][best - 1])
    # ...which are exactly those of an identical run stopped after `best` epochs
    again = mlp()
    Trainer(again, softmax_loss, Adam(again, lr=1e-2), train, val, batch_size=32, epochs=best, progress=False).fit()
    for key, value in again.params.items():
        np.testing.assert_array_equal(model.params[key], value)


def test_early_stopping_without_metric_monitors_validation_loss(rng):
    X = rng.standard_normal((200, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]])
    Xv = rng.standard_normal((100, 3))
    yv = -(Xv @ np.array([[1.0], [-2.0], [0.5]]))  # fitting the training rule hurts here
    model = mlp(D=3, C=1)
    trainer = Trainer(model, mse_loss, Adam(model, lr=1e-2), (X, y), (Xv, yv), epochs=30, metric=None,
                      early_stopping=3, progress=False)
    h = trainer.fit()
    assert "train_accuracy" not in h and "val_accuracy" not in h
    assert h.stopped_early
    best = h.best_epoch
    assert h["val_loss"][best - 1] == min(h["val_loss"])
    assert trainer.evaluate(Xv, yv)[0] == pytest.approx(h["val_loss"][best - 1])


def test_huge_learning_rate_raises_training_diverged_with_iteration(sign_task):
    (X, y), _ = sign_task
    model = mlp()
    trainer = Trainer(model, softmax_loss, SGD(model, lr=1e8), (X * 100, y), batch_size=32, epochs=5,
                      progress=False)
    with pytest.raises(TrainingDiverged, match=r"at epoch \d+, iteration \d+ .*lower the learning rate") as info:
        trainer.fit()
    err = info.value
    assert isinstance(err, FloatingPointError)
    assert err.global_iteration == len(trainer.history["loss"]) + 1
    assert np.all(np.isfinite(trainer.history["loss"]))
    if trainer.history["loss"]:
        assert err.last_finite_loss == trainer.history["loss"][-1]
    assert "last finite loss" in str(err)


def test_same_seed_gives_identical_history_other_seed_differs(sign_task):
    train, val = sign_task

    def run(seed):
        model = mlp()
        return Trainer(model, softmax_loss, Adam(model, lr=1e-2), train, val, batch_size=32, epochs=3,
                       seed=seed, progress=False).fit()

    a, b, c = run(7), run(7), run(8)
    for key in ("loss", "grad_norm", "train_accuracy", "val_accuracy", "val_loss", "lr"):
        assert a[key] == b[key], key
    assert a["loss"] != c["loss"]


def test_scheduler_updates_the_lr_history(sign_task):
    train, _ = sign_task
    model = mlp()
    opt = SGD(model, lr=0.1, momentum=0.9)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    h = Trainer(model, softmax_loss, opt, train, epochs=5, scheduler=sched, progress=False).fit()
    np.testing.assert_allclose(h["lr"], step_lr(np.arange(5), 0.1, 2, 0.5))
    assert opt.lr == pytest.approx(step_lr(5, 0.1, 2, 0.5))


def test_scheduler_of_another_optimizer_is_rejected(sign_task):
    train, _ = sign_task
    model = mlp()
    other = SGD(mlp(), lr=0.1)
    with pytest.raises(ValueError, match="different optimizer"):
        Trainer(model, softmax_loss, SGD(model, lr=0.1), train, scheduler=StepLR(other, step_size=1))


@pytest.mark.parametrize("clip,check", [
    ({"max_grad_norm": 1e-3}, lambda delta: np.sqrt(sum(np.sum(d * d) for d in delta)) <= 1e-3 * (1 + 1e-6)),
    ({"max_grad_value": 1e-4}, lambda delta: max(np.max(np.abs(d)) for d in delta) <= 1e-4 * (1 + 1e-9)),
])
def test_gradient_clipping_bounds_the_update(sign_task, clip, check):
    (X, y), _ = sign_task
    model = mlp()
    before = [p.copy() for p in model.params.values()]
    # one iteration (batch = whole set) of plain SGD with lr 1: the update is minus the clipped gradient
    h = Trainer(model, softmax_loss, SGD(model, lr=1.0), (X, y), batch_size=len(X), epochs=1,
                progress=False, **clip).fit()
    delta = [p - b for p, b in zip(model.params.values(), before, strict=True)]
    assert h["grad_norm"][0] > 1e-2, "the raw gradient must be larger than the clip for the test to bite"
    assert check(delta)


class ModeSpy(Module):
    """Records whether it was in training mode at every forward call."""

    def __init__(self):
        super().__init__()
        self.inner = Linear(5, 2, seed=0)
        object.__setattr__(self, "modes", [])

    def forward(self, x):
        self.modes.append(self.training)
        return self.inner.forward(x)

    def backward(self, dout):
        return self.inner.backward(dout)


def test_evaluation_runs_in_eval_mode_and_training_resumes_in_train_mode(sign_task):
    train, val = sign_task
    model = ModeSpy()
    trainer = Trainer(model, CrossEntropyLoss(), SGD(model, lr=0.1), train, val, batch_size=100, epochs=2,
                      num_train_samples=50, progress=False)
    trainer.fit()
    # per epoch: 3 training batches, then train-subset and validation evaluations
    assert model.modes == [True, True, True, False, False] * 2
    assert model.training
    trainer.check_accuracy(*val)
    assert model.modes[-1] is False and model.training


def test_progress_prints_plain_epoch_lines(sign_task, capsys):
    train, val = sign_task
    model = mlp()
    Trainer(model, softmax_loss, Adam(model, lr=1e-2), train, val, epochs=2, progress=True).fit()
    out = capsys.readouterr().out
    assert "epoch 1/2: train loss" in out and "val accuracy" in out and "epoch 2/2" in out
    assert "\r" not in out


def test_predict_and_accuracy_helpers(sign_task):
    (X, y), _ = sign_task
    model = mlp()
    trainer = Trainer(model, softmax_loss, Adam(model, lr=1e-2), (X, y), epochs=3, progress=False)
    trainer.fit()
    labels = trainer.predict(X)
    np.testing.assert_array_equal(labels, np.argmax(trainer.predict_scores(X), axis=1))
    assert trainer.check_accuracy(X, y) == pytest.approx(np.mean(labels == y))
    assert accuracy(np.array([2.0, -1.0, 0.5]), np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert Solver is Trainer


def test_plot_history_returns_a_figure(sign_task):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, val = sign_task
    model = mlp()
    trainer = Trainer(model, softmax_loss, Adam(model, lr=1e-2), train, val, epochs=2, progress=False)
    trainer.fit()
    fig = plot_history(trainer.history)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) >= 2
    _, ax = plt.subplots()
    assert plot_history(trainer, ax=ax) is ax.figure
    plt.close("all")
    with pytest.raises(TypeError, match="history dict"):
        plot_history({"acc": []})


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"train_data": (np.zeros((4, 5)), np.zeros(3))}, ValueError, r"same number of rows, got X \(4, 5\) and y \(3,\)"),
    ({"train_data": np.zeros((4, 5))}, TypeError, "must be a pair"),
    ({"monitor": "val_loss"}, ValueError, "needs val_data"),
    ({"early_stopping": 0}, ValueError, "early_stopping must be an integer >= 1, got 0"),
    ({"batch_size": 0}, ValueError, "batch_size must be an integer >= 1, got 0"),
    ({"max_grad_norm": ("norm", 1.0)}, TypeError, "max_grad_norm must be None or a positive number"),
    ({"max_grad_value": -1.0}, ValueError, "max_grad_value must be a positive number"),
    ({"metric": "f1"}, ValueError, "metric must be 'accuracy', a callable or None, got 'f1'"),
    ({"loss_fn": "softmax"}, TypeError, "loss_fn must be callable"),
    ({"optimizer": "adam"}, TypeError, "optimizer must come from i2dl_lab.nn.optim"),
])
def test_bad_trainer_arguments(sign_task, kwargs, exc, match):
    train, _ = sign_task
    model = mlp()
    args = {"model": model, "loss_fn": softmax_loss, "optimizer": SGD(model, lr=0.1), "train_data": train}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        Trainer(**args)


def test_loss_fn_with_wrong_return_is_explained(sign_task):
    train, _ = sign_task
    model = mlp()
    trainer = Trainer(model, lambda s, y: 1.0, SGD(model, lr=0.1), train, progress=False)
    with pytest.raises(TypeError, match=r"loss_fn must return \(loss, dscores\)"):
        trainer.fit()


# ------------------------------------------------------------------ progress output under CI / papermill
def _fit_with_progress(sign_task):
    train, _ = sign_task
    model = mlp()
    # 300 rows / 50 = 6 iterations per epoch, 2 epochs: 12 iterations
    Trainer(model, softmax_loss, SGD(model, lr=0.1), train, batch_size=50, epochs=2, progress=True).fit()


@pytest.mark.parametrize("env", ["CI", "I2DL_PLAIN_PROGRESS"])
def test_progress_is_plain_lines_under_ci_or_papermill_even_on_a_terminal(sign_task, capsys, monkeypatch, env):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("I2DL_PLAIN_PROGRESS", raising=False)
    monkeypatch.setenv(env, "1")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)  # a terminal would otherwise get a live bar
    _fit_with_progress(sign_task)
    captured = capsys.readouterr()
    assert "\r" not in captured.out and "\r" not in captured.err
    progress_lines = [line for line in captured.out.splitlines() if line.startswith("training: ")]
    assert progress_lines[-1].startswith("training: 12/12 (100%)")
    assert all(re.fullmatch(r"training: \d+/12 \(\d+%\).*", line) for line in progress_lines)
    assert len(progress_lines) >= 4  # a line every quarter, not one per iteration
    assert "epoch 1/2: train loss" in captured.out and "epoch 2/2: train loss" in captured.out


def test_progress_is_a_live_tqdm_bar_on_a_terminal_outside_ci(sign_task, capsys, monkeypatch):
    """The control for the test above: without CI/papermill the same run redraws a tqdm bar."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("I2DL_PLAIN_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    _fit_with_progress(sign_task)
    captured = capsys.readouterr()
    assert "\r" in captured.err and "12/12" in captured.err
    assert not any(line.startswith("training: ") and "/12 (" in line for line in captured.out.splitlines())


# ------------------------------------------------------------------ batch norm and dropout inside the Trainer
def bn_dropout_mlp(seed=0):
    return Sequential(Linear(5, 16, seed=seed), BatchNorm1d(16), ReLU(), Dropout(0.3, seed=seed),
                      Linear(16, 2, seed=seed + 1))


def test_trainer_with_batchnorm_and_dropout_evaluates_in_eval_mode_and_restores_buffers(sign_task):
    train, val = sign_task
    model = bn_dropout_mlp()
    trainer = Trainer(model, softmax_loss, Adam(model, lr=1e-2), train, val, batch_size=32, epochs=20,
                      early_stopping=2, progress=False)
    h = trainer.fit()
    assert h.stopped_early
    assert model.training and all(m.training for _, m in model.named_modules())
    # evaluation is deterministic (dropout off, running statistics used) and leaves the buffers alone
    buffers = {k: b.copy() for k, b in model.buffers.items()}
    scores = trainer.predict_scores(val[0])
    np.testing.assert_array_equal(trainer.predict_scores(val[0]), scores)
    for k, b in model.buffers.items():
        np.testing.assert_array_equal(b, buffers[k], err_msg=k)
    assert model.training, "evaluation switches back to training mode"
    best = h.best_epoch
    assert trainer.check_accuracy(*val) == pytest.approx(h["val_accuracy"][best - 1])
    # parameters AND running statistics are those of an identical run stopped after the best epoch
    again = bn_dropout_mlp()
    Trainer(again, softmax_loss, Adam(again, lr=1e-2), train, val, batch_size=32, epochs=best, progress=False).fit()
    assert set(again.state_dict()) == set(model.state_dict()) and "1.running_mean" in model.state_dict()
    for key, value in again.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key], value, err_msg=key)


def test_nan_in_the_data_stops_at_the_first_iteration_without_a_finite_loss(sign_task):
    (X, y), _ = sign_task
    X = X.copy()
    X[:, 2] = np.nan  # every row: the first minibatch already gives a NaN loss
    model = mlp()
    trainer = Trainer(model, softmax_loss, SGD(model, lr=0.1), (X, y), batch_size=32, epochs=2, progress=False)
    expected = r"the loss became nan at epoch 1, iteration 1 .*last finite loss: none \(the very first one"
    with pytest.raises(TrainingDiverged, match=expected) as info:
        trainer.fit()
    assert info.value.global_iteration == 1 and info.value.last_finite_loss is None
    assert trainer.history["loss"] == []
