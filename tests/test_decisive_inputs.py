"""The grader's fresh inputs are fair: on many seeds, the instructor's own answers pass every
decisive check, in float64 and, where the notebook asks for the dtype to be kept, in float32.
(A check that fails a right answer on an unlucky draw, e.g. batch norm on two examples, where the
backward's answer is a difference of nearly equal terms and float32 keeps no digit of it, takes
points from a student at random.)"""
import numpy as np
import pytest

from autograder.cases import CASES, as_float32
from autograder.submission import hidden_code, phase_cells
from notebook_tools import SOLUTIONS, load, solved
from test_mistakes import Kernel, assembled, index_of

pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"), pytest.mark.slow]
SEEDS = {"07_network_visualization": 10}  # 07's answers take a second each; the rest, 200 draws


@pytest.fixture(autouse=True)
def main_module_kept():
    import sys
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def computes(name):
    """{grade id: the compute function its hidden code hands to checks.answer}, from one kernel
    that ran the solved notebook's setup and answer cells."""
    import course_lib.checks
    nb, kernel, found = assembled(name, solved(name)), Kernel(), {}
    instructor = load(SOLUTIONS / name / f"{name}.ipynb")
    last = max(index_of(nb, gid) for gid in CASES[name])
    for code in phase_cells(nb, last + 1):
        assert kernel.run(code) is None
    saved, course_lib.checks.answer = course_lib.checks.answer, lambda gid, compute: found.__setitem__(gid, compute)
    try:
        for gid in CASES[name]:
            assert kernel.run(hidden_code(instructor, gid)) is None, gid
    finally:
        course_lib.checks.answer = saved
    return found


def answers(compute, inputs):
    result = compute(**{k: v.copy() if isinstance(v, np.ndarray) else v for k, v in inputs.items()})
    return tuple(np.asarray(v) for v in (result if isinstance(result, tuple) else (result,)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_right_answers_pass_on_every_draw(name):
    failures = []
    for gid, compute in computes(name).items():
        case = CASES[name][gid]
        for seed in range(SEEDS.get(name, 200)):
            for inputs in case.configurations(np.random.default_rng(seed), scale=seed < 2):  # the large ones twice
                got = answers(compute, inputs)
                problems = case.check(inputs, got)
                if case.float32 and not problems:
                    problems = case.check_float32(inputs, got, answers(compute, as_float32(inputs)))
                if problems:
                    failures.append((gid, seed, problems))
    assert not failures, failures[:5]


def test_a_huge_answer_is_refused_before_the_grader_computes_with_it():
    """The checks run in the grader's own process: a W of 2,000,000 columns must get a shape
    message, not X @ W (50 times its size; a 256 MB W would have asked for 12.8 GB)."""
    import tracemalloc
    case = CASES["02_svm"]["test-train"]
    inputs = case.configurations(np.random.default_rng(0))[0]
    W = np.zeros((4, 2_000_000), np.float32)  # 32 MB
    tracemalloc.start()
    try:
        problems = case.check(inputs, (W, np.zeros(300), np.zeros(200, np.int64)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problems and "expected shape (4, 4)" in problems[0], problems
    assert peak < 8 * 1024 * 1024, peak  # the reference's training only, nothing of W's size
