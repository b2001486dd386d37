"""What notebook test cells call: checks that print what they looked at (to stdout) and fail with a
message that says what was expected, what came out, and where to look.

nbgrader scores a test cell 0 when it raises or writes anything to stderr, so nothing here warns.
"""
import numpy as np

from .diagnosis import describe, float64_lines
from .gradcheck import rel_error, relative_difference


def _fail(message):
    raise AssertionError(message)


def check_shape(name, value, shape):
    got = getattr(value, "shape", None)
    if got != tuple(shape):
        _fail(f"{name} should have shape {tuple(shape)}, but it has shape {got}")
    print(f"{name}: shape {got} ok")


def check_dtype(name, value, dtype):
    got = getattr(value, "dtype", type(value))
    if np.dtype(got) != np.dtype(dtype):
        _fail(f"{name} should have dtype {np.dtype(dtype)} (the dtype of the inputs), but it has "
              f"{got}; avoid mixing in float64 constants or np.zeros without dtype=")
    print(f"{name}: dtype {np.dtype(got)} ok")


def _float32_copies(value):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(np.float32)
    if isinstance(value, (tuple, list)):
        return type(value)(_float32_copies(v) for v in value)
    if isinstance(value, dict):
        return {k: _float32_copies(v) for k, v in value.items()}
    return value


def _floats(value, label):
    """[(label, dtype)] of the floats among a function's answers (in tuples and lists too)."""
    if isinstance(value, (tuple, list)):
        return [f for i, v in enumerate(value) for f in _floats(v, f"{label}[{i}]")]
    dtype = np.asarray(value).dtype if isinstance(value, (np.ndarray, np.generic, float)) else None
    return [(label, dtype)] if dtype is not None and dtype.kind == "f" else []


def check_keeps_float32(name, function, *args, names=None, source=None):
    """Calls function(*args) with float32 copies of the float arrays among args (in tuples, lists
    and dicts too): every float it returns should be float32. A float64 answer does not fail the
    cell: the grader grades its numbers, and takes half of the test's points for the dtype. This
    prints that, with the lines that make float64. names: the answers' names, when function
    returns a tuple (only the named ones are looked at); source: the function or functions whose
    lines to show, when function is a wrapper around them."""
    answers = function(*_float32_copies(args))
    if names and isinstance(answers, tuple):
        found = [f for label, v in zip(names, answers) for f in _floats(v, label)]
    else:
        found = _floats(answers, name)
    slipped = [label for label, dtype in found if dtype != np.float32]
    if not slipped:
        print(f"{name}: float32 in, float32 out ok")
        return
    print(f"DTYPE SLIP, costs half of this test's points: for float32 inputs, {', '.join(slipped)} came "
          f"out as float64 (a Python float counts as float64).")
    sources = source if isinstance(source, (tuple, list)) else (source or function,)
    lines = [line for f in sources for line in float64_lines(f)]
    for line in lines or ["look for np.zeros(shape), float64 random numbers, or a boolean mask divided by a number"]:
        print(f"  {line}")


def check_close(name, value, expected, tol=1e-8, n=None, terms=None):
    """max |value - expected| / max |expected| <= tol; a failure names the worst entry and, where
    the numbers show one, the likely cause (n: the number of examples averaged over, if any;
    terms: {description: array} of parts a student may drop or double, see diagnosis)."""
    value, expected = np.asarray(value), np.asarray(expected, dtype=np.float64)
    if value.shape != expected.shape:
        _fail(f"{name} should have shape {expected.shape}, but it has shape {value.shape}")
    if not np.all(np.isfinite(value)):
        _fail(f"{name} contains NaN or infinity")
    problem = describe(name, value, expected, tol, n, terms)
    if problem:
        _fail(problem)
    print(f"{name}: relative difference {relative_difference(value, expected)[0]:.2e} ok")


def check_gradient(f, x, analytic, num_checks=12, h=1e-5, tol=1e-6, kinks_allowed=0, seed=None):
    """Compare an analytic gradient with central differences of f at num_checks random entries.

    kinks_allowed: how many entries may disagree (a loss with a kink, like the SVM hinge, can
    straddle it within h). Prints each comparison.
    """
    x = np.asarray(x, dtype=np.float64).copy()
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != x.shape:
        _fail(f"the gradient should have the shape of its variable {x.shape}, got {analytic.shape}")
    rng = np.random.default_rng(seed)
    bad = []
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        old = x[ix]
        x[ix] = old + h
        plus = float(f(x))
        x[ix] = old - h
        minus = float(f(x))
        x[ix] = old
        numerical = (plus - minus) / (2 * h)
        err = rel_error(np.array(numerical), np.array(analytic[ix]))
        print(f"at {ix}: numerical {numerical: .6e} analytic {analytic[ix]: .6e} rel. error {err:.1e}")
        if err > tol:
            bad.append(ix)
    if len(bad) > kinks_allowed:
        _fail(f"the gradient disagrees with central differences at {len(bad)} of {num_checks} "
              f"entries (for example {bad[0]}); recheck the backward formula for those entries")
    print("gradient ok")


# ---------------------------------------------------------------- answers checked by the grader
def answer(grade_id, compute):
    """Declare what a test grades: the hidden part of a test cell ends with it. In a notebook it
    does nothing; the grader's decisive run (autograder.harness) puts its own in its place, calls
    compute on fresh inputs, without the library's implementation of what is graded, and compares
    the answers with the reference outside the student's reach."""
    return None
