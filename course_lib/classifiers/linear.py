"""Linear classifiers on rows: scores = X @ W with X (N, D) and W (D, C).

Loss functions return (loss, dW) with L2 regularisation reg * sum(W**2) (gradient 2 * reg * W).
With the bias trick, the last column of X is all ones and the last row of W is the bias.
"""
import numpy as np

from .. import validate
from ..backend import kernels


def _check(W, X, y, where):
    validate.float_array("W", W, 2, where)
    validate.float_array("X", X, 2, where)
    validate.same_dtype(where, W=W, X=X)
    validate.shape_matches(where, "the feature dimension D", "X", X.shape, "W", W.shape,
                           X.shape[1:], W.shape[:1])
    return validate.labels(y, X.shape[0], W.shape[1], where)


def _regularised(W, data_loss, data_dW, reg):
    """Add the L2 term reg * sum(W**2) and its gradient 2 * reg * W; the loss in W's dtype."""
    return W.dtype.type(data_loss + reg * np.sum(W * W)), data_dW + 2 * reg * W


def svm_loss_naive(W, X, y, reg):
    """Multiclass SVM loss with explicit loops (the readable version)."""
    y = _check(W, X, y, "svm_loss_naive")
    dW = np.zeros_like(W)
    loss = 0.0
    num_train, num_classes = X.shape[0], W.shape[1]
    for i in range(num_train):
        scores = X[i] @ W
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - scores[y[i]] + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    return _regularised(W, loss / num_train, dW / num_train, reg)


def svm_loss_vectorized(W, X, y, reg, backend=None):
    """The same loss and gradient without loops: one product for the scores, one for dW."""
    y = _check(W, X, y, "svm_loss_vectorized")
    loss, dscores = kernels(backend).svm_loss(X @ W, y)
    return _regularised(W, loss, X.T @ dscores, reg)


def softmax_loss_naive(W, X, y, reg):
    """Softmax cross-entropy loss with explicit loops (numerically stable: scores shifted by their max)."""
    y = _check(W, X, y, "softmax_loss_naive")
    dW = np.zeros_like(W)
    loss = 0.0
    num_train, num_classes = X.shape[0], W.shape[1]
    for i in range(num_train):
        scores = X[i] @ W
        scores = scores - np.max(scores)
        probs = np.exp(scores) / np.sum(np.exp(scores))
        loss -= np.log(probs[y[i]])
        for j in range(num_classes):
            dW[:, j] += (probs[j] - (j == y[i])) * X[i]
    return _regularised(W, loss / num_train, dW / num_train, reg)


def softmax_loss_vectorized(W, X, y, reg, backend=None):
    y = _check(W, X, y, "softmax_loss_vectorized")
    loss, dscores = kernels(backend).softmax_loss(X @ W, y)
    return _regularised(W, loss, X.T @ dscores, reg)


class LinearClassifier:
    """A linear classifier trained by minibatch SGD; subclasses choose the loss."""

    loss_function = None

    def __init__(self, seed=None):
        self.W = None
        self.rng = np.random.default_rng(seed)

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200,
              verbose=False, num_classes=None):
        """Minibatch SGD (batches drawn with replacement). Returns the loss at every iteration.
        num_classes: the columns of a new W (default: the largest label in y, plus one)."""
        validate.float_array("X", X, 2, "LinearClassifier.train")
        num_classes = num_classes or int(np.max(y)) + 1
        if self.W is None:
            self.W = (0.001 * self.rng.standard_normal((X.shape[1], num_classes))).astype(X.dtype)
        history = []
        for it in range(num_iters):
            idx = self.rng.integers(X.shape[0], size=batch_size)
            loss, grad = self.loss(X[idx], y[idx], reg)
            history.append(float(loss))
            self.W -= X.dtype.type(learning_rate) * grad
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss:f}")
        return history

    def predict(self, X):
        if self.W is None:
            raise RuntimeError("predict: train the classifier first")
        return np.argmax(X @ self.W, axis=1)

    def loss(self, X_batch, y_batch, reg):
        return self.loss_function(self.W, X_batch, y_batch, reg)


class LinearSVM(LinearClassifier):
    loss_function = staticmethod(svm_loss_vectorized)


class Softmax(LinearClassifier):
    loss_function = staticmethod(softmax_loss_vectorized)
