"""Numerical gradients by central differences, and the relative error used to compare gradients.

Run checks in float64: in float32 the rounding error of f(x + h) - f(x - h) swamps the signal.
"""
import numpy as np


def rel_error(x, y):
    """max |x - y| / max(1e-8, |x| + |y|): about 1e-7 or less for a correct float64 gradient."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ: {x.shape} and {y.shape}")
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))) if x.size else 0.0


def relative_difference(got, want):
    """max |got - want| / max |want|, with the index of the worst entry: how far an answer is
    from the expected one, on the scale of the expected values (the one measure the library's
    checks, the grader and the tests use)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise ValueError(f"relative_difference: shapes differ: {got.shape} and {want.shape}")
    if not want.size:
        return 0.0, ()
    gap = np.abs(got - want)
    worst = np.unravel_index(int(np.argmax(gap)), gap.shape)
    return float(gap[worst]) / max(float(np.max(np.abs(want))), 1e-300), tuple(int(i) for i in worst)


def _perturbed(f, x, ix, h):
    old = x[ix]
    x[ix] = old + h
    plus = np.array(f(x), dtype=np.float64)  # a copy: f may return x itself or a view of it
    x[ix] = old - h
    minus = np.array(f(x), dtype=np.float64)
    x[ix] = old  # restore: callers keep using x
    return plus, minus


def eval_numerical_gradient(f, x, h=1e-5, verbose=False):
    """Gradient of a scalar function f at x (modified in place during the check, then restored)."""
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        plus, minus = _perturbed(f, x, ix, h)
        grad[ix] = (plus - minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient of sum(f(x) * df) at x, for an array-valued f: the backward pass of f given the
    upstream gradient df."""
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        plus, minus = _perturbed(f, x, ix, h)
        grad[ix] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None, verbose=True):
    """Compare analytic_grad with central differences at `num_checks` random entries of x.

    Returns the list of relative errors (and prints them when verbose). Near a kink of f (the SVM
    hinge, relu at 0) an occasional large error is expected.
    """
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        plus, minus = _perturbed(f, x, ix, h)
        numerical = (plus - minus) / (2 * h)
        analytic = analytic_grad[ix]
        err = abs(numerical - analytic) / max(1e-12, abs(numerical) + abs(analytic))
        errors.append(float(err))
        if verbose:
            print(f"numerical: {numerical:f} analytic: {analytic:f}, relative error: {err:e}")
    return errors
