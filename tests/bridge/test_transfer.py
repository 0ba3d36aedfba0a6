"""Transfer-learning helpers, the shipped checkpoint and the few-label comparisons."""

import hashlib
import platform
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from i2dl_lab.bridge import transfer as tl
from i2dl_lab.bridge.zoo import LeNet

ROOT = Path(__file__).resolve().parents[2]


def test_freeze_and_unfreeze_by_prefix():
    torch.manual_seed(0)
    m = LeNet()
    total = sum(p.numel() for p in m.parameters())
    head = m.head.weight.numel() + m.head.bias.numel()
    assert tl.freeze(m, "features") == total - head
    assert tl.trainable_parameters(m) == head
    assert tl.unfreeze(m) == total and tl.trainable_parameters(m) == total
    assert tl.freeze(m) == total and tl.trainable_parameters(m) == 0
    with pytest.raises(ValueError, match="no parameter name starts with"):
        tl.freeze(m, "encoder")


def test_frozen_batchnorm_keeps_its_running_statistics():
    torch.manual_seed(0)
    m = LeNet()
    bn = m.features[1]
    tl.freeze(m, "features")
    before = bn.running_mean.clone()
    m.train()
    m(torch.randn(8, 1, 16, 16) + 3.0)
    assert torch.equal(bn.running_mean, before)
    tl.unfreeze(m, "features")
    m.train()
    m(torch.randn(8, 1, 16, 16) + 3.0)
    assert not torch.equal(bn.running_mean, before)


def test_replace_head_and_prepare_transfer_modes():
    torch.manual_seed(0)
    m = LeNet(num_classes=10)
    new = tl.replace_head(m, 4, seed=0)
    assert m.head is new and new.out_features == 4 and m.hparams["num_classes"] == 4
    assert m(torch.randn(2, 1, 16, 16)).shape == (2, 4)
    groups = tl.prepare_transfer(m, "feature_extraction", num_classes=3, lr=0.01)
    assert len(groups) == 1 and tl.trainable_parameters(m) == 3 * 64 + 3
    groups = tl.prepare_transfer(m, "fine_tuning", lr=0.01, body_lr_factor=0.1)
    assert [g["lr"] for g in groups] == [pytest.approx(0.001), 0.01]
    assert tl.trainable_parameters(m) == sum(p.numel() for p in m.parameters())
    with pytest.raises(ValueError, match="mode must be"):
        tl.prepare_transfer(m, "distillation")


def test_head_is_found_without_a_head_attribute():
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    name, layer = tl.get_head(net)
    assert name == "2" and layer is net[2]
    tl.replace_head(net, 7)
    assert net(torch.randn(1, 3)).shape == (1, 7)
    with pytest.raises(ValueError, match="no nn.Linear"):
        tl.get_head(nn.Sequential(nn.ReLU()))


def test_extract_features_returns_head_inputs():
    torch.manual_seed(0)
    m = LeNet().eval()
    x = np.random.default_rng(0).uniform(size=(5, 1, 16, 16)).astype(np.float32)
    feats = tl.extract_features(m, x, batch_size=2)
    assert feats.shape == (5, 64)
    logits = m(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(feats @ m.head.weight.detach().numpy().T + m.head.bias.detach().numpy(), logits,
                               rtol=1e-5, atol=1e-5)


def test_shipped_checkpoint_is_small_listed_and_loadable():
    path = tl.PRETRAINED_PATH
    assert path.exists() and path.stat().st_size < 2 * 1024 * 1024
    sums = dict(reversed(line.split()) for line in (ROOT / "data" / "SHA256SUMS").read_text().splitlines())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sums[path.name]
    model = tl.load_pretrained()
    assert isinstance(model, LeNet) and not model.training
    assert model(torch.zeros(1, 1, 16, 16)).shape == (1, 10)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["hparams"]["script"] == "scripts/make_pretrained.py"


def test_jitter_is_seeded_and_changes_images():
    x = np.random.default_rng(0).uniform(size=(4, 1, 16, 16)).astype(np.float32)
    a, b = tl.jitter_digits(x, 3), tl.jitter_digits(x, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, x) and a.dtype == np.float32


def test_pretraining_and_target_data_are_disjoint():
    part_a, part_b = tl.digits_parts()
    assert not set(part_a) & set(part_b)
    data = tl.target_task_data(shots=10, seed=0)
    assert data["X_few"].shape == (100, 1, 16, 16)
    np.testing.assert_array_equal(np.bincount(data["y_few"]), np.full(10, 10))


@pytest.mark.slow
def test_fine_tuning_the_shipped_checkpoint_beats_scratch_by_5_points():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = tl.fewshot_transfer(shots=10, seeds=(0,), epochs=100)
    print(f"10 labels/class: scratch {res['scratch_mean']:.3f}, feature extraction "
          f"{res['feature_extraction_mean']:.3f}, fine-tuning {res['fine_tuning_mean']:.3f}")
    assert res["fine_tuning_mean"] >= res["scratch_mean"] + 0.05


@pytest.mark.slow
def test_make_pretrained_reproduces_the_shipped_checkpoint(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tl.pretrain_digits_lenet(tmp_path / "fresh.pt")
    fresh = torch.load(tmp_path / "fresh.pt", weights_only=True)
    shipped = torch.load(tl.PRETRAINED_PATH, weights_only=True)
    assert fresh["state_dict"].keys() == shipped["state_dict"].keys()
    # MKL and oneDNN choose kernels by the CPU's capability (AVX2, AVX-512, ...), and other
    # kernels round differently: bit-equality is promised only on the recorded capability.
    same_platform = (shipped["hparams"].get("platform") == platform.machine()
                     and shipped["hparams"].get("cpu_capability") == torch.backends.cpu.get_cpu_capability()
                     and shipped["torch_version"] == str(torch.__version__))
    if same_platform:  # deterministic algorithms, one thread: bit for bit
        for k, v in shipped["state_dict"].items():
            assert torch.equal(fresh["state_dict"][k], v), k
    else:  # other CPUs/kernels round differently; the trained network must still agree
        a, b = LeNet(), LeNet()
        a.load_state_dict(fresh["state_dict"])
        b.load_state_dict(shipped["state_dict"])
        x = torch.from_numpy(tl.target_task_data(10, 0)["X_test"])
        agree = (a.eval()(x).argmax(1) == b.eval()(x).argmax(1)).float().mean()
        assert agree > 0.97


@pytest.mark.slow
def test_autoencoder_pretraining_comparison_runs_and_learns():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = tl.autoencoder_pretraining(labels_per_class=10, seeds=(0,), ae_epochs=8, epochs=60)
    print(f"autoencoder pretraining, 10 labels/class: scratch {res['scratch_mean']:.3f}, "
          f"feature extraction {res['feature_extraction_mean']:.3f}, fine-tuning {res['fine_tuning_mean']:.3f}")
    assert res["ae_loss"] < 0.02  # pixels in [0, 1]: the encoder keeps most of the image
    for key in ("scratch", "feature_extraction", "fine_tuning"):
        assert res[key + "_mean"] > 0.7, res
