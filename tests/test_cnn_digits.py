"""End to end: a NumPy CNN trained by the Trainer classifies sklearn's digits.

conv3x3(16)-relu-pool2 -> conv3x3(32)-relu-pool2 -> affine(10) -> softmax loss, on the 8x8
digits upsampled to 16x16 (so that two pooling stages leave a 4x4 map), Adam with a cosine
learning-rate schedule, float32. Trained on the train and validation splits together (no model
selection happens) and scored once on the held-out test split.

Measured while writing this (2-core machine shared by several test runs): about 25 s, test
accuracy 98.9-99.3 % over model seeds 0, 10, 20, 30; the issue asks for >= 98 % in < 90 s.
"""

import time

import numpy as np
import pytest

from i2dl_lab.data.offline import load_digits
from i2dl_lab.models import digits_cnn
from i2dl_lab.nn.losses import softmax_loss
from i2dl_lab.nn.lr_scheduler import CosineAnnealingLR
from i2dl_lab.nn.optim import Adam
from i2dl_lab.train import Trainer


@pytest.mark.slow
def test_numpy_cnn_reaches_98_percent_on_digits():
    start = time.perf_counter()
    size, epochs = 16, 15
    data = load_digits(size=size, seed=0)
    X = np.concatenate([data["X_train"], data["X_val"]])  # (N, 1, 16, 16) float32
    y = np.concatenate([data["y_train"], data["y_val"]])
    model = digits_cnn(size, seed=0)
    optimizer = Adam(model, lr=2e-3)
    trainer = Trainer(
        model,
        softmax_loss,
        optimizer,
        (X, y),
        batch_size=32,
        epochs=epochs,
        scheduler=CosineAnnealingLR(optimizer, T_max=epochs),
        seed=0,
        num_train_samples=300,
        progress=False,
    )
    history = trainer.fit()
    test_acc = trainer.check_accuracy(data["X_test"], data["y_test"])
    elapsed = time.perf_counter() - start
    print(f"digits CNN: test accuracy {test_acc:.4f} after {epochs} epochs in {elapsed:.1f} s")
    assert history["train_loss"][-1] < history["train_loss"][0] / 5
    assert test_acc >= 0.98, f"test accuracy {test_acc:.4f} < 0.98"
    # The 90 s budget is timed by benchmarks/bench_training.py --model cnn, not asserted here.
