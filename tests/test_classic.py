"""Classic learners: kNN vs scikit-learn and its own loop versions, linear-classifier losses vs
centred differences and torch, classifiers on digits, regression vs numpy/scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, make_classification
from sklearn.linear_model import LogisticRegression as SkLogistic
from sklearn.linear_model import Ridge
from sklearn.metrics import pairwise_distances, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from i2dl_lab import classic
from i2dl_lab.gradcheck import eval_numerical_gradient, rel_error
from i2dl_lab.nn import losses


@pytest.fixture(scope="module")
def digits_split():
    """sklearn digits, pixels scaled /16, split 75/25 stratified with random_state=0."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)


# ====================================================================== kNN
@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_knn_three_distance_implementations_agree(rng, metric):
    Xtr, Xte = rng.standard_normal((30, 7)), rng.standard_normal((12, 7))
    knn = classic.KNearestNeighbor(metric=metric).fit(Xtr, rng.integers(0, 3, 30))
    d0 = knn.compute_distances(Xte)
    assert d0.shape == (12, 30)
    np.testing.assert_allclose(d0, knn.compute_distances_one_loop(Xte), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d0, knn.compute_distances_two_loops(Xte), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(knn.compute_distances_no_loops(Xte), d0)  # CS231n's name for the same
    expected = pairwise_distances(Xte, Xtr, metric="euclidean" if metric == "l2" else "manhattan")
    np.testing.assert_allclose(d0, expected, rtol=1e-10, atol=1e-12)


def test_knn_l1_blocks_cover_every_row(rng):
    # enough training data that the L1 path must work in several blocks of test rows
    Xtr, Xte = rng.standard_normal((2000, 50)), rng.standard_normal((100, 50))
    knn = classic.KNearestNeighbor(metric="l1").fit(Xtr, np.zeros(2000, dtype=int))
    np.testing.assert_allclose(knn.compute_distances(Xte), pairwise_distances(Xte, Xtr, metric="manhattan"),
                               rtol=1e-10)


def test_knn_l2_expansion_is_clamped_for_identical_rows():
    # large, nearly equal rows: |a|^2 + |b|^2 - 2ab loses everything to rounding
    base = 1e6 + np.linspace(0, 1e-3, 20)
    X = np.stack([base, base[::-1]])
    knn = classic.KNearestNeighbor().fit(X, np.array([0, 1]))
    d = knn.compute_distances(X)
    assert np.all(np.isfinite(d)) and np.all(d >= 0)
    assert d[0, 0] == pytest.approx(0.0, abs=1.0)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("metric,sk_metric", [("l2", "euclidean"), ("l1", "manhattan")])
def test_knn_predictions_match_sklearn_brute(rng, k, metric, sk_metric):
    # continuous features: no ties in distances, so the answers must be identical
    Xtr, ytr = rng.standard_normal((200, 5)), rng.integers(0, 4, 200)
    Xte = rng.standard_normal((80, 5))
    ours = classic.KNearestNeighbor(k=k, metric=metric).fit(Xtr, ytr).predict(Xte)
    sk = KNeighborsClassifier(n_neighbors=k, algorithm="brute", metric=sk_metric).fit(Xtr, ytr).predict(Xte)
    np.testing.assert_array_equal(ours, sk)


def test_knn_on_digits_matches_sklearn_and_is_accurate(digits_split):
    Xtr, Xte, ytr, yte = digits_split
    knn = classic.KNearestNeighbor(k=3).fit(Xtr, ytr)
    ours = knn.predict(Xte)
    sk = KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(Xtr, ytr).predict(Xte)
    assert np.mean(ours == sk) >= 0.99  # only ties in distance may be broken differently
    assert np.mean(ours == yte) > 0.95
    np.testing.assert_array_equal(knn.predict(Xte[:20], num_loops=1), ours[:20])
    np.testing.assert_array_equal(knn.predict(Xte[:20], num_loops=2), ours[:20])


def test_knn_vote_tie_goes_to_smallest_label():
    X = np.array([[1.0], [-1.0], [5.0]])
    knn = classic.KNearestNeighbor(k=2).fit(X, np.array([5, 2, 9]))
    assert knn.predict(np.array([[0.0]]))[0] == 2
    knn = classic.KNearestNeighbor(k=2).fit(X, np.array([2, 5, 9]))
    assert knn.predict(np.array([[0.0]]))[0] == 2


def test_knn_majority_beats_nearest():
    X = np.array([[0.0], [1.5], [2.0]])
    knn = classic.KNearestNeighbor(k=3).fit(X, np.array([0, 1, 1]))
    assert knn.predict(np.array([[0.1]]))[0] == 1
    assert knn.predict(np.array([[0.1]]), k=1)[0] == 0


def test_knn_flattens_images(rng):
    Xtr = rng.standard_normal((10, 2, 3, 3))
    knn = classic.KNearestNeighbor().fit(Xtr, np.arange(10))
    np.testing.assert_array_equal(knn.predict(Xtr), np.arange(10))


def test_knn_bad_input():
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
        classic.KNearestNeighbor(k=0)
    with pytest.raises(ValueError, match="metric must be 'l1' or 'l2', got 'cosine'"):
        classic.KNearestNeighbor(metric="cosine")
    knn = classic.KNearestNeighbor(k=5)
    with pytest.raises(RuntimeError, match="call fit"):
        knn.predict(np.zeros((1, 2)))
    knn.fit(np.zeros((3, 2)), [0, 1, 2])
    with pytest.raises(ValueError, match=r"must have 2 features per row .* got shape \(1, 3\)"):
        knn.predict(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="k=5 is larger than the number of training samples 3"):
        knn.predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        knn.fit(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="num_loops must be 0, 1 or 2"):
        knn.predict(np.zeros((1, 2)), k=1, num_loops=3)


# ====================================================================== linear-classifier losses
LOSSES = [
    ("svm", classic.svm_loss_naive, classic.svm_loss_vectorized),
    ("softmax", classic.softmax_loss_naive, classic.softmax_loss_vectorized),
]


def _problem(rng, N=15, D=6, C=4):
    return 0.1 * rng.standard_normal((D, C)), rng.standard_normal((N, D)), rng.integers(0, C, N)


@pytest.mark.parametrize("name,naive,vectorized", LOSSES, ids=[c[0] for c in LOSSES])
def test_naive_and_vectorized_losses_agree(rng, name, naive, vectorized):
    W, X, y = _problem(rng)
    l1, g1 = naive(W, X, y, 0.3)
    l2, g2 = vectorized(W, X, y, 0.3)
    assert l1 == pytest.approx(l2, rel=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name,naive,vectorized", LOSSES, ids=[c[0] for c in LOSSES])
def test_loss_gradients_match_centred_differences(rng, name, naive, vectorized):
    W, X, y = _problem(rng)
    if name == "svm":  # a smooth point: no hinge within reach of the finite-difference step
        scores = X @ W
        margins = scores - scores[np.arange(len(y)), y][:, None] + 1
        margins[np.arange(len(y)), y] = 10.0
        assert np.min(np.abs(margins)) > 1e-3
    for fn in (naive, vectorized):
        _, dW = fn(W, X, y, 0.1)
        num = eval_numerical_gradient(lambda w, fn=fn: fn(w, X, y, 0.1)[0], W.copy())
        assert rel_error(dW, num) < 1e-7


@pytest.mark.parametrize("name,naive,vectorized", LOSSES, ids=[c[0] for c in LOSSES])
def test_losses_match_torch_autograd_and_library_losses(rng, name, naive, vectorized):
    W, X, y = _problem(rng)
    reg = 0.05
    loss, dW = vectorized(W, X, y, reg)
    tW = torch.tensor(W, requires_grad=True)
    scores = torch.tensor(X) @ tW
    if name == "svm":
        # torch divides the summed hinge by C; the lecture's loss does not
        data = torch.nn.functional.multi_margin_loss(scores, torch.tensor(y), reduction="mean") * W.shape[1]
        lib_loss, lib_dx = losses.svm_loss(X @ W, y)
    else:
        data = torch.nn.functional.cross_entropy(scores, torch.tensor(y))
        lib_loss, lib_dx = losses.softmax_loss(X @ W, y)
    total = data + reg * (tW * tW).sum()
    total.backward()
    assert loss == pytest.approx(total.item(), rel=1e-12)
    np.testing.assert_allclose(dW, tW.grad.numpy(), rtol=1e-10, atol=1e-13)
    assert loss == pytest.approx(lib_loss + reg * np.sum(W * W), rel=1e-12)
    np.testing.assert_allclose(dW, X.T @ lib_dx + 2 * reg * W, rtol=1e-10, atol=1e-13)


def test_softmax_losses_are_stable_for_huge_scores():
    W = np.array([[1e4, -1e4, 0.0]])
    X = np.array([[1.0], [-1.0]])
    y = np.array([0, 2])
    for fn in (classic.softmax_loss_naive, classic.softmax_loss_vectorized):
        loss, dW = fn(W, X, y, 0.0)
        assert np.isfinite(loss) and np.all(np.isfinite(dW))
        assert loss == pytest.approx(1e4 / 2)  # sample 2 is 1e4 below the best class


def test_svm_loss_lecture_example():
    # lecture: cat scores (3.2, 5.1, -1.7), true class cat -> loss 2.9
    W = np.diag([3.2, 5.1, -1.7])
    X = np.ones((1, 3))
    loss, _ = classic.svm_loss_vectorized(W, X, np.array([0]), 0.0)
    assert loss == pytest.approx(2.9)


def test_loss_bad_input(rng):
    W, X, y = _problem(rng)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 6\) to match W"):
        classic.svm_loss_vectorized(W, X[:, :5], y, 0.1)
    with pytest.raises(ValueError, match=r"y must lie in \[0, 4\)"):
        classic.softmax_loss_vectorized(W, X, y + 4, 0.1)
    with pytest.raises(ValueError, match="reg must be a non-negative number, got -1"):
        classic.softmax_loss_naive(W, X, y, -1)


# ====================================================================== linear classifiers
@pytest.mark.parametrize("cls,lr,reg", [(classic.LinearSVM, 0.1, 1e-3), (classic.SoftmaxClassifier, 0.5, 1e-4)])
def test_linear_classifier_reaches_90_percent_on_digits(digits_split, cls, lr, reg):
    Xtr, Xte, ytr, yte = digits_split
    model = cls(learning_rate=lr, reg=reg, num_iters=800, batch_size=100, seed=0)
    history = model.train(Xtr, ytr)
    assert model.W.shape == (65, 10)  # 64 pixels + the bias row
    assert np.mean(history[-50:]) < 0.5 * np.mean(history[:10])
    acc = np.mean(model.predict(Xte) == yte)
    assert acc > 0.90, acc


def test_linear_classifier_same_seed_same_weights_different_seed_differs(digits_split):
    Xtr, _, ytr, _ = digits_split
    a = classic.SoftmaxClassifier(num_iters=30, seed=3).fit(Xtr, ytr)
    b = classic.SoftmaxClassifier(num_iters=30, seed=3).fit(Xtr, ytr)
    c = classic.SoftmaxClassifier(num_iters=30, seed=4).fit(Xtr, ytr)
    np.testing.assert_array_equal(a.W, b.W)
    assert not np.allclose(a.W, c.W)


def test_softmax_classifier_probabilities(digits_split):
    Xtr, Xte, ytr, _ = digits_split
    model = classic.SoftmaxClassifier(learning_rate=0.5, num_iters=100).fit(Xtr, ytr)
    p = model.predict_proba(Xte)
    assert p.shape == (len(Xte), 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(p.argmax(axis=1), model.predict(Xte))


def test_linear_classifier_without_bias_and_errors(rng):
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    m = classic.LinearSVM(bias=False, num_iters=5).fit(X, y)
    assert m.W.shape == (3, 2)
    with pytest.raises(ValueError, match="must have 3 features per row"):
        m.predict(np.zeros((2, 4)))
    with pytest.raises(RuntimeError, match="train before predicting"):
        classic.LinearSVM().predict(X)
    with pytest.raises(ValueError, match="learning_rate must be a positive number, got 0"):
        classic.LinearSVM(learning_rate=0).train(X, y)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        classic.SoftmaxClassifier(learning_rate=1e200, weight_scale=1.0, num_iters=50).train(X * 1e100, y)


# ====================================================================== regression
@pytest.fixture
def regression_data(rng):
    X = rng.standard_normal((120, 5))
    w = np.array([1.5, -2.0, 0.0, 0.7, 3.0])
    y = X @ w + 0.5 + 0.1 * rng.standard_normal(120)
    return X, y


def test_linear_regression_normal_equation_matches_lstsq(regression_data):
    X, y = regression_data
    m = classic.LinearRegression().fit(X, y)
    A = np.hstack([X, np.ones((len(X), 1))])
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(m.coef_, sol[:-1], rtol=1e-10)
    assert m.intercept_ == pytest.approx(sol[-1], rel=1e-10)
    assert m.score(X, y) == pytest.approx(r2_score(y, A @ sol), rel=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 10.0])
def test_ridge_matches_sklearn_also_with_several_targets(regression_data, alpha):
    X, y = regression_data
    Y = np.stack([y, -2 * y + 1], axis=1)
    for target in (y, Y):
        ours = classic.LinearRegression(alpha=alpha).fit(X, target)
        sk = Ridge(alpha=alpha).fit(X, target)
        np.testing.assert_allclose(ours.coef_, sk.coef_.T, rtol=1e-8)
        np.testing.assert_allclose(ours.intercept_, sk.intercept_, rtol=1e-8)
        np.testing.assert_allclose(ours.predict(X), sk.predict(X), rtol=1e-8)


@pytest.mark.parametrize("alpha", [0.0, 5.0])
def test_gradient_descent_converges_to_the_closed_form(regression_data, alpha):
    X, y = regression_data
    closed = classic.LinearRegression(alpha=alpha).fit(X, y)
    gd = classic.LinearRegression(alpha=alpha)
    history = gd.fit_gd(X, y, lr=0.1, iterations=500)
    assert len(history) == 500 and history == gd.loss_history_
    assert np.all(np.diff(history) <= 1e-12), "full-batch GD at a safe rate never increases the loss"
    np.testing.assert_allclose(gd.coef_, closed.coef_, atol=1e-6)
    assert gd.intercept_ == pytest.approx(closed.intercept_, abs=1e-6)


def test_gradient_descent_with_huge_rate_diverges_loudly(regression_data):
    X, y = regression_data
    with pytest.raises(FloatingPointError, match="lower lr"):
        classic.LinearRegression().fit_gd(X, y, lr=100.0, iterations=2000)


def test_regression_bad_input(regression_data):
    X, y = regression_data
    with pytest.raises(ValueError, match="alpha must be a non-negative number"):
        classic.LinearRegression(alpha=-1.0)
    with pytest.raises(ValueError, match=r"y must have shape \(120,\) or \(120, K\)"):
        classic.LinearRegression().fit(X, y[:10])
    with pytest.raises(RuntimeError, match="call fit"):
        classic.LinearRegression().predict(X)
    with pytest.raises(ValueError, match="lr must be a positive number, got 0"):
        classic.LinearRegression().fit_gd(X, y, lr=0)


@pytest.fixture
def binary_data():
    X, y = make_classification(n_samples=400, n_features=6, n_informative=4, n_redundant=0,
                               class_sep=2.0, flip_y=0.02, random_state=2)
    return train_test_split(X, y, test_size=0.25, random_state=0)


def test_logistic_regression_accuracy_within_a_point_of_sklearn(binary_data):
    Xtr, Xte, ytr, yte = binary_data
    ours = classic.LogisticRegression(lr=0.5, iterations=1000).fit(Xtr, ytr)
    sk = SkLogistic(C=1e6, max_iter=1000).fit(Xtr, ytr)
    acc, sk_acc = np.mean(ours.predict(Xte) == yte), sk.score(Xte, yte)
    assert acc > 0.9
    assert abs(acc - sk_acc) <= 0.01 + 1e-12
    assert ours.loss_history_[-1] < ours.loss_history_[0]


def test_logistic_regression_with_reg_matches_sklearn_solution(binary_data):
    Xtr, Xte, ytr, _ = binary_data
    reg = 0.05
    ours = classic.LogisticRegression(lr=1.0, iterations=3000, reg=reg).fit(Xtr, ytr)
    sk = SkLogistic(C=1.0 / (len(Xtr) * reg), tol=1e-10, max_iter=10_000).fit(Xtr, ytr)
    np.testing.assert_allclose(ours.coef_, sk.coef_[0], atol=1e-4)
    assert ours.intercept_ == pytest.approx(sk.intercept_[0], abs=1e-4)
    np.testing.assert_allclose(ours.predict_proba(Xte), sk.predict_proba(Xte)[:, 1], atol=1e-4)


def test_logistic_probabilities_are_stable_and_bounded():
    m = classic.LogisticRegression(iterations=1)
    m.coef_, m.intercept_ = np.array([1.0]), 0.0
    p = m.predict_proba(np.array([[-1e4], [0.0], [1e4]]))
    np.testing.assert_array_equal(p, [0.0, 0.5, 1.0])


def test_logistic_regression_bad_labels():
    with pytest.raises(ValueError, match="y must hold only 0 and 1"):
        classic.LogisticRegression().fit(np.zeros((3, 2)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="iterations must be an integer >= 1, got 0"):
        classic.LogisticRegression(iterations=0)


@pytest.mark.parametrize("call,match", [
    (lambda X, y: classic.LinearSVM(num_iters=0).train(X, y), "num_iters must be an integer >= 1, got 0"),
    (lambda X, y: classic.SoftmaxClassifier().train(X, y, batch_size=True), "batch_size must be an integer >= 1"),
    (lambda X, y: classic.LinearRegression().fit_gd(X, y.astype(float), iterations=2.5),
     "iterations must be an integer >= 1, got 2.5"),
    (lambda X, y: classic.KNearestNeighbor(k=1).fit(X, y).predict(X, k=-2), "k must be an integer >= 1, got -2"),
])
def test_iteration_and_size_arguments_are_checked(rng, call, match):
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
    with pytest.raises(ValueError, match=match):
        call(X, y)


# ------------------------------------------------------------------ linear regression, lecture form
def test_normal_equation_recovers_the_generating_line_without_noise():
    x = np.linspace(-2.0, 2.0, 30)
    y = -3.0 * x + 0.5
    theta = classic.normal_equation(classic.design_matrix(x), y)
    np.testing.assert_allclose(theta, [0.5, -3.0], atol=1e-10)


def test_mse_gradient_matches_centred_differences(rng):
    X = classic.design_matrix(rng.standard_normal((15, 3)))
    y = rng.standard_normal(15)
    theta = rng.standard_normal(4)
    _, grad = classic.mse_loss_and_grad(theta, X, y)
    h = 1e-5
    num = np.array([(classic.mse_loss_and_grad(theta + h * e, X, y)[0]
                     - classic.mse_loss_and_grad(theta - h * e, X, y)[0]) / (2 * h) for e in np.eye(4)])
    assert np.max(np.abs(grad - num) / np.maximum(1e-8, np.abs(grad) + np.abs(num))) < 1e-7


def test_diverging_run_stops_without_overflow_warnings():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.0, 2.0, 60)
    y = 2.0 * x - 1.0 + 0.5 * rng.standard_normal(60)
    with np.errstate(all="raise"):
        theta, losses = classic.gd_fit(classic.design_matrix(x), y, lr=5.0, steps=2000)
    assert np.isinf(losses[-1]) and np.isfinite(losses[0])
