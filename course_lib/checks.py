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


# ---------------------------------------------------------------- initial weights
# A right answer lies beyond this many standard errors of its sample about once in 10^8 draws.
_SIGMAS = 6
# How a dtype slip starts (the grader keeps half of a test's points when it is the only problem).
DTYPE_SLIP = "for float32 inputs the answers should be float32"


def initialisation_problems(params, shapes, weight_scale, dtype):
    """What is wrong with freshly initialised parameters ({name: array}): every array of shapes
    ({name: shape}) there and no other, with its shape and dtype; biases (b...) and batch norm's
    shifts (beta...) zero, its scales (gamma...) one; weights (W...) drawn with mean 0 and
    standard deviation weight_scale, judged within _SIGMAS standard errors of their sample, and
    no two of them repeating the same numbers. The notebooks' visible checks and the grader share
    this rule. float64 arrays where float32 was asked for are one DTYPE_SLIP problem."""
    missing = [name for name in shapes if name not in params]
    if missing:
        return [f"the parameters lack {', '.join(missing)} (expected {', '.join(shapes)})"]
    extra = [name for name in params if name not in shapes]
    if extra:
        return [f"the parameters should not hold {', '.join(extra)} (expected {', '.join(shapes)})"]
    problems, slipped = [], []
    for name, shape in shapes.items():
        value = params[name]
        if not isinstance(value, np.ndarray):
            problems.append(f"{name} should be a NumPy array, but it is a {type(value).__name__}")
            continue
        if value.shape != tuple(shape):
            problems.append(f"{name} should have shape {tuple(shape)}, but it has shape {value.shape}")
            continue
        if value.dtype == np.float64 and np.dtype(dtype) == np.float32:
            slipped.append(name)
        elif value.dtype != np.dtype(dtype):
            problems.append(f"{name} should have dtype {np.dtype(dtype)} (the dtype asked for), but it has "
                            f"{value.dtype}: cast with .astype(dtype), or pass dtype= to np.zeros")
        value = value.astype(np.float64)
        if not np.all(np.isfinite(value)):
            problems.append(f"{name} contains NaN or infinity")
        elif name.startswith("gamma"):
            if np.any(value != 1):
                problems.append(f"{name}: batch norm's scales start at one, but {np.count_nonzero(value != 1)} "
                                f"of its {value.size} values are not")
        elif name.startswith("b"):  # biases, and batch norm's shifts (beta)
            if np.any(value != 0):
                problems.append(f"{name}: {'shifts' if name.startswith('beta') else 'biases'} start at zero, "
                                f"but {np.count_nonzero(value)} of its {value.size} values are not")
        elif value.size:
            problems += _spread_problems(name, value, weight_scale)
    if slipped:
        problems.append(f"{DTYPE_SLIP} (dtype=float32 was asked for), but {', '.join(slipped)} came out as "
                        f"float64: cast with .astype(dtype), or pass dtype= to np.zeros")
    # every rule is judged whatever else is wrong: a slip elsewhere must not hide a broken rule
    weights = [name for name in shapes if name.startswith("W") and isinstance(params[name], np.ndarray)
               and params[name].shape == tuple(shapes[name])]
    return problems + _repeated_draws(params, weights)


def _repeated_draws(params, weights):
    """A generator made again for each array draws the same numbers into each, in whatever order
    or shape: two independent draws share (almost) no value."""
    for i, first in enumerate(weights):
        for second in weights[i + 1:]:
            shared = _shared_values(params[first], params[second])
            if shared > max(4, 0.05 * min(params[first].size, params[second].size)):
                return [f"{second} repeats {shared} of the numbers of {first}: make one generator before "
                        f"drawing and draw every array from it (a generator made again for each array repeats "
                        f"its numbers, so the layers' weights would not be independent)"]
    return []


