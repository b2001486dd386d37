"""What notebook test cells call: checks that print what they looked at (to stdout) and fail with a
message that says what was expected, what came out, and where to look.

nbgrader scores a test cell 0 when it raises or writes anything to stderr, so nothing here warns.
"""
from pathlib import Path

import numpy as np

from .gradcheck import rel_error


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


def check_close(name, value, expected, tol=1e-8):
    """max |value - expected| / max |expected| <= tol."""
    value, expected = np.asarray(value, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if value.shape != expected.shape:
        _fail(f"{name} should have shape {expected.shape}, but it has shape {value.shape}")
    if not np.all(np.isfinite(value)):
        _fail(f"{name} contains NaN or infinity")
    scale = max(float(np.max(np.abs(expected))), 1e-300) if expected.size else 1.0
    err = float(np.max(np.abs(value - expected))) / scale if expected.size else 0.0
    if err > tol:
        _fail(f"{name} is off: relative difference {err:.3g} from the expected values "
              f"(allowed {tol:g})")
    print(f"{name}: relative difference {err:.2e} ok")


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
ANSWERS = Path(".grading")


def answer(grade_id, compute):
    """Hand the grader this test's answers. When grading, the grader leaves fresh inputs in
    .grading/<grade_id>.in.npz in the working directory; `compute(**inputs)` runs the student's
    functions on them, and what it returns (an array, a number or a tuple of them) is saved to
    .grading/<grade_id>.out.npz and compared with the reference in the grader's own process, where
    nothing the notebook does can change the verdict. Outside grading it does nothing."""
    source = ANSWERS / f"{grade_id}.in.npz"
    if not source.exists():
        return
    with np.load(source, allow_pickle=False) as f:
        inputs = {k: f[k].item() if f[k].ndim == 0 else f[k] for k in f.files}
    result = compute(**inputs)
    outputs = result if isinstance(result, tuple) else (result,)
    np.savez(ANSWERS / f"{grade_id}.out.npz",
             **{f"out{i}": np.asarray(value) for i, value in enumerate(outputs)})
    print(f"answers for {grade_id} handed to the grader")
