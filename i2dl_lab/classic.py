"""Classic learners before neural networks: k-nearest neighbours, linear classifiers, regression.

Everything uses the CS231n layout: data ``X`` of shape (N, D) (images are flattened to
rows), weights ``W`` of shape (D, C) so that the scores are ``X @ W`` of shape (N, C),
integer labels ``y`` of shape (N,). Regularisation is ``reg * sum(W**2)`` (gradient
``2 * reg * W``), as in the CS231n assignments.

* :class:`KNearestNeighbor` -- memorise the training set, vote among the ``k`` closest.
* :func:`svm_loss_naive` / :func:`svm_loss_vectorized`, :func:`softmax_loss_naive` /
  :func:`softmax_loss_vectorized` -- ``loss, dW = f(W, X, y, reg)``: the loops version to
  read, the vectorised version to use; they agree to rounding.
* :class:`LinearSVM`, :class:`SoftmaxClassifier` -- minibatch SGD on those losses.
* :class:`LinearRegression` -- normal equation (with optional ridge) or gradient descent.
* :class:`LogisticRegression` -- binary, cross-entropy from logits, gradient descent.
"""

from __future__ import annotations

import numpy as np

from .nn import losses as _losses
from .nn._checks import as_float_array, check_int, check_labels, check_positive
from .nn.functional.core import sigmoid
from .nn.init import as_rng

__all__ = [
    "KNearestNeighbor",
    "svm_loss_naive",
    "svm_loss_vectorized",
    "softmax_loss_naive",
    "softmax_loss_vectorized",
    "LinearClassifier",
    "LinearSVM",
    "SoftmaxClassifier",
    "design_matrix",
    "normal_equation",
    "mse_loss_and_grad",
    "gd_fit",
    "LinearRegression",
    "LogisticRegression",
]


# ------------------------------------------------------------------------------ helpers
def _as_rows(name: str, X) -> np.ndarray:
    """Float (N, D) view of ``X``; (N, d1, ..., dk) inputs (images) are flattened per row."""
    X = as_float_array(name, X)
    if X.ndim < 2:
        raise ValueError(f"{name} must have shape (N, D) (one sample per row), got shape {X.shape}")
    return X.reshape(X.shape[0], -1)


def _check_features(name: str, X: np.ndarray, D: int, what: str) -> None:
    if X.shape[1] != D:
        raise ValueError(f"{name} must have {D} features per row ({what}), got shape {X.shape}")


def _int_labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) (one label per row of X), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"y must hold labels >= 0, got minimum {y.min()}")
    return y.astype(np.int64, copy=False)


