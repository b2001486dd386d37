"""The messages of failed comparisons name the likely cause of the common mistakes."""
import numpy as np
import pytest

from course_lib import checks
from course_lib.diagnosis import describe, likely_cause


@pytest.fixture
def want(rng):
    return rng.standard_normal((5, 3))


def test_a_missing_division_by_n_is_named(want):
    assert "division by N" in likely_cause(100 * want, want, n=100)
    assert "division by N" in likely_cause(want / 100, want, n=100)
    assert "N = " not in likely_cause(7 * want, want, n=100)  # another factor: said as it is
    assert "7 times" in likely_cause(7 * want, want, n=100)


def test_sign_factor_two_offset_and_special_entries(want):
    assert "sign flipped" in likely_cause(-want, want)
    assert "factor 2" in likely_cause(2 * want, want) and "factor 2" in likely_cause(want / 2, want)
    assert "same amount" in likely_cause(want + 0.01, want)
    few = want.copy()
    few[2, 1] = 0.0
    assert "only 1 of 15 entries differ (at (2, 1))" in likely_cause(few, want)


def test_no_pattern_no_guess(rng, want):
    assert likely_cause(want + rng.standard_normal(want.shape), want) == ""


def test_the_message_shows_expected_against_got_at_the_worst_entry(want):
    got = want.copy()
    got[4, 2] += 10
    message = describe("dW", got, want, 1e-8)
    assert message.startswith("dW is off: relative difference")
    assert f"worst at index (4, 2): expected {want[4, 2]:.6g}, got {got[4, 2]:.6g}" in message
    assert describe("dW", want, want, 1e-8) == ""


def test_check_close_says_the_cause(want, capsys):
    with pytest.raises(AssertionError, match="division by N"):
        checks.check_close("dW", want * 100, want, n=100)
    checks.check_close("dW", want, want)
    assert "dW: relative difference 0.00e+00 ok" in capsys.readouterr().out


def test_the_graders_messages_name_the_cause_too(rng):
    from autograder.cases import CASES
    case = CASES["02_svm"]["test-vectorized"]
    inputs = case.make(rng)
    loss, dW = case.check.expected(inputs)
    problems = case.check(inputs, (np.float64(loss), dW * len(inputs["X"])))
    assert len(problems) == 1 and "division by N" in problems[0] and problems[0].startswith("dW is off")


def test_a_dropped_or_doubled_term_is_named(rng, want):
    reg_grad = 0.02 * rng.standard_normal(want.shape)
    terms = {"the regularisation gradient": reg_grad}
    assert "regularisation gradient: that term is missing" in likely_cause(want - reg_grad, want, terms=terms)
    assert "counted twice" in likely_cause(want + reg_grad, want, terms=terms)
    assert "wrong sign" in likely_cause(want - 2 * reg_grad, want, terms=terms)


def test_a_missing_division_by_n_with_the_regularisation_left_whole(rng):
    """The common slip: the data gradient summed but not averaged; the reg term added as it should."""
    from autograder.cases import CASES
    case = CASES["03_softmax"]["test-naive"]
    inputs = dict(case.make(rng), reg=0.01)
    loss, dW = case.check.expected(inputs)
    reg_grad, n = 2 * inputs["reg"] * inputs["W"], len(inputs["X"])
    problems = case.check(inputs, (np.float64(loss), (dW - reg_grad) * n + reg_grad))
    assert any("division by N" in p for p in problems), problems
    problems = case.check(inputs, (np.float64(loss), dW - reg_grad))
    assert problems == [problems[0]] and "2 * reg * W: that term is missing" in problems[0]


# ---------------------------------------------------------------- dtype slips
def _slips(x, p):
    u = np.random.default_rng(0).random(x.shape)
    mask = (u < p) / p
    grad = np.zeros(x.shape)
    kept = np.zeros_like(x)  # fine: keeps x's dtype
    typed = np.zeros(x.shape, dtype=x.dtype)  # fine too
    return x * mask + grad + kept + typed


def _clean(x, p):
    u = np.random.default_rng(0).random(x.shape, dtype=x.dtype)
    return x * (u < p).astype(x.dtype) / x.dtype.type(p)


def test_the_lines_that_make_float64_are_named_and_only_those():
    from course_lib.diagnosis import float64_lines
    found = float64_lines(_slips)
    assert [line.split(":")[0] for line in found] == [f"line {n} of _slips" for n in (2, 3, 4)], found
    assert "random(shape, dtype=x.dtype)" in found[0] and "mask.astype(x.dtype)" in found[1]
    assert "np.zeros_like(x)" in found[2]
    assert float64_lines(_clean) == [] and float64_lines(print) == []


def test_a_dtype_slip_is_printed_with_its_cost_and_does_not_fail_the_cell(capsys):
    x = np.ones((4, 3))
    checks.check_keeps_float32("_slips", _slips, x, 0.5)
    printed = capsys.readouterr().out
    assert "DTYPE SLIP, costs half of this test's points" in printed and "line 3 of _slips" in printed
    checks.check_keeps_float32("_clean", _clean, x, 0.5)
    assert "_clean: float32 in, float32 out ok" in capsys.readouterr().out
    # only the named answers count; a Python float is float64
    checks.check_keeps_float32("pair", lambda v: (v * 2, float(v.sum())), x, names=("twice",))
    assert "ok" in capsys.readouterr().out
    checks.check_keeps_float32("pair", lambda v: (v * 2, float(v.sum())), x, names=("twice", "sum"))
    assert "sum came out as float64" in capsys.readouterr().out


def test_credit_halves_a_test_for_a_dtype_slip_alone():
    from autograder.cases import FLOAT64_SLIP, credit
    slip = f"{FLOAT64_SLIP}, but dW came out as float64"
    assert credit(4.0, []) == 4.0 and credit(4.0, [slip]) == 2.0
    assert credit(4.0, [slip, "for float32 inputs: dW is off"]) == 0.0
    assert credit(4.0, ["test cell raised AssertionError: x"]) == 0.0
