"""Wall-clock time of the foundation's headline training run (not a unit test).

The issue asks that a two-layer MLP trained by the NumPy Trainer reach at least 97% test
accuracy on scikit-learn's digits within 20 s on a 2-core machine. This script trains the
same configuration as ``tests/test_train.py`` several times and prints the median time,
the accuracies and the thread count.

    .venv/bin/python benchmarks/bench_training.py [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (set before NumPy loads)")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from i2dl_lab.nn.layers import Linear, ReLU, Sequential
    from i2dl_lab.nn.losses import softmax_loss
    from i2dl_lab.nn.optim import Adam, CosineAnnealingLR
    from i2dl_lab.train import Trainer

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)
    times, accs = [], []
    for rep in range(args.repeats):
        start = time.perf_counter()
        model = Sequential(Linear(64, 256, seed=0), ReLU(), Linear(256, 10, seed=1))
        opt = Adam(model, lr=3e-3, weight_decay=1e-3)
        trainer = Trainer(model, softmax_loss, opt, (Xtr, ytr), batch_size=64, epochs=40,
                          scheduler=CosineAnnealingLR(opt, T_max=40), seed=0, verbose=False)
        trainer.fit()
        accs.append(trainer.check_accuracy(Xte, yte))
        times.append(time.perf_counter() - start)
        print(f"run {rep + 1}: test accuracy {accs[-1]:.4f} in {times[-1]:.2f} s")
    print(f"digits MLP 64-256-10 (Adam, cosine, 40 epochs), {args.threads} thread(s): "
          f"median {statistics.median(times):.2f} s (budget 20 s), test accuracy {min(accs):.4f}-{max(accs):.4f}")


if __name__ == "__main__":
    main()
