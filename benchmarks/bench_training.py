"""Wall-clock time of the headline NumPy training runs (a benchmark, not a unit test).

The issues promise, on a 2-core machine:

* ``--model mlp``: a two-layer MLP trained by the Trainer reaches >= 97% test accuracy on
  scikit-learn's digits within 20 s (the configuration of ``tests/test_train.py``);
* ``--model cnn``: a NumPy CNN (conv-relu-pool x2, affine) reaches >= 98% within 90 s
  (the configuration of ``tests/test_cnn_digits.py``).

The script trains the model ``--repeats`` times and prints each run, the median time, the
accuracies and the thread count.

    .venv/bin/python benchmarks/bench_training.py --model cnn --repeats 3 --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def run_mlp():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from i2dl_lab.nn.losses import softmax_loss
    from i2dl_lab.nn.models import digits_mlp
    from i2dl_lab.nn.optim import Adam, CosineAnnealingLR
    from i2dl_lab.train import Trainer

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)
    model = digits_mlp(hidden=256, seed=0)
    opt = Adam(model, lr=3e-3, weight_decay=1e-3)
    trainer = Trainer(model, softmax_loss, opt, (Xtr, ytr), batch_size=64, epochs=40,
                      scheduler=CosineAnnealingLR(opt, T_max=40), seed=0, verbose=False)
    trainer.fit()
    return trainer.check_accuracy(Xte, yte)


def run_cnn():
    import numpy as np

    from i2dl_lab.data.offline import load_digits
    from i2dl_lab.nn.losses import softmax_loss
    from i2dl_lab.nn.lr_scheduler import CosineAnnealingLR
    from i2dl_lab.nn.models import digits_cnn
    from i2dl_lab.nn.optim import Adam
    from i2dl_lab.train import Trainer

    data = load_digits(size=16, seed=0)
    X = np.concatenate([data["X_train"], data["X_val"]])
    y = np.concatenate([data["y_train"], data["y_val"]])
    model = digits_cnn(16, seed=0)
    opt = Adam(model, lr=2e-3)
    trainer = Trainer(model, softmax_loss, opt, (X, y), batch_size=32, epochs=15,
                      scheduler=CosineAnnealingLR(opt, T_max=15), seed=0, num_train_samples=300, verbose=False)
    trainer.fit()
    return trainer.check_accuracy(data["X_test"], data["y_test"])


MODELS = {"mlp": (run_mlp, 20.0, "digits MLP 64-256-10, Adam + cosine, 40 epochs"),
          "cnn": (run_cnn, 90.0, "digits CNN 16x16, conv16-pool-conv32-pool-fc, Adam + cosine, 15 epochs")}


def main() -> None:
    parser = argparse.ArgumentParser(description="Time the NumPy digits models the issues promise.")
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (set before NumPy loads)")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    fn, budget, label = MODELS[args.model]
    times, accs = [], []
    for rep in range(args.repeats):
        start = time.perf_counter()
        accs.append(fn())
        times.append(time.perf_counter() - start)
        print(f"run {rep + 1}: test accuracy {accs[-1]:.4f} in {times[-1]:.2f} s")
    print(f"{label}, {args.threads} thread(s): median {statistics.median(times):.2f} s (budget {budget:.0f} s), "
          f"test accuracy {min(accs):.4f}-{max(accs):.4f}")


if __name__ == "__main__":
    main()
