"""The torch fit loop, checkpoints and the model zoo."""

import math
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

from i2dl_lab.bridge import zoo  # noqa: E402
from i2dl_lab.bridge.fit import (  # noqa: E402
    evaluate,
    fit,
    load_checkpoint,
    predict,
    select_device,
)
from i2dl_lab.data import ArrayDataset, DataLoader, make_blobs  # noqa: E402
from i2dl_lab.loop import History, TrainingDiverged  # noqa: E402


@pytest.fixture
def blobs():
    X, y = make_blobs(400, centers=3, dim=4, spread=0.8, seed=0)
    X = X.astype(np.float32)
    tr = DataLoader(ArrayDataset(X[:300], y[:300]), batch_size=32, shuffle=True, seed=0)
    va = DataLoader(ArrayDataset(X[300:], y[300:]), batch_size=100)
    return tr, va


def small_mlp(seed=0):
    torch.manual_seed(seed)
    return zoo.MLP(in_features=4, hidden=[16], num_classes=3)


def test_auto_device_prefers_accelerators_and_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device("auto").type == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert select_device("auto").type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("auto").type == "cuda"
    assert select_device("cpu").type == "cpu"


def test_fit_learns_and_logs_history(blobs):
    tr, va = blobs
    model = small_mlp()
    hist = fit(model, tr, va, epochs=8, lr=1e-2, progress=False)
    assert isinstance(hist, History) and hist.stop_reason == "completed"
    assert hist["epoch"] == list(range(1, 9))
    assert hist["train_loss"][-1] < 0.5 * hist["train_loss"][0]
    assert hist["val_accuracy"][-1] > 0.9
    assert set(hist) >= {"loss", "grad_norm", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert len(hist["loss"]) == len(hist["grad_norm"]) == 8 * len(tr)
    assert evaluate(model, va)["accuracy"] == pytest.approx(hist["val_accuracy"][hist.best_epoch - 1])
    assert predict(model, va).shape == (100, 3)


def test_same_seed_same_run_different_seed_different_run(blobs):
    tr, va = blobs
    runs = []
    for seed in (1, 1, 2):
        model = small_mlp(0)
        tr.reseed(None)  # the loader is reseeded from fit's seed
        tr.seed = None
        h = fit(model, tr, va, epochs=3, lr=1e-2, seed=seed, progress=False)
        runs.append((h["train_loss"], [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert runs[0][0] != runs[2][0]


def test_early_stopping_restores_the_best_weights(blobs):
    tr, va = blobs
    model = small_mlp()
    hist = fit(model, tr, va, epochs=30, lr=1.0, optimizer="sgd", momentum=0.99, early_stopping=2,
               monitor="val_loss", progress=False)
    assert hist.stop_reason.startswith("early stopping") and len(hist["epoch"]) < 30
    best = min(hist["val_loss"])
    assert hist.best_value == best
    assert evaluate(model, va)["loss"] == pytest.approx(best, rel=1e-5)


def test_nan_loss_raises_training_diverged_with_epoch_iteration_and_hint(blobs):
    tr, va = blobs
    calls = {"n": 0}

    def loss_fn(out, y):
        calls["n"] += torch.is_grad_enabled()  # count training steps only, not validation
        loss = nn.functional.cross_entropy(out, y)
        return loss * math.nan if calls["n"] == 14 else loss  # step 4 of epoch 2 (10 steps/epoch)

    model = small_mlp()
    with pytest.raises(TrainingDiverged, match=r"the loss became nan at epoch 2, iteration 4 .*learning rate") as info:
        fit(model, tr, va, epochs=5, loss_fn=loss_fn, progress=False)
    err = info.value
    assert (err.epoch, err.iteration, err.global_iteration) == (2, 4, 14)
    hist = err.history
    assert hist["epoch"] == [1] and len(hist["loss"]) == 13 and err.last_finite_loss == hist["loss"][-1]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_checkpoint_reloads_the_model_exactly(blobs, tmp_path):
    tr, va = blobs
    model = small_mlp()
    path = tmp_path / "ckpt" / "best.pt"
    hist = fit(model, tr, va, epochs=4, lr=1e-2, checkpoint=path, hparams={"note": "test"}, progress=False)
    loaded, ckpt = load_checkpoint(path)
    assert type(loaded) is zoo.MLP and ckpt["model_hparams"]["hidden"] == [16]
    assert ckpt["hparams"]["lr"] == 1e-2 and ckpt["hparams"]["note"] == "test"
    assert ckpt["epoch"] == hist.best_epoch and ckpt["metrics"]["best"] == hist.best_value
    model.eval()
    x = torch.randn(7, 4)
    assert torch.equal(loaded(x), model(x))
    with pytest.raises(ValueError, match="does not record a zoo model"):
        torch.save({"state_dict": {}, "model_name": None}, tmp_path / "raw.pt")
        load_checkpoint(tmp_path / "raw.pt")


def test_schedulers_change_the_learning_rate(blobs):
    tr, _ = blobs
    h = fit(small_mlp(), tr, None, epochs=4, lr=0.1, scheduler="cosine", progress=False)
    assert h["lr"][-1] < 1e-6 < h["lr"][0]
    h = fit(small_mlp(), tr, None, epochs=4, lr=0.1, scheduler="step", progress=False)
    assert h["lr"] == pytest.approx([0.1, 0.01, 0.001, 0.001])


def test_plain_progress_lines_under_ci(blobs, capsys, monkeypatch):
    monkeypatch.setenv("I2DL_PLAIN_PROGRESS", "1")
    tr, va = blobs
    fit(small_mlp(), tr, va, epochs=4, progress=True)
    out = capsys.readouterr().out
    assert "fit: 4/4 (100%)" in out and "val_accuracy=" in out and "\r" not in out


def test_history_plot_returns_a_figure(blobs):
    tr, va = blobs
    h = fit(small_mlp(), tr, va, epochs=2, progress=False)
    fig = h.plot()
    assert len(fig.axes) == 2 and fig.axes[0].get_ylabel() == "loss"
    d = h.to_dict()
    assert d["metrics"]["epoch"] == [1, 2] and d["stop_reason"] == "completed"


def test_fit_accepts_torch_dataloaders_and_autoencoder_batches():
    X = np.random.default_rng(0).uniform(size=(64, 1, 16, 16)).astype(np.float32)
    ae = zoo.ConvAutoencoder(image_size=16, latent_dim=8)
    unl = torch.utils.data.DataLoader(ArrayDataset(X), batch_size=16, shuffle=True)
    h = fit(ae, unl, None, epochs=3, lr=3e-3, loss_fn=nn.functional.mse_loss, progress=False)
    assert h["train_loss"][-1] < h["train_loss"][0] and "train_accuracy" not in h
    gen = torch.Generator().manual_seed(0)
    h = fit(ae, unl, None, epochs=1, loss_fn=nn.functional.mse_loss, progress=False,
            batch_fn=lambda b: (zoo.add_noise(b, 0.3, generator=gen), b))
    assert math.isfinite(h["train_loss"][0])


def test_fit_rejects_bad_settings(blobs):
    tr, _ = blobs
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        fit(small_mlp(), tr, epochs=0)
    with pytest.raises(ValueError, match="needs a val_loader"):
        fit(small_mlp(), tr, monitor="val_accuracy")
    with pytest.raises(ValueError, match="optimizer must be"):
        fit(small_mlp(), tr, optimizer="adagrad-ish", progress=False)
    with pytest.raises(ValueError, match="scheduler must be"):
        fit(small_mlp(), tr, scheduler="warmup-ish", progress=False)


def test_fit_restores_deterministic_mode(blobs):
    tr, _ = blobs
    before = torch.are_deterministic_algorithms_enabled()
    fit(small_mlp(), tr, epochs=1, progress=False)
    assert torch.are_deterministic_algorithms_enabled() == before
    # also when fit refuses its settings or the run diverges
    with pytest.raises(ValueError, match="scheduler must be"):
        fit(small_mlp(), tr, scheduler="warmup-ish", progress=False)
    with pytest.raises(TrainingDiverged):
        fit(small_mlp(), tr, loss_fn=lambda out, y: out.sum() * math.nan, progress=False)
    assert torch.are_deterministic_algorithms_enabled() == before


# ----------------------------------------------------------------------------- zoo
@pytest.mark.parametrize("name,kwargs,x,out_shape", [
    ("mlp", {"in_features": 64, "batchnorm": True, "dropout": 0.1}, torch.randn(5, 1, 8, 8), (5, 10)),
    ("lenet", {"image_size": 28}, torch.randn(2, 1, 28, 28), (2, 10)),
    ("lenet", {"in_channels": 3, "image_size": 32}, torch.randn(2, 3, 32, 32), (2, 10)),
    ("resnet", {"block": "basic"}, torch.randn(2, 1, 16, 16), (2, 10)),
    ("resnet", {"block": "bottleneck", "widths": [16, 32]}, torch.randn(2, 1, 16, 16), (2, 10)),
    ("conv_autoencoder", {}, torch.rand(2, 1, 16, 16), (2, 1, 16, 16)),
    ("lstm_classifier", {"vocab_size": 12, "num_classes": 3}, torch.randint(0, 12, (4, 7)), (4, 3)),
    ("char_lm", {"vocab_size": 30}, torch.randint(0, 30, (2, 9)), (2, 9, 30)),
    ("transformer", {"vocab_size": 10}, torch.randint(0, 10, (3, 8)), (3, 8, 10)),
    ("transformer", {"vocab_size": 11, "vocab_out": 10, "out_len": 4}, torch.randint(0, 11, (3, 7)), (3, 4, 10)),
])
def test_zoo_models_build_by_name_and_produce_the_documented_shapes(name, kwargs, x, out_shape):
    torch.manual_seed(0)
    model = zoo.build(name, **kwargs)
    assert model.zoo_name == name and isinstance(model.hparams, dict)
    assert tuple(model(x).shape) == out_shape
    # The recorded hyperparameters rebuild the same architecture.
    again = zoo.build(name, **model.hparams)
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]


def test_resnet_blocks_are_residual_and_bottlenecks_use_1x1_convolutions():
    block = zoo.Bottleneck(32, 32)
    assert block.conv1.kernel_size == (1, 1) and block.conv3.kernel_size == (1, 1)
    assert block.conv2.in_channels == 8
    basic = zoo.BasicBlock(32, 32)
    assert sum(p.numel() for p in block.parameters()) < sum(p.numel() for p in basic.parameters()) / 4
    # With the residual branch silenced (last BN scale 0) the block is relu(x): the identity path.
    with torch.no_grad():
        basic.bn2.weight.zero_()
        basic.bn2.bias.zero_()
    x = torch.rand(2, 32, 4, 4)
    assert torch.allclose(basic(x), x)
    assert isinstance(zoo.BasicBlock(16, 32, stride=2).shortcut, nn.Sequential)


def test_vae_loss_is_reconstruction_plus_kl_and_sampling_works():
    torch.manual_seed(0)
    vae = zoo.VAE(in_features=16, hidden=8, latent_dim=2, image_shape=(1, 4, 4))
    x = torch.rand(5, 1, 4, 4)
    recon, mu, logvar = vae(x)
    assert recon.shape == x.shape and mu.shape == (5, 2)
    # With mu = 0 and logvar = 0 the KL term vanishes: the loss is pure reconstruction.
    zeros = torch.zeros(5, 2)
    rec_only = zoo.vae_loss((recon, zeros, zeros), x)
    expected = nn.functional.binary_cross_entropy_with_logits(recon, x, reduction="sum") / 5
    assert torch.allclose(rec_only, expected)
    assert zoo.vae_loss((recon, zeros + 1.0, zeros), x) > rec_only
    assert vae.sample(3).shape == (3, 1, 4, 4)


def test_char_lm_generates_from_a_prefix():
    torch.manual_seed(0)
    lm = zoo.CharLM(vocab_size=20, hidden=16)
    ids = lm.generate([1, 2, 3], n=10, generator=torch.Generator().manual_seed(0))
    assert len(ids) == 13 and ids[:3] == [1, 2, 3] and max(ids) < 20
    with pytest.raises(ValueError, match="temperature"):
        lm.generate([1], temperature=0)


def test_unknown_zoo_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="lenet"):
        zoo.build("alexnet")


@pytest.mark.slow
def test_digits_cnn_reaches_98_5_percent():
    from i2dl_lab.bridge.recipes import train_digits_cnn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train_digits_cnn(seed=0, device="cpu")
    print(f"digits LeNet: test accuracy {res['test_accuracy']:.4f} in {res['seconds']:.1f} s "
          f"({res['threads']} torch thread(s))")
    assert res["test_accuracy"] >= 0.985
    # Its time budget is a benchmark's to measure (benchmarks/bench_training.py), not a unit test's.


@pytest.mark.slow
def test_transformer_learns_to_reverse_sequences():
    from i2dl_lab.data import make_sequence_task

    X, Y = make_sequence_task("reverse", n=2000, length=6, vocab=8, seed=0)
    tr = DataLoader(ArrayDataset(X[:1600], Y[:1600]), batch_size=64, shuffle=True, seed=0)
    va = DataLoader(ArrayDataset(X[1600:], Y[1600:]), batch_size=400)
    torch.manual_seed(0)
    model = zoo.TransformerSeq(vocab_size=8, d_model=32, nhead=4, num_layers=2, dim_feedforward=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hist = fit(model, tr, va, epochs=8, lr=3e-3, progress=False)
    assert hist["val_accuracy"][-1] > 0.95  # per-token accuracy; chance is 1/8


@pytest.mark.slow
def test_lstm_classifier_and_vae_train_with_fit():
    from i2dl_lab.data import load_digits

    # Sequence label: does the sequence contain more 1s than 0s? Needs memory over the sequence.
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(1200, 9))
    y = (X.sum(axis=1) > 4).astype(np.int64)
    tr = DataLoader(ArrayDataset(X[:1000], y[:1000]), batch_size=50, shuffle=True, seed=0)
    va = DataLoader(ArrayDataset(X[1000:], y[1000:]), batch_size=200)
    torch.manual_seed(0)
    clf = zoo.LSTMClassifier(vocab_size=2, embed_dim=8, hidden=32, num_classes=2)
    hist = fit(clf, tr, va, epochs=10, lr=1e-2, progress=False)
    assert hist["val_accuracy"][-1] > 0.9

    d = load_digits(size=16)
    vae = zoo.VAE(in_features=256, hidden=64, latent_dim=4, image_shape=(1, 16, 16))
    unl = DataLoader(ArrayDataset(d["X_train"]), batch_size=64, shuffle=True, seed=0)
    hist = fit(vae, unl, None, epochs=5, lr=3e-3, loss_fn=zoo.vae_loss, progress=False)
    assert hist["train_loss"][-1] < 0.9 * hist["train_loss"][0]