# ====================================================================== k-nearest neighbours
class KNearestNeighbor:
    """k-nearest-neighbour classifier with L2 or L1 distance.

    Training only memorises the data; prediction finds, for each test row, the ``k``
    training rows closest to it and returns the most common label among them. A tie in the
    vote goes to the smallest label; among equally distant training rows the earlier one
    counts first.

    Args:
        k: number of neighbours that vote (int >= 1).
        metric: ``"l2"`` (Euclidean) or ``"l1"`` (Manhattan).

    Example:
        >>> knn = KNearestNeighbor(k=1).fit(np.array([[0.0], [10.0]]), np.array([3, 7]))
        >>> knn.predict(np.array([[1.0], [8.0]]))
        array([3, 7])
    """

    def __init__(self, k: int = 1, metric: str = "l2") -> None:
        self.k = check_int("k", k)
        if metric not in ("l1", "l2"):
            raise ValueError(f"metric must be 'l1' or 'l2', got {metric!r}")
        self.metric = metric
        self.X_train: np.ndarray | None = None
        self.y_train: np.ndarray | None = None

    def fit(self, X, y) -> KNearestNeighbor:
        """Memorise the training data ``X`` (N, D) and labels ``y`` (N,); returns ``self``."""
        X = _as_rows("X", X)
        self.X_train = X
        self.y_train = _int_labels(y, X.shape[0])
        return self

    def train(self, X, y) -> KNearestNeighbor:
        """CS231n's name for :meth:`fit`."""
        return self.fit(X, y)

    def _test_rows(self, X) -> np.ndarray:
        if self.X_train is None:
            raise RuntimeError("KNearestNeighbor: call fit(X, y) before computing distances or predicting")
        X = _as_rows("X", X)
        _check_features("X", X, self.X_train.shape[1], "as many as the training data")
        return X

    # -- distances: three implementations of the same (M, N) matrix -----------------------
    def compute_distances_two_loops(self, X) -> np.ndarray:
        """Distances with a loop over test rows and one over training rows (slow; to read).

        Returns:
            dists: (M, N), ``dists[i, j]`` = distance between test row i and training row j.
        """
        X = self._test_rows(X)
        M, N = X.shape[0], self.X_train.shape[0]
        dists = np.zeros((M, N))
        for i in range(M):
            for j in range(N):
                diff = X[i] - self.X_train[j]
                if self.metric == "l2":
                    dists[i, j] = np.sqrt(np.sum(diff * diff))
                else:
                    dists[i, j] = np.sum(np.abs(diff))
        return dists

    def compute_distances_one_loop(self, X) -> np.ndarray:
        """Distances with one loop over test rows, broadcasting over the training set."""
        X = self._test_rows(X)
        dists = np.zeros((X.shape[0], self.X_train.shape[0]))
        for i in range(X.shape[0]):
            diff = self.X_train - X[i]  # (N, D)
            if self.metric == "l2":
                dists[i] = np.sqrt(np.sum(diff * diff, axis=1))
            else:
                dists[i] = np.sum(np.abs(diff), axis=1)
        return dists

    def compute_distances(self, X) -> np.ndarray:
        """All distances at once.

        L2 uses ``|a - b|^2 = |a|^2 + |b|^2 - 2 a.b``: one matrix product, no loop.
        Rounding can make the expansion slightly negative for (near-)identical rows, so it is
        clamped at 0 before the square root.

        L1 has no such expansion; it broadcasts ``|a - b|`` over blocks of test rows sized
        to keep the (rows, N, D) temporary under about 32 MB.

        Args:
            X: test data, (M, D).

        Returns:
            dists: (M, N).
        """
        X = self._test_rows(X)
        Xtr = self.X_train
        if self.metric == "l2":
            sq = (np.sum(X * X, axis=1)[:, None]           # (M, 1)
                  + np.sum(Xtr * Xtr, axis=1)[None, :]     # (1, N)
                  - 2.0 * X @ Xtr.T)                       # (M, N)
            return np.sqrt(np.maximum(sq, 0.0))
        block = max(1, int(4_000_000 // max(1, Xtr.size)))
        dists = np.empty((X.shape[0], Xtr.shape[0]))
        for start in range(0, X.shape[0], block):
            chunk = X[start:start + block]
            dists[start:start + block] = np.abs(chunk[:, None, :] - Xtr[None, :, :]).sum(axis=2)  # (b, N, D) -> (b, N)
        return dists

    def compute_distances_no_loops(self, X) -> np.ndarray:
        """CS231n's name for :meth:`compute_distances`."""
        return self.compute_distances(X)

    # -- voting ------------------------------------------------------------------------------
    def predict_labels(self, dists: np.ndarray, k: int | None = None) -> np.ndarray:
        """Majority vote among the ``k`` nearest training rows of each test row.

        Args:
            dists: (M, N) distances from :meth:`compute_distances`.
            k: overrides ``self.k``.

        Returns:
            y_pred: (M,) integer labels; ties go to the smallest label.
        """
        if self.y_train is None:
            raise RuntimeError("KNearestNeighbor: call fit(X, y) before predicting")
        k = self.k if k is None else check_int("k", k)
        dists = np.asarray(dists)
        N = self.y_train.shape[0]
        if dists.ndim != 2 or dists.shape[1] != N:
            raise ValueError(f"dists must have shape (M, {N}), got {dists.shape}")
        if k > N:
            raise ValueError(f"k={k} is larger than the number of training samples {N}")
        # a stable sort keeps the earlier training row first among equal distances
        nearest = np.argsort(dists, axis=1, kind="stable")[:, :k]  # (M, k)
        labels = self.y_train[nearest]                              # (M, k)
        classes = np.unique(self.y_train)
        votes = (labels[:, :, None] == classes[None, None, :]).sum(axis=1)  # (M, C)
        return classes[np.argmax(votes, axis=1)]  # argmax returns the first (smallest) class of a tie

    def predict(self, X, k: int | None = None, num_loops: int = 0) -> np.ndarray:
        """Predict labels for ``X`` (M, D); ``num_loops`` picks the distance implementation."""
        if num_loops == 0:
            dists = self.compute_distances(X)
        elif num_loops == 1:
            dists = self.compute_distances_one_loop(X)
        elif num_loops == 2:
            dists = self.compute_distances_two_loops(X)
        else:
            raise ValueError(f"num_loops must be 0, 1 or 2, got {num_loops!r}")
        return self.predict_labels(dists, k)

    def __repr__(self) -> str:
        return f"KNearestNeighbor(k={self.k}, metric={self.metric!r})"


# ====================================================================== linear-classifier losses
def _loss_inputs(W, X, y, reg):
    W = as_float_array("W", W)
    X = as_float_array("X", X)
    if W.ndim != 2:
        raise ValueError(f"W must have shape (D, C), got {W.shape}")
    if X.ndim != 2 or X.shape[1] != W.shape[0]:
        raise ValueError(f"X must have shape (N, {W.shape[0]}) to match W {W.shape}, got {X.shape}")
    y = check_labels("y", y, X.shape[0], W.shape[1])
    if not np.isscalar(reg) or reg < 0:
        raise ValueError(f"reg must be a non-negative number, got {reg!r}")
    return W, X, y


def svm_loss_naive(W, X, y, reg):
    """Multiclass SVM (hinge) loss with loops, margin 1.

    ``L = 1/N sum_i sum_{j != y_i} max(0, s_ij - s_iy_i + 1) + reg * sum(W**2)``, ``s = X @ W``.

    Args:
        W: weights, (D, C).
        X: data, (N, D).
        y: labels, (N,), values in [0, C).
        reg: L2 regularisation strength (>= 0).

    Returns:
        loss: float.
        dW: gradient, (D, C). Where a margin is exactly 0 the subgradient 0 is used.

    Example:
        >>> W = np.array([[1.0, 0.0], [0.0, 1.0]]); X = np.array([[2.0, 0.5]])
        >>> svm_loss_naive(W, X, np.array([1]), 0.0)[0]   # max(0, 2 - 0.5 + 1)
        2.5
    """
    W, X, y = _loss_inputs(W, X, y, reg)
    dW = np.zeros_like(W)
    N, C = X.shape[0], W.shape[1]
    loss = 0.0
    for i in range(N):
        scores = X[i] @ W
        correct = scores[y[i]]
        for j in range(C):
            if j == y[i]:
                continue
            margin = scores[j] - correct + 1.0
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / N + reg * np.sum(W * W)
    dW = dW / N + 2 * reg * W
    return float(loss), dW


def svm_loss_vectorized(W, X, y, reg):
    """Same as :func:`svm_loss_naive` without loops (same Args / Returns)."""
    W, X, y = _loss_inputs(W, X, y, reg)
    N = X.shape[0]
    rows = np.arange(N)
    scores = X @ W                                            # (N, C)
    margins = scores - scores[rows, y][:, None] + 1.0         # (N, C)
    margins[rows, y] = 0.0
    positive = margins > 0
    loss = np.sum(margins[positive]) / N + reg * np.sum(W * W)
    # each positive margin adds x_i to column j and subtracts it from column y_i
    coef = positive.astype(W.dtype)                           # (N, C)
    coef[rows, y] = -coef.sum(axis=1)
    dW = X.T @ coef / N + 2 * reg * W
    return float(loss), dW


def softmax_loss_naive(W, X, y, reg):
    """Softmax (cross-entropy) loss with loops.

    ``L = 1/N sum_i -log(exp(s_iy_i) / sum_j exp(s_ij)) + reg * sum(W**2)``; each row's
    scores are shifted by their maximum first so large scores do not overflow.

    Args:
        W: weights, (D, C).
        X: data, (N, D).
        y: labels, (N,), values in [0, C).
        reg: L2 regularisation strength (>= 0).

    Returns:
        loss: float.
        dW: gradient, (D, C).
    """
    W, X, y = _loss_inputs(W, X, y, reg)
    dW = np.zeros_like(W)
    N, C = X.shape[0], W.shape[1]
    loss = 0.0
    for i in range(N):
        scores = X[i] @ W
        scores = scores - np.max(scores)
        exp = np.exp(scores)
        total = np.sum(exp)
        loss += np.log(total) - scores[y[i]]
        for j in range(C):
            p = exp[j] / total
            dW[:, j] += (p - (j == y[i])) * X[i]
    loss = loss / N + reg * np.sum(W * W)
    dW = dW / N + 2 * reg * W
    return float(loss), dW


def softmax_loss_vectorized(W, X, y, reg):
    """Same as :func:`softmax_loss_naive` without loops (same Args / Returns)."""
    W, X, y = _loss_inputs(W, X, y, reg)
    N = X.shape[0]
    rows = np.arange(N)
    scores = X @ W                                            # (N, C)
    scores = scores - scores.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scores).sum(axis=1))             # (N,)
    loss = np.mean(log_norm - scores[rows, y]) + reg * np.sum(W * W)
    probs = np.exp(scores - log_norm[:, None])                # (N, C)
    probs[rows, y] -= 1.0
    dW = X.T @ probs / N + 2 * reg * W
    return float(loss), dW


