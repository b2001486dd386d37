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


def test_an_offset_on_answers_of_one_size_is_an_offset_not_a_factor(rng):
    """Losses of similar size plus a constant (a +1 margin counted once too often, say) also fit
    "about 1.06 times the expected answer"; the offset is exact, and said first."""
    losses = 5 + 0.1 * rng.standard_normal(20)
    assert "every entry is off by the same amount (0.3)" in likely_cause(losses + 0.3, losses)
    assert "about 1.199 times" in likely_cause(1.2 * losses + 0.01 * rng.standard_normal(20), losses)  # still a factor


def test_a_missing_mask_is_named_and_all_zero_answers_get_no_relative_difference(rng):
    """ReLU's backward without its mask: wrong exactly where the answer is 0. And on inputs that
    are all negative every expected entry is 0: no scale, so no "relative difference 1e+300"."""
    from course_lib import layers
    x, dout = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    want = layers.relu_backward(dout, layers.relu_forward(x)[1])
    assert "differs only where the expected one is 0" in likely_cause(dout, want)
    message = describe("dx", dout[:1, :2], np.zeros((1, 2)), 0)
    assert message.startswith("dx is off: every expected entry is 0 here, but 2 of 2 of yours are not")
    assert "relative difference" not in message and "e+" not in message and "mask" in message
    kink = want.copy()
    kink[0, 0] = 1.0 if want[0, 0] == 0 else 0.0  # one entry at the kink: a special case, not a mask
    assert "only 1 of 30 entries differ" in likely_cause(kink, want)
    assert "(must be exact)" in describe("out", want + 1, want, 0)


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


def test_a_dtype_slip_costs_half_on_a_case_with_several_configurations_too(rng):
    """decided puts "with stride=2, pad=1: " before each configuration's problems; the conv
    forward with float64 answers for float32 inputs (np.zeros without dtype=) kept half, not 0."""
    from autograder.cases import CASES, credit, decided
    case = CASES["06_convnets"]["test-conv-forward"]
    configurations = case.configurations(rng)
    assert len(configurations) > 1
    arrays = {}
    for j, config in enumerate(configurations):
        arrays[f"c{j}.out0"] = case.check.expected(config)[0]
        arrays[f"c{j}.f32_out0"] = case.check.expected(config)[0]  # right, but float64
    problems = decided(case, configurations, {"error": None}, arrays)
    assert problems and all(p.startswith("with ") and "came out as float64" in p for p in problems), problems
    assert credit(3.0, problems) == 1.5
    arrays["c0.f32_out0"] = arrays["c0.f32_out0"] + 1  # and wrong as well: nothing
    assert credit(3.0, decided(case, configurations, {"error": None}, arrays)) == 0.0


SHAPES = {"W1": (4, 2, 3, 3), "b1": (4,), "W2": (96, 20), "b2": (20,)}


def _initial(rng, scale=1e-2, dtype=np.float32, draw=None):
    draw = draw or rng.standard_normal
    return {name: (scale * draw(shape) if name[0] == "W" else np.zeros(shape)).astype(dtype)
            for name, shape in SHAPES.items()}


def test_right_initial_weights_pass_on_every_seed_and_size():
    for seed in range(500):
        rng = np.random.default_rng(seed)
        size = int(rng.integers(1, 400))
        scale = float(10 ** rng.uniform(-4, 0))
        params = {"W": scale * rng.standard_normal(size), "b": np.zeros(3)}
        assert checks.initialisation_problems(params, {"W": (size,), "b": (3,)}, scale, np.float64) == [], seed


def test_each_rule_of_initial_weights_is_named(rng, capsys):
    checks.check_initialisation("net", _initial(rng), SHAPES, 1e-2, np.float32)
    assert "net: shapes, float32, starting values" in capsys.readouterr().out

    def problems(params, scale=1e-2, dtype=np.float32):
        return " ".join(checks.initialisation_problems(params, SHAPES, scale, dtype))

    assert "lack b2" in problems({k: v for k, v in _initial(rng).items() if k != "b2"})
    assert "W2 should have shape (96, 20), but it has shape (20, 96)" in problems(
        dict(_initial(rng), W2=np.zeros((20, 96), np.float32)))
    assert "W1 should have dtype float64" in problems(_initial(rng), dtype=np.float64)
    assert "W1 should be a NumPy array, but it is a list" in problems(dict(_initial(rng), W1=[0.1, -0.1]))
    repeated = _initial(rng)
    repeated["W2"][0, :8] = repeated["W1"].ravel()[:8]  # a generator made again for W2
    assert "W2 repeats 8 of the numbers of W1" in problems(repeated)
    assert "b1: biases start at zero, but 4 of its 4 values are not" in problems(dict(_initial(rng), b1=np.ones(4, np.float32)))
    assert "W2: the standard deviation of its 1920 values" in problems(_initial(rng, scale=1.5e-2))  # 1.5 times
    assert "too far from 0" in problems(_initial(rng, draw=rng.random))  # uniform on [0, 1)
    assert "contains NaN" in problems(dict(_initial(rng), W1=np.full((4, 2, 3, 3), np.nan, np.float32)))
    with pytest.raises(AssertionError, match="net: W2 should have shape"):
        checks.check_initialisation("net", dict(_initial(rng), W2=np.zeros(3)), SHAPES, 1e-2, np.float32)


