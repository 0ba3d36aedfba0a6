"""Wall-clock time of the headline NumPy training runs (a benchmark, not a unit test).

The issues promise, on a 2-core machine:

* ``--model mlp``: a two-layer MLP trained by the Trainer reaches >= 97% test accuracy on
  scikit-learn's digits within 20 s (the configuration of ``tests/test_train.py``);
* ``--model cnn``: a NumPy CNN (conv-relu-pool x2, affine) reaches >= 98% within 90 s
  (the configuration of ``tests/test_cnn_digits.py``);
* ``--model charlm``: the NumPy character LSTM language model gets its validation loss per
  character clearly below the corpus's unigram entropy within 60 s (the configuration of
  ``tests/nn/test_charlm.py``); the "accuracy" column then shows that margin in nats;
* ``--model lenet``: the torch digits LeNet of ``i2dl_lab.bridge.recipes`` reaches >= 98.5%
  within 30 s (the configuration of ``tests/bridge/test_fit_zoo.py``).

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

    from i2dl_lab.models import digits_mlp
    from i2dl_lab.nn.losses import softmax_loss
    from i2dl_lab.nn.lr_scheduler import CosineAnnealingLR
    from i2dl_lab.nn.optim import Adam
    from i2dl_lab.train import Trainer

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)
    model = digits_mlp(hidden=256, seed=0)
    opt = Adam(model, lr=3e-3, weight_decay=1e-3)
    trainer = Trainer(model, softmax_loss, opt, (Xtr, ytr), batch_size=64, epochs=40,
                      scheduler=CosineAnnealingLR(opt, T_max=40), seed=0, progress=False)
    trainer.fit()
    return trainer.check_accuracy(Xte, yte)


def run_cnn():
    import numpy as np

    from i2dl_lab.data.offline import load_digits
    from i2dl_lab.models import digits_cnn
    from i2dl_lab.nn.losses import softmax_loss
    from i2dl_lab.nn.lr_scheduler import CosineAnnealingLR
    from i2dl_lab.nn.optim import Adam
    from i2dl_lab.train import Trainer

    data = load_digits(size=16, seed=0)
    X = np.concatenate([data["X_train"], data["X_val"]])
    y = np.concatenate([data["y_train"], data["y_val"]])
    model = digits_cnn(16, seed=0)
    opt = Adam(model, lr=2e-3)
    trainer = Trainer(model, softmax_loss, opt, (X, y), batch_size=32, epochs=15,
                      scheduler=CosineAnnealingLR(opt, T_max=15), seed=0, num_train_samples=300, progress=False)
    trainer.fit()
    return trainer.check_accuracy(data["X_test"], data["y_test"])


def run_charlm():
    from i2dl_lab.data.corpus import CharCorpus
    from i2dl_lab.sequence.charlm import CharLM, evaluate_charlm, train_charlm, unigram_entropy

    corpus = CharCorpus(size=150_000)
    train_ids, val_ids = corpus.split(0.1)
    model = CharLM(corpus.vocab_size, hidden_size=128, embed_dim=32, seed=0)
    train_charlm(model, train_ids, steps=250, batch_size=32, seq_len=50, progress=False)
    return unigram_entropy(train_ids, corpus.vocab_size) - evaluate_charlm(model, val_ids)


def run_lenet():
    import warnings

    from i2dl_lab.bridge.recipes import train_digits_cnn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train_digits_cnn(seed=0, device="cpu")["test_accuracy"]


# name -> (run function, time budget in s, description, what the function returns)
MODELS = {"mlp": (run_mlp, 20.0, "digits MLP 64-256-10, Adam + cosine, 40 epochs", "test accuracy"),
          "cnn": (run_cnn, 90.0, "digits CNN 16x16, conv16-pool-conv32-pool-fc, Adam + cosine, 15 epochs",
                  "test accuracy"),
          "lenet": (run_lenet, 30.0, "torch digits LeNet (bridge.recipes.train_digits_cnn)", "test accuracy"),
          "charlm": (run_charlm, 60.0, "char LSTM LM 128 hidden, 250 steps of truncated BPTT",
                     "unigram entropy minus validation loss (nats/char)")}


def main() -> None:
    parser = argparse.ArgumentParser(description="Time the digits models the issues promise.")
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (set before NumPy loads)")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    fn, budget, label, metric = MODELS[args.model]
    times, accs = [], []
    for rep in range(args.repeats):
        start = time.perf_counter()
        accs.append(fn())
        times.append(time.perf_counter() - start)
        print(f"run {rep + 1}: {metric} {accs[-1]:.4f} in {times[-1]:.2f} s")
    print(f"{label}, {args.threads} thread(s): median {statistics.median(times):.2f} s (budget {budget:.0f} s), "
          f"{metric} {min(accs):.4f}-{max(accs):.4f}")


if __name__ == "__main__":
    main()
