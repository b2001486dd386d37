import numpy as np
import pytest

from course_lib.classifiers import (KNearestNeighbor, LinearSVM, Softmax, cross_validate_k,
                                    l1_distances, predict_labels, softmax_loss_naive, softmax_loss_vectorized,
                                    svm_loss_naive, svm_loss_vectorized)
from course_lib.gradcheck import eval_numerical_gradient, rel_error


def test_three_distance_methods_agree(backend, rng):
    X_train, X = rng.standard_normal((23, 11)), rng.standard_normal((7, 11))
    knn = KNearestNeighbor().train(X_train, rng.integers(3, size=23))
    two = knn.compute_distances_two_loops(X)
    brute = np.array([[np.linalg.norm(a - b) for b in X_train] for a in X])
    np.testing.assert_allclose(two, brute, rtol=1e-12)
    np.testing.assert_allclose(knn.compute_distances_one_loop(X), brute, rtol=1e-12)
    np.testing.assert_allclose(knn.compute_distances_no_loops(X), brute, rtol=1e-10)


@pytest.mark.parametrize("budget", [3 * 4 * 5 * 8, 1, 2 ** 30])  # 3 rows at a time, 1, all
def test_l1_distances_a_few_rows_at_a_time(rng, budget):
    a, b = rng.standard_normal((7, 5)), rng.standard_normal((4, 5))
    expected = [[sum(abs(a[i, d] - b[j, d]) for d in range(5)) for j in range(4)] for i in range(7)]
    np.testing.assert_allclose(l1_distances(a, b, budget_bytes=budget), expected, rtol=1e-12)
    assert l1_distances(a.astype(np.float32), b.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match=r"\(7, 5\).*\(4, 6\)"):
        l1_distances(a, rng.standard_normal((4, 6)))


def test_vote_ties_go_to_the_smallest_label():
    dists = np.array([[1.0, 2.0, 3.0, 4.0]])
    y_train = np.array([3, 1, 1, 3])
    assert predict_labels(dists, y_train, k=1)[0] == 3
    assert predict_labels(dists, y_train, k=2)[0] == 1  # one vote each for 3 and 1: smallest wins
    assert predict_labels(dists, y_train, k=4)[0] == 1  # two votes each
    assert predict_labels(dists, y_train, k=3)[0] == 1  # 1 has two votes


def test_equal_distances_keep_training_order():
    dists = np.array([[1.0, 1.0, 1.0]])
    assert predict_labels(dists, np.array([2, 0, 1]), k=1)[0] == 2


def test_knn_k1_on_training_points_is_perfect(rng):
    X = rng.standard_normal((30, 4))
    y = rng.integers(5, size=30)
    knn = KNearestNeighbor().train(X, y)
    for loops in (0, 1, 2):
        np.testing.assert_array_equal(knn.predict(X, k=1, num_loops=loops), y)


def test_cross_validation_shape(rng):
    X = rng.standard_normal((50, 3))
    y = (X[:, 0] > 0).astype(int)
    folds = cross_validate_k(X, y, [1, 3], num_folds=5)
    assert set(folds) == {1, 3} and all(len(v) == 5 for v in folds.values())
    assert np.mean(folds[3]) > 0.7  # a linearly separable problem


@pytest.mark.parametrize("naive, vectorized", [(svm_loss_naive, svm_loss_vectorized),
                                               (softmax_loss_naive, softmax_loss_vectorized)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_naive_and_vectorised_losses_agree(backend, rng, naive, vectorized, dtype):
    W = (0.01 * rng.standard_normal((13, 4))).astype(dtype)
    X = rng.standard_normal((21, 13)).astype(dtype)
    y = rng.integers(4, size=21)
    loss_n, grad_n = naive(W, X, y, 0.1)
    loss_v, grad_v = vectorized(W, X, y, 0.1)
    assert loss_v.dtype == dtype and grad_v.dtype == dtype and grad_n.dtype == dtype
    tol = 1e-10 if dtype == np.float64 else 1e-4
    assert loss_n == pytest.approx(loss_v, rel=tol)
    assert np.max(np.abs(grad_n - grad_v)) <= tol * np.max(np.abs(grad_n))


@pytest.mark.parametrize("loss_fn", [svm_loss_naive, svm_loss_vectorized, softmax_loss_naive,
                                     softmax_loss_vectorized])
def test_loss_gradients_numerically(backend, rng, loss_fn):
    W = 0.1 * rng.standard_normal((6, 3))
    X = rng.standard_normal((9, 6))
    y = rng.integers(3, size=9)
    _, grad = loss_fn(W, X, y, 0.05)
    numeric = eval_numerical_gradient(lambda w: loss_fn(w, X, y, 0.05)[0], W)
    assert rel_error(grad, numeric) < 1e-7


def test_initial_losses_match_the_course(rng):
    """With tiny weights and 10 classes: softmax ~ -log(0.1) = 2.3026, SVM ~ 9."""
    W = 1e-4 * rng.standard_normal((3073, 10))
    X = rng.standard_normal((200, 3073))
    y = rng.integers(10, size=200)
    assert softmax_loss_vectorized(W, X, y, 0.0)[0] == pytest.approx(-np.log(0.1), abs=0.05)
    assert svm_loss_vectorized(W, X, y, 0.0)[0] == pytest.approx(9.0, abs=0.1)


@pytest.mark.parametrize("cls", [LinearSVM, Softmax])
def test_linear_classifier_learns_a_separable_problem(rng, cls):
    centres = 3 * rng.standard_normal((3, 5))
    y = rng.integers(3, size=300)
    X = centres[y] + 0.3 * rng.standard_normal((300, 5))
    clf = cls(seed=0)
    history = clf.train(X, y, learning_rate=1e-1, reg=1e-4, num_iters=300, batch_size=50)
    assert history[-1] < history[0] / 3
    assert np.mean(clf.predict(X) == y) > 0.95


def test_linear_classifier_keeps_float32(rng):
    X = rng.standard_normal((40, 4)).astype(np.float32)
    clf = Softmax(seed=0)
    clf.train(X, rng.integers(2, size=40), num_iters=5)
    assert clf.W.dtype == np.float32
