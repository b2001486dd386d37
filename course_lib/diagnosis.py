"""What a wrong answer's numbers say about its likely cause.

A check that only reports "relative difference 99" leaves the student to guess; most wrong
answers in this course have a shape that gives the cause away: a constant factor (a missing
division by N, a factor 2, a flipped sign), the same offset everywhere, or a few entries off (a
special case: ties, values at exactly 0, a border). `describe` turns that shape into one sentence.
"""
import inspect
import re

import numpy as np

from .gradcheck import relative_difference

# Lines that turn float32 work into float64 (NumPy keeps float32 through arithmetic with Python
# numbers; these make new float64 arrays or promote a boolean or integer array with a division).
FLOAT64_IDIOMS = (
    (r"np\.(zeros|ones|empty|full|eye|identity)\((?![^)]*dtype)",
     "np.zeros/ones/empty/full/eye without dtype= make float64: use np.zeros_like(x) or dtype=x.dtype"),
    (r"np\.random\.(rand|randn|random|uniform|normal|standard_normal)\(|\.random\((?![^)]*dtype)",
     "random numbers are float64 unless asked: random(shape, dtype=x.dtype)"),
    (r"\([^()]*[<>]=?[^()]*\)\s*/",
     "a boolean array divided by a number is float64: cast it first, mask.astype(x.dtype)"),
    (r"astype\((float|np\.float64|.float64.)\)|np\.float64\(|dtype=(float|np\.float64)\b",
     "float64 named outright (astype(float), np.float64, dtype=float)"),
    (r"np\.array\((?![^)]*dtype)", "np.array of Python numbers is float64: give dtype=x.dtype"),
)


def float64_lines(function):
    """["line N: `code` (why)"] for the lines of function's source that make float64 by a common
    idiom; [] when none does or the source cannot be read."""
    try:
        lines, first = inspect.getsourcelines(function)
    except (OSError, TypeError):
        return []
    found = []
    for number, line in enumerate(lines):
        code = line.split("#")[0]
        for pattern, why in FLOAT64_IDIOMS:
            if re.search(pattern, code):
                found.append(f"line {number + 1} of {function.__name__}: `{code.strip()}` ({why})")
                break
    return found


ZEROED = ("often a mask that should zero them (x <= 0 in a ReLU, a margin that is not met, the "
          "entries a max did not pick) is missing or the wrong way round")


def _is(ratio, target, tol):
    return abs(ratio - target) <= tol * max(1.0, abs(target))


def likely_cause(got, want, n=None, terms=None):
    """One sentence on the likely cause of got != want (same shape, finite), or "" when the
    numbers show no pattern. n: the number of examples averaged over, if the answer has one;
    terms: {description: array} of parts of the answer a student may drop or double (the
    regularisation gradient, say)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if not want.size:
        return ""
    scale = max(float(np.max(np.abs(want))), 1e-300)
    for what, term in (terms or {}).items():
        term = np.asarray(term, dtype=np.float64)
        if term.shape == want.shape and np.max(np.abs(term)) > 1e-9 * scale:
            for sign, how in ((-1, "is missing"), (1, "is counted twice"), (-2, "has the wrong sign")):
                if relative_difference(got, want + sign * term)[0] < 1e-6:
                    return f"the difference is exactly {what}: that term {how}"
            rest = want - term  # the term right, the rest of the answer off by a factor?
            if np.any(rest):
                ratio = float(np.sum((got - term) * rest)) / float(np.sum(rest * rest))
                if ratio and not _is(ratio, 1, 1e-6) and relative_difference(got - term, ratio * rest)[0] < 1e-6:
                    return _factor(ratio, n, "") + f" (in the part without {what}, which is right)"
    dot = float(np.sum(want * want))
    if dot > 0:
        ratio = float(np.sum(got * want)) / dot
        residual = relative_difference(got, ratio * want)[0] if ratio else 1.0
        if residual < 1e-6 and not _is(ratio, 1, 1e-4):  # a "factor" of 1.000001 is a small slip, below
            return _factor(ratio, n, "")
    # an exact offset before an approximate factor: a constant added to answers of similar size
    # fits "about 1.06 times" too, and is the truer story
    offset = got - want
    if want.size > 1 and np.ptp(offset) <= 1e-6 * scale and abs(float(offset.flat[0])) > 1e-6 * scale:
        return (f"every entry is off by the same amount ({float(offset.flat[0]):.4g}): a constant term "
                f"(a bias, a regularisation term, a +1 margin) is missing or extra")
    if dot > 0 and residual < 0.05 and not _is(ratio, 1, 0.05):  # a factor on most of it: say so
        return _factor(ratio, n, "about ")
    wrong = np.abs(offset) > 1e-6 * scale
    if want.size >= 4 and 0 < wrong.sum() <= max(1, want.size // 10):
        where = ", ".join(str(tuple(int(i) for i in ix)) for ix in np.argwhere(wrong)[:3])
        return (f"only {int(wrong.sum())} of {want.size} entries differ (at {where}): a special case "
                f"such as a tie, a value at exactly 0, or a border or padding entry")
    if want.size >= 2 and np.any(wrong) and not np.any(want[wrong]):
        return (f"your answer differs only where the expected one is 0 ({int(wrong.sum())} of {want.size} "
                f"entries): {ZEROED}")
    if relative_difference(got, want)[0] < 1e-4:
        return ("the answer is close, off by a small fraction of its scale: a small constant such as eps "
                "left out or put in another place, or a step computed in lower precision")
    return ""


def _factor(ratio, n, about):
    if _is(ratio, -1, 0.01):
        return f"it is {about}the expected answer with the sign flipped"
    if n and n > 2 and (_is(ratio, n, 0.05) or _is(ratio, 1 / n, 0.05)):
        rest = " (the rest, a term not averaged such as regularisation)" if about else ""
        return (f"it is {about}{ratio:.4g} times the expected answer, close to the number of examples "
                f"N = {n} or 1/N: a missing or extra division by N{rest}")
    if _is(ratio, 2, 0.01) or _is(ratio, 0.5, 0.01):
        return (f"it is {about}{ratio:.3g} times the expected answer: a factor 2 (the 1/2 of a squared "
                f"term, or a term counted twice)")
    return f"it is {about}{ratio:.4g} times the expected answer: a constant factor is missing or extra"


def describe(name, got, want, tol, n=None, terms=None):
    """The message of a failed comparison: how far off, where, expected against got, and the
    likely cause. Returns "" when got is within tol of want."""
    got, want = np.asarray(got), np.asarray(want, dtype=np.float64)
    err, worst = relative_difference(got, want)
    if err <= tol:
        return ""
    at = f" at index {worst}" if worst else ""
    expected, found = float(want[worst]), float(np.asarray(got, dtype=np.float64)[worst])
    if not np.any(want):  # no scale to be relative to: a "relative difference" of 1e300 says nothing
        nonzero = int(np.count_nonzero(got))
        return (f"{name} is off: every expected entry is 0 here, but {nonzero} of {want.size} of yours "
                f"{'is' if nonzero == 1 else 'are'} not (worst{at}: got {found:.6g}); {ZEROED}")
    cause = likely_cause(got, want, n, terms)
    digits = 6 if f"{expected:.6g}" != f"{found:.6g}" else 12  # enough to show that they differ
    return (f"{name} is off: relative difference {err:.3g} ({'must be exact' if tol == 0 else f'allowed {tol:g}'}); worst{at}: expected "
            f"{expected:.{digits}g}, got {found:.{digits}g}" + (f"; {cause}" if cause else ""))