def _shared_values(a, b):
    """How many nonzero numbers of a also occur in b, in any place (independent draws: almost none)."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    a, b = a[a != 0], b[b != 0]
    return np.count_nonzero(np.isin(a, b)) if a.size and b.size else 0


def _spread_problems(name, value, weight_scale):
    n, mean, std = value.size, value.mean(), value.std()
    problems = []
    if abs(std / weight_scale - 1) > _SIGMAS / np.sqrt(2 * n) + 1e-3:
        problems.append(f"{name}: the standard deviation of its {n} values is {std:.3g}, {std / weight_scale:.3g} "
                        f"times weight_scale = {weight_scale:g}: draw weight_scale * rng.standard_normal(shape)")
    if abs(mean) > _SIGMAS * max(std, weight_scale) / np.sqrt(n):  # the spread's own, if that is off too
        problems.append(f"{name}: the mean of its {n} values is {mean:.3g}, too far from 0 for its spread "
                        f"(rng.random draws from [0, 1); rng.standard_normal is centred on 0)")
    # a mean and a spread are matched by patterns too; independent Gaussian draws also differ from
    # each other (float collisions are rare) and fall within 1 and 2 standard deviations as a
    # Gaussian does (68.3% and 95.4%, within _SIGMAS standard errors)
    distinct = np.unique(value).size
    if distinct < 0.9 * n:
        problems.append(f"{name}: only {distinct} different numbers among its {n} values: draw every weight "
                        f"on its own, weight_scale * rng.standard_normal(shape), not a pattern or a "
                        f"repeated row or column")
    elif std > 0:
        for k, share in ((1, 0.6827), (2, 0.9545)):
            within = np.count_nonzero(np.abs(value - mean) < k * std) / n
            if abs(within - share) > _SIGMAS * np.sqrt(share * (1 - share) / n) + 0.01:
                problems.append(f"{name}: {within:.1%} of its values lie within {k} standard deviation"
                                f"{'s' * (k > 1)} of their mean, where Gaussian draws have {share:.1%}: draw "
                                f"weight_scale * rng.standard_normal(shape)")
                break
    return problems


def seeding_problems(first, again, other):
    """first and again made with one seed must be equal; other, made with the next seed, must have
    other weights: sharing (almost) none of first's numbers."""
    same = [name for name in first if not np.array_equal(np.asarray(first[name]), np.asarray(again.get(name)))]
    if same:
        return [f"the same seed gave different {', '.join(same)}: draw every number from "
                f"np.random.default_rng(seed), not from np.random or a generator without the seed"]
    # the next seed must draw other numbers, not the same ones moved about or nudged
    equal = [name for name in first if name.startswith("W") and np.size(first[name])
             and _shared_values(first[name], other.get(name, ())) > max(4, 0.05 * np.size(first[name]))]
    if equal:
        return [f"two different seeds gave the same {', '.join(equal)}: draw from np.random.default_rng(seed) "
                f"with the seed given, not a fixed one"]
    return []


def check_initialisation(name, params, shapes, weight_scale, dtype):
    """Fails, saying what is wrong, unless params is a fresh initialisation (see
    initialisation_problems); a dtype slip alone is printed with its cost and does not fail."""
    problems = initialisation_problems(params, shapes, weight_scale, dtype)
    if any(not p.startswith(DTYPE_SLIP) for p in problems):
        _fail(f"{name}: " + "; ".join(problems))
    if problems:
        print(f"DTYPE SLIP, costs half of this test's points: {name}: {problems[0]}")
        return
    spread = ", ".join(f"{k} {np.std(np.asarray(params[k], dtype=np.float64)):.2g}" for k in shapes
                       if k.startswith("W"))
    print(f"{name}: shapes, {np.dtype(dtype)}, starting values, standard deviations {spread} ok")


def check_seeding(name, first, again, other):
    """Fails unless one seed gives the same parameters twice and the next seed other weights."""
    problems = seeding_problems(first, again, other)
    if problems:
        _fail(f"{name}: " + "; ".join(problems))
    print(f"{name}: same seed, same parameters; next seed, other weights ok")


# ---------------------------------------------------------------- answers checked by the grader
def answer(grade_id, compute):
    """Declare what a test grades: the hidden part of a test cell ends with it. In a notebook it
    does nothing; the grader's decisive run (autograder.harness) puts its own in its place, calls
    compute on fresh inputs, without the library's implementation of what is graded, and compares
    the answers with the reference outside the student's reach."""
    return None


def self_check(assignment=None, seed=None):
    """Check this notebook's functions as the grader would: every autograded test, its visible
    checks and the grader's own on fresh inputs, with the grader's messages and points, and which
    function to fix first. Call it in a cell of the notebook, after running the cells above;
    assignment ("01_knn", ...) when it cannot tell which notebook this is. See course_lib.selfcheck."""
    from .selfcheck import self_check as run
    return run(assignment, seed)