def test_the_seed_must_be_obeyed(rng):
    first = _initial(np.random.default_rng(0))
    assert checks.seeding_problems(first, _initial(np.random.default_rng(0)), _initial(np.random.default_rng(1))) == []
    assert "the same seed gave different W1, W2" in checks.seeding_problems(
        first, _initial(np.random.default_rng(5)), _initial(np.random.default_rng(1)))[0]
    assert "two different seeds gave the same W1, W2" in checks.seeding_problems(first, first, first)[0]
    swapped = {k: v.copy() for k, v in first.items()}  # a fixed draw that the seed only reorders
    swapped["W2"].flat[[0, 1]] = swapped["W2"].flat[[1, 0]]
    swapped["W1"] = swapped["W1"][::-1].copy()
    assert "two different seeds gave the same W1, W2" in checks.seeding_problems(first, first, swapped)[0]
    with pytest.raises(AssertionError, match="same seed gave different"):
        checks.check_seeding("net", first, _initial(rng), _initial(rng))


def test_float64_initial_weights_for_float32_are_a_dtype_slip(rng, capsys):
    from autograder.cases import FLOAT64_SLIP, credit
    problems = checks.initialisation_problems(_initial(rng, dtype=np.float64), SHAPES, 1e-2, np.float32)
    assert len(problems) == 1 and problems[0].startswith(FLOAT64_SLIP) and "W1, b1, W2, b2" in problems[0]
    assert credit(2, problems) == 1.0
    checks.check_initialisation("net", _initial(rng, dtype=np.float64), SHAPES, 1e-2, np.float32)  # does not fail
    assert "DTYPE SLIP, costs half of this test's points" in capsys.readouterr().out
    wrong = dict(_initial(rng, dtype=np.float64), b1=np.ones(4))
    with pytest.raises(AssertionError, match="biases start at zero"):  # a slip with another mistake fails
        checks.check_initialisation("net", wrong, SHAPES, 1e-2, np.float32)


def test_patterns_with_the_right_mean_and_spread_are_not_draws(rng):
    """Arrays made to have mean 0 and standard deviation weight_scale without being independent
    Gaussian draws: each is named (in the notebooks' check and the grader's alike)."""
    scale, n = 1e-2, 96 * 20

    def problems(w2):
        return " ".join(checks.initialisation_problems(dict(_initial(rng), W2=w2.astype(np.float32)), SHAPES,
                                                       scale, np.float32))

    spike = np.zeros(n)
    spike[0] = scale * n / np.sqrt(n - 1)
    spike -= spike.mean()
    assert "W2: only 2 different numbers among its 1920 values" in problems(spike.reshape(96, 20))
    signs = scale * np.where(np.arange(n) % 2, 1.0, -1.0)  # a fixed pattern
    assert "W2: only 2 different numbers" in problems(signs.reshape(96, 20))
    column = rng.standard_normal((96, 1))
    same_columns = scale * (column - column.mean()) / column.std() * np.ones((1, 20))
    assert "W2: only 96 different numbers" in problems(same_columns)
    uniform = scale * np.sqrt(3) * rng.uniform(-1, 1, (96, 20))  # the right mean and spread, not Gaussian
    assert "W2: " in problems(uniform) and "of its values lie within 1 standard deviation" in problems(uniform)


def test_a_generator_made_again_is_caught_in_any_order(rng):
    seed = 7
    params = _initial(np.random.default_rng(seed))
    again = (1e-2 * np.random.default_rng(seed).standard_normal((20, 96))).astype(np.float32)
    params["W2"] = again.T.copy()  # drawn transposed, so it starts with other numbers than W1
    assert "W2 repeats 72 of the numbers of W1" in " ".join(
        checks.initialisation_problems(params, SHAPES, 1e-2, np.float32))


def _convnet_calls(inputs, first=None, again=None, other=None, double=None):
    """The four calls' outputs of the initialisation test, from the course's ConvNet unless given."""
    from autograder.cases import CONVNET_PARAMS, _convnet_made
    made = [given or _convnet_made(inputs, inputs["seed"] + offset, dtype)
            for given, (offset, dtype) in zip((first, again, other, double),
                                              ((0, np.float32), (0, np.float32), (1, np.float32), (0, np.float64)))]
    return (np.array([len(m) for m in made]), *(m[k] for m in made for k in CONVNET_PARAMS))


def test_a_dtype_slip_hides_no_other_rule_of_an_initialisation():
    """float64 arrays cost half the points; float64 arrays that also ignore the seed cost all."""
    from autograder.cases import CASES, _convnet_init, _convnet_made, credit
    case = CASES["06_convnets"]["test-convnet-init"]
    inputs = _convnet_init(np.random.default_rng(3))
    assert case.check(inputs, _convnet_calls(inputs)) == []
    slipped = {k: v.astype(np.float64) for k, v in _convnet_made(inputs, inputs["seed"], np.float32).items()}
    assert credit(2, case.check(inputs, _convnet_calls(inputs, first=slipped, again=slipped))) == 1.0
    unseeded = {k: v.astype(np.float64) for k, v in _convnet_made(inputs, 12345, np.float32).items()}
    problems = case.check(inputs, _convnet_calls(inputs, first=slipped, again=unseeded))
    assert any("the same seed gave different" in p for p in problems) and credit(2, problems) == 0.0


def test_the_counts_of_an_initialisation_are_checked_before_they_are_read():
    from autograder.cases import CASES, _convnet_init
    case = CASES["06_convnets"]["test-convnet-init"]
    inputs = _convnet_init(np.random.default_rng(4))
    counts, *arrays = _convnet_calls(inputs)
    for bad in (np.zeros(5_000_000, np.int8), np.array([6.0, 6.0, 6.0, 6.0]), np.int64(6)):
        problems = case.check(inputs, (bad, *arrays))
        assert len(problems) == 1 and "the first answer should be how many arrays" in problems[0]
        assert len(problems[0]) < 200