# ====================================================================== linear classifiers
class LinearClassifier:
    """Scores ``X @ W`` (a column of ones appended when ``bias``), trained by minibatch SGD.

    Args:
        learning_rate, reg, num_iters, batch_size: defaults for :meth:`train`.
        bias: append a constant-1 feature ("bias trick") so ``W`` holds the biases in its
            last row, shape (D + 1, C). That row is regularised too, as in CS231n.
        weight_scale: std of the random initial weights.
        seed: seeds both the initial weights and the minibatch sampling.

    Attributes:
        W: (D [+1], C) after training.
    """

    loss_fn = staticmethod(softmax_loss_vectorized)

    def __init__(self, learning_rate: float = 1e-3, reg: float = 1e-5, num_iters: int = 1000,
                 batch_size: int = 200, bias: bool = True, weight_scale: float = 1e-3, seed: int | None = 0) -> None:
        self.learning_rate, self.reg = learning_rate, reg
        self.num_iters, self.batch_size = num_iters, batch_size
        self.bias, self.weight_scale, self.seed = bool(bias), weight_scale, seed
        self.W: np.ndarray | None = None
        self.loss_history: list[float] = []

    def _design(self, X) -> np.ndarray:
        X = _as_rows("X", X)
        if self.bias:
            X = np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])
        return X

    def loss(self, X_batch, y_batch, reg):
        """``loss, dW`` on a batch of already-designed rows (bias column included)."""
        return type(self).loss_fn(self.W, X_batch, y_batch, reg)

    def train(self, X, y, learning_rate: float | None = None, reg: float | None = None,
              num_iters: int | None = None, batch_size: int | None = None, verbose: bool = False) -> list[float]:
        """Run minibatch SGD; returns the loss of every iteration.

        Minibatches are drawn with replacement (as in CS231n) from a generator seeded with
        ``seed``, so the same seed gives the same weights. Training continues from the
        current ``W`` when it exists.

        Args:
            X: (N, D) data; y: (N,) labels in [0, C).
            learning_rate, reg, num_iters, batch_size: override the constructor's values.
            verbose: print the loss every 100 iterations.
        """
        lr = self.learning_rate if learning_rate is None else learning_rate
        reg = self.reg if reg is None else reg
        num_iters = self.num_iters if num_iters is None else num_iters
        batch_size = self.batch_size if batch_size is None else batch_size
        check_positive("learning_rate", lr)
        num_iters, batch_size = check_int("num_iters", num_iters), check_int("batch_size", batch_size)
        Xd = self._design(X)
        y = _int_labels(y, Xd.shape[0])
        rng = as_rng(self.seed)
        C = int(y.max()) + 1
        if self.W is None:
            self.W = self.weight_scale * rng.standard_normal((Xd.shape[1], C))
        elif self.W.shape[0] != Xd.shape[1]:
            raise ValueError(f"X has {Xd.shape[1]} columns (bias included) but W has shape {self.W.shape}")
        history = []
        for it in range(num_iters):
            idx = rng.choice(Xd.shape[0], size=batch_size, replace=True)
            with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is reported just below
                loss, dW = self.loss(Xd[idx], y[idx], reg)
            if not np.isfinite(loss):
                raise FloatingPointError(
                    f"{type(self).__name__}: loss became {loss} at iteration {it}; lower the learning rate"
                )
            self.W -= lr * dW
            history.append(loss)
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss:.6f}")
        self.loss_history.extend(history)
        return history

    def fit(self, X, y, **kwargs):
        """Like :meth:`train` but returns ``self`` (scikit-learn style)."""
        self.train(X, y, **kwargs)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Class scores (N, C)."""
        if self.W is None:
            raise RuntimeError(f"{type(self).__name__}: train before predicting")
        Xd = self._design(X)
        _check_features("X", Xd, self.W.shape[0], "as many as during training" + (" plus bias" if self.bias else ""))
        return Xd @ self.W

    def predict(self, X) -> np.ndarray:
        """Labels (N,) with the highest score."""
        return np.argmax(self.decision_function(X), axis=1)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(learning_rate={self.learning_rate:g}, reg={self.reg:g}, "
                f"num_iters={self.num_iters}, batch_size={self.batch_size}, bias={self.bias})")


class LinearSVM(LinearClassifier):
    """Linear classifier trained on the multiclass hinge loss (:func:`svm_loss_vectorized`)."""

    loss_fn = staticmethod(svm_loss_vectorized)


class SoftmaxClassifier(LinearClassifier):
    """Linear classifier trained on the softmax loss (:func:`softmax_loss_vectorized`)."""

    loss_fn = staticmethod(softmax_loss_vectorized)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, C), rows sum to 1."""
        return _losses.softmax(self.decision_function(X), axis=1)


