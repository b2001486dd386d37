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
