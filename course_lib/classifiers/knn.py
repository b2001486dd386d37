"""k-nearest neighbours with Euclidean (L2) distance.

The three distance functions compute the same matrix three ways, from two explicit loops (slow,
obvious) to none (a matrix product): the course times them side by side.
"""
import numpy as np

from .. import validate
from ..backend import kernels


class KNearestNeighbor:
    def train(self, X, y):
        """Memorise the training data: X (N, D) floats, y (N,) integer labels."""
        validate.float_array("X", X, 2, "KNearestNeighbor.train")
        self.X_train = X
        self.y_train = validate.labels(y, X.shape[0], None, "KNearestNeighbor.train")
        return self

    def _check(self, X, where):
        if not hasattr(self, "X_train"):
            raise RuntimeError(f"{where}: call train(X, y) first")
        validate.float_array("X", X, 2, where)
        validate.shape_matches(where, "the feature dimension D", "X", X.shape, "X_train",
                               self.X_train.shape, X.shape[1:], self.X_train.shape[1:])

    def compute_distances_two_loops(self, X):
        """dists[i, j] = |X[i] - X_train[j]|, one pair at a time."""
        self._check(X, "compute_distances_two_loops")
        dists = np.zeros((X.shape[0], self.X_train.shape[0]), X.dtype)
        for i in range(X.shape[0]):
            for j in range(self.X_train.shape[0]):
                diff = X[i] - self.X_train[j]
                dists[i, j] = np.sqrt(np.sum(diff * diff))
        return dists

    def compute_distances_one_loop(self, X):
        """One test row at a time against all training rows (broadcasting)."""
        self._check(X, "compute_distances_one_loop")
        dists = np.zeros((X.shape[0], self.X_train.shape[0]), X.dtype)
        for i in range(X.shape[0]):
            dists[i] = np.sqrt(np.sum((self.X_train - X[i]) ** 2, axis=1))
        return dists

    def compute_distances_no_loops(self, X, backend=None):
        """|a - b|^2 = |a|^2 + |b|^2 - 2 a.b for all pairs at once: one matrix product."""
        self._check(X, "compute_distances_no_loops")
        validate.same_dtype("compute_distances_no_loops", X=X, X_train=self.X_train)
        return kernels(backend).pairwise_distances(X, self.X_train)

    def predict(self, X, k=1, num_loops=0):
        """Labels of the rows of X by majority vote of the k nearest training rows."""
        compute = {0: self.compute_distances_no_loops, 1: self.compute_distances_one_loop,
                   2: self.compute_distances_two_loops}
        if num_loops not in compute:
            raise ValueError(f"num_loops must be 0, 1 or 2, got {num_loops!r}")
        return predict_labels(compute[num_loops](X), self.y_train, k)


def l1_distances(X, X_train, budget_bytes=64 * 2 ** 20):
    """dists[i, j] = sum |X[i] - X_train[j]| (Manhattan distances), for a few test rows at a time:
    their (rows, N, D) difference stays within budget_bytes (CIFAR-10's whole training set for
    one test row is 5000 x 3072 floats, 123 MB in float64, so then rows go one by one)."""
    validate.float_array("X", X, 2, "l1_distances")
    validate.float_array("X_train", X_train, 2, "l1_distances")
    validate.shape_matches("l1_distances", "the feature dimension D", "X", X.shape, "X_train",
                           X_train.shape, X.shape[1:], X_train.shape[1:])
    rows = max(1, budget_bytes // max(1, X_train.size * X.itemsize))
    dists = np.empty((X.shape[0], X_train.shape[0]), X.dtype)
    for start in range(0, X.shape[0], rows):
        dists[start:start + rows] = np.abs(X[start:start + rows, None, :] - X_train[None]).sum(axis=2)
    return dists


def predict_labels(dists, y_train, k=1):
    """Majority vote among the k nearest training labels for each row of dists (M, N).

    Equal distances keep training order (stable sort); a tied vote goes to the smallest label.
    """
    if not 1 <= k <= dists.shape[1]:
        raise ValueError(f"k must lie in 1..{dists.shape[1]} (the number of training samples), got {k}")
    nearest = np.argsort(dists, axis=1, kind="stable")[:, :k]
    votes = y_train[nearest]
    num_classes = int(y_train.max()) + 1
    counts = np.zeros((dists.shape[0], num_classes), np.intp)
    np.add.at(counts, (np.arange(dists.shape[0])[:, None], votes), 1)
    return counts.argmax(axis=1)  # argmax returns the first, i.e. smallest, of tied labels


def cross_validate_k(X, y, k_choices, num_folds=5):
    """Accuracy of each k on each of num_folds folds: {k: [accuracy per fold]}.

    Distances are computed once per fold and shared by every k.
    """
    X_folds = np.array_split(X, num_folds)
    y_folds = np.array_split(y, num_folds)
    accuracies = {k: [] for k in k_choices}
    for fold in range(num_folds):
        X_tr = np.concatenate(X_folds[:fold] + X_folds[fold + 1:])
        y_tr = np.concatenate(y_folds[:fold] + y_folds[fold + 1:])
        knn = KNearestNeighbor().train(X_tr, y_tr)
        dists = knn.compute_distances_no_loops(X_folds[fold])
        for k in k_choices:
            accuracies[k].append(float(np.mean(predict_labels(dists, knn.y_train, k) == y_folds[fold])))
    return accuracies