# ====================================================================== regression
def _xy_regression(X, y):
    X = _as_rows("X", X)
    y = as_float_array("y", y)
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) or ({X.shape[0]}, K) to match X {X.shape}, got {y.shape}")
    return X, y


# ------------------------------------------------------------------ linear regression, lecture form
def design_matrix(x: np.ndarray) -> np.ndarray:
    """``[1, x]`` rows: (N,) or (N, D) inputs -> (N, D + 1) with the bias column first.

    Example:
        >>> design_matrix(np.array([2.0, 3.0]))
        array([[1., 2.],
               [1., 3.]])
    """
    x = np.asarray(x, dtype=np.float64)
    x2 = x.reshape(len(x), -1)  # (N, D)
    return np.hstack([np.ones((len(x2), 1)), x2])


def normal_equation(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares ``theta`` solving ``X^T X theta = X^T y`` (X: (N, P), y: (N,)) -> (P,)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    # lstsq instead of inv(X^T X): same minimiser, but stable when X^T X is ill-conditioned
    theta, *_ = np.linalg.lstsq(X, y, rcond=None)
    return theta


def mse_loss_and_grad(theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """``L = mean((X theta - y)^2)`` and ``dL/dtheta = 2/N X^T (X theta - y)``.

    Args:
        theta: (P,) parameters; X: (N, P) design matrix; y: (N,) targets.

    Returns:
        ``(loss, dtheta)`` with ``dtheta`` of shape (P,).
    """
    r = X @ theta - y  # (N,)
    return float(np.mean(r ** 2)), 2.0 * X.T @ r / len(y)


def gd_fit(X: np.ndarray, y: np.ndarray, lr: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch gradient descent on the MSE from ``theta = 0``.

    Returns:
        theta: (P,) final parameters; losses: (steps,) loss *before* each update.
        A diverging run stops early once the loss overflows; the rest of ``losses`` is inf.
    """
    theta = np.zeros(X.shape[1])
    losses = np.full(steps, np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            loss, grad = mse_loss_and_grad(theta, X, y)
            if not np.isfinite(loss):
                break
            losses[t] = loss
            theta = theta - lr * grad
    return theta, losses


class LinearRegression:
    """Least-squares linear regression ``y ~ X @ w + b``, optionally ridge-regularised.

    Objective (the same as scikit-learn's ``Ridge``; the intercept is not penalised)::

        sum_i (x_i . w + b - y_i)^2 + alpha * |w|^2

    Args:
        alpha: ridge strength (>= 0); 0 is ordinary least squares.
        fit_intercept: learn ``b``; otherwise ``b = 0``.

    Attributes:
        coef_: ``w``, (D,) or (D, K) for K targets. intercept_: ``b``, float or (K,).
        loss_history_: mean objective per iteration after :meth:`fit_gd`.

    Example:
        >>> X = np.array([[0.0], [1.0], [2.0]]); y = 3 * X[:, 0] + 1
        >>> m = LinearRegression().fit(X, y); round(float(m.coef_[0]), 6), round(float(m.intercept_), 6)
        (3.0, 1.0)
    """

    def __init__(self, alpha: float = 0.0, fit_intercept: bool = True) -> None:
        if not np.isscalar(alpha) or alpha < 0:
            raise ValueError(f"alpha must be a non-negative number, got {alpha!r}")
        self.alpha, self.fit_intercept = float(alpha), bool(fit_intercept)
        self.coef_: np.ndarray | None = None
        self.intercept_ = 0.0
        self.loss_history_: list[float] = []

    def _center(self, X, y):
        if self.fit_intercept:
            x_mean, y_mean = X.mean(axis=0), y.mean(axis=0)
            return X - x_mean, y - y_mean, x_mean, y_mean
        return X, y, np.zeros(X.shape[1]), np.zeros(y.shape[1:])

    def fit(self, X, y) -> LinearRegression:
        """Closed form. Centring X and y removes the intercept from the problem; then

        * ``alpha == 0``: ``np.linalg.lstsq`` (also fine when ``X^T X`` is singular);
        * ``alpha > 0``: solve the normal equation ``(X^T X + alpha I) w = X^T y``.

        The intercept is ``mean(y) - mean(X) @ w``. Returns ``self``.
        """
        X, y = _xy_regression(X, y)
        Xc, yc, x_mean, y_mean = self._center(X, y)
        if self.alpha == 0:
            w = np.linalg.lstsq(Xc, yc, rcond=None)[0]
        else:
            A = Xc.T @ Xc + self.alpha * np.eye(X.shape[1])
            w = np.linalg.solve(A, Xc.T @ yc)
        self.coef_ = w
        self.intercept_ = y_mean - x_mean @ w if self.fit_intercept else 0.0
        if np.ndim(self.intercept_) == 0:
            self.intercept_ = float(self.intercept_)
        return self

    def fit_gd(self, X, y, lr: float = 0.1, iterations: int = 1000, seed: int | None = 0) -> list[float]:
        """Full-batch gradient descent on the objective divided by N (same minimiser).

        Uses :func:`i2dl_lab.nn.losses.mse_loss` for the data term. With standardised
        features a rate of about 0.1 converges; too large a rate makes the loss grow and
        raises ``FloatingPointError``.

        Args:
            X: (N, D); y: (N,) or (N, K).
            lr: step size (> 0).
            iterations: number of full-batch steps (int >= 1).
            seed: initial weights ``0.01 * N(0, 1)`` from this seed.

        Returns:
            The loss (data MSE + alpha |w|^2 / N) at each iteration, before its step; also
            stored in ``loss_history_``.
        """
        check_positive("lr", lr)
        iterations = check_int("iterations", iterations)
        X, y = _xy_regression(X, y)
        N, D = X.shape
        rng = as_rng(seed)
        w = 0.01 * rng.standard_normal((D,) + y.shape[1:])
        b = np.zeros(y.shape[1:])
        K = 1 if y.ndim == 1 else y.shape[1]
        history = []
        for it in range(iterations):
            with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is reported just below
                pred = X @ w + b
                mse, dpred = _losses.mse_loss(pred, y)  # mean over N*K entries
                # rescale so the data term is (1/N) sum of squares, matching the ridge objective / N
                loss = mse * K + self.alpha * float(np.sum(w * w)) / N
            if not np.isfinite(loss):
                raise FloatingPointError(f"LinearRegression.fit_gd: loss became {loss} at iteration {it}; "
                                         f"lower lr (got {lr})")
            history.append(loss)
            dpred = dpred * K
            dw = X.T @ dpred + 2 * self.alpha * w / N
            w = w - lr * dw
            if self.fit_intercept:
                b = b - lr * dpred.sum(axis=0)
        self.coef_ = w
        self.intercept_ = float(b) if np.ndim(b) == 0 else b
        self.loss_history_ = history
        return history

    def predict(self, X) -> np.ndarray:
        """``X @ coef_ + intercept_``, (N,) or (N, K)."""
        if self.coef_ is None:
            raise RuntimeError("LinearRegression: call fit or fit_gd first")
        X = _as_rows("X", X)
        _check_features("X", X, self.coef_.shape[0], "as during fitting")
        return X @ self.coef_ + self.intercept_

    def score(self, X, y) -> float:
        """Coefficient of determination R^2 (1 is perfect, 0 is predicting the mean)."""
        X, y = _xy_regression(X, y)
        resid = np.sum((y - self.predict(X)) ** 2)
        total = np.sum((y - y.mean(axis=0)) ** 2)
        return float(1 - resid / total)

    def __repr__(self) -> str:
        return f"LinearRegression(alpha={self.alpha:g}, fit_intercept={self.fit_intercept})"


class LogisticRegression:
    """Binary logistic regression ``P(y=1 | x) = sigmoid(x . w + b)`` by gradient descent.

    Minimises the mean binary cross-entropy computed from the logits
    (:func:`i2dl_lab.nn.losses.bce_loss`, stable for large logits) plus
    ``reg / 2 * |w|^2``. This is scikit-learn's objective with ``C = 1 / (N * reg)``.

    Args:
        lr: gradient-descent step (> 0).
        iterations: full-batch steps.
        reg: L2 strength (>= 0) on ``w`` (not ``b``).

    Attributes:
        coef_: (D,). intercept_: float. loss_history_: objective per iteration.

    Example:
        >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([0, 0, 1, 1])
        >>> LogisticRegression(lr=1.0, iterations=200).fit(X, y).predict(X)
        array([0, 0, 1, 1])
    """

    def __init__(self, lr: float = 0.5, iterations: int = 1000, reg: float = 0.0) -> None:
        check_positive("lr", lr)
        check_int("iterations", iterations)
        if not np.isscalar(reg) or reg < 0:
            raise ValueError(f"reg must be a non-negative number, got {reg!r}")
        self.lr, self.iterations, self.reg = float(lr), int(iterations), float(reg)
        self.coef_: np.ndarray | None = None
        self.intercept_ = 0.0
        self.loss_history_: list[float] = []

    def fit(self, X, y) -> LogisticRegression:
        """Fit on X (N, D) and binary labels y (N,) in {0, 1}; returns ``self``."""
        X = _as_rows("X", X)
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
        if not np.all(np.isin(y, (0, 1))):
            raise ValueError(f"LogisticRegression is binary: y must hold only 0 and 1, got values {np.unique(y)[:5]}")
        t = y.astype(np.float64)
        w = np.zeros(X.shape[1])
        b = 0.0
        history = []
        for it in range(self.iterations):
            z = X @ w + b
            bce, dz = _losses.bce_loss(z, t)  # dz = (sigmoid(z) - t) / N
            loss = bce + 0.5 * self.reg * float(w @ w)
            if not np.isfinite(loss):
                raise FloatingPointError(f"LogisticRegression: loss became {loss} at iteration {it}; lower lr")
            history.append(loss)
            w = w - self.lr * (X.T @ dz + self.reg * w)
            b = b - self.lr * float(dz.sum())
        self.coef_, self.intercept_, self.loss_history_ = w, b, history
        return self

    def decision_function(self, X) -> np.ndarray:
        """Logits ``x . w + b``, (N,)."""
        if self.coef_ is None:
            raise RuntimeError("LogisticRegression: call fit first")
        X = _as_rows("X", X)
        _check_features("X", X, self.coef_.shape[0], "as during fitting")
        return X @ self.coef_ + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """``P(y = 1 | x)`` for each row, shape (N,) (scikit-learn returns (N, 2): ``[1 - p, p]``)."""
        return sigmoid(self.decision_function(X))

    def predict(self, X) -> np.ndarray:
        """0/1 labels (N,): 1 where the probability is at least 0.5."""
        return (self.decision_function(X) >= 0).astype(np.int64)

    def __repr__(self) -> str:
        return f"LogisticRegression(lr={self.lr:g}, iterations={self.iterations}, reg={self.reg:g})"
