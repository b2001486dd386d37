"""A backward pass is graded on its own. A student-style attack scored 23/23 on 05 with no backward
written: each was a numerical gradient of the student's own forward. In a backward pass's test the
learner's forward passes raise (under any alias), and its inputs include a large one on which a
numerical gradient, through whatever name or helper (a re-attack's way around the first rule),
takes hours; in the grader's harness and in the learner's self-check alike."""
import os
import sys

import numpy as np

from autograder import handoff
from autograder.cases import CASES, decided
from autograder.submission import assemble, hidden_code, phase_cells
from notebook_tools import ROOT, SOLUTIONS, blank, grade_id, load, solved

NAME, GID = "05_batchnorm_dropout", "test-bn-backward"

# the attack: the backward is central differences of the learner's own forward (`numeric`, defined
# inside the backward pass, of the `dout`-weighted sum of f over `a`, in x's dtype)
CENTRAL_DIFFERENCES = '''
    def numeric(f, a, h=1e-5):
        a, grad = a.astype(np.float64), np.zeros(a.shape)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + h
            plus = f(a).copy()
            a[i] = old - h
            minus = f(a).copy()
            a[i] = old
            grad[i] = np.sum((plus - minus) * dout) / (2 * h)
        return grad.astype(x.dtype)
'''
NUMERIC_BACKWARD = '''
def batchnorm_backward(dout, cache):
    x, xhat, mean, var, gamma, eps = cache
    forward = batchnorm_forward  # an alias taken early is blocked too

    def out(x_, g_, b_):
        return forward(x_, g_, b_, {"mode": "train", "eps": eps})[0]
''' + CENTRAL_DIFFERENCES + '''    beta = np.zeros_like(gamma)
    return (numeric(lambda a: out(a, gamma, beta), x), numeric(lambda a: out(x, a, beta), gamma),
            numeric(lambda a: out(x, gamma, a), beta))
'''


def with_answer(name, answer, code):
    """The solved notebook `name`, its answer cell `answer` replaced by code, as graded."""
    nb = solved(name)
    for cell in nb["cells"]:
        if grade_id(cell) == answer and cell["cell_type"] == "code":
            cell["source"] = code
    return assemble(load(SOLUTIONS / name / f"{name}.ipynb"), blank(name), nb)


def with_numeric_backward():
    return with_answer(NAME, "bn-backward", NUMERIC_BACKWARD)


def assert_stopped_by_the_large_inputs(monkeypatch, name, gid, attack):
    """In the self-check, as in the grader: the attack's answers to test gid pass without the
    large inputs (it is a real attack), run out of time with them (stopped at 10 s), and the
    solution's pass within those 10 s."""
    import dataclasses
    from course_lib import selfcheck
    from test_selfcheck import _namespace
    test = next(t for t in selfcheck.load(name)["tests"] if t["grade_id"] == gid)
    with monkeypatch.context() as patch:
        patch.setitem(CASES[name], gid, dataclasses.replace(CASES[name][gid], scale=None))
        assert selfcheck.run_decisive(name, test, _namespace(attack), np.random.default_rng(0), seconds=60)[0] == []
    problems, _ = selfcheck.run_decisive(name, test, _namespace(attack), np.random.default_rng(0), seconds=10)
    assert problems and problems[0].startswith("no answers: the grader's run of this test ran out of time; "
                                               "its inputs include a large one"), problems
    honest, _ = selfcheck.run_decisive(name, test, _namespace(assemble(
        load(SOLUTIONS / name / f"{name}.ipynb"), blank(name), solved(name))), np.random.default_rng(0), seconds=10)
    assert honest == []


def harness_run(nb, blocks, scale=False, cell_seconds=30):
    """(the grader's problems with GID's answers, the harness's reply), from autograder/harness.py
    run as the grader runs it (here outside a jail, on the installed library): the cells and hidden
    code first, the inputs after its READY byte; scale: with the large inputs."""
    from autograder import bounded
    from autograder.harness import READY
    case, index = CASES[NAME][GID], next(i for i, c in enumerate(nb["cells"]) if grade_id(c) == GID)
    configurations = case.configurations(np.random.default_rng(0), scale=scale)
    inputs = {f"c{j}.{k}": v for j, config in enumerate(configurations) for k, v in config.items()}
    message = handoff.encode({"grade_id": GID, "cells": phase_cells(nb, index),
                              "hidden": hidden_code(load(SOLUTIONS / NAME / f"{NAME}.ipynb"), GID),
                              "float32": case.float32, "configurations": len(configurations),
                              "blocks": list(blocks), "cell_seconds": cell_seconds}, {})
    env = [f"PYTHONPATH={os.pathsep.join([str(ROOT / 'autograder'), str(ROOT)])}", "MPLBACKEND=Agg"]
    out = bounded.run(["env", *env, sys.executable, str(ROOT / "autograder" / "harness.py")], message,
                      timeout=300, then=(handoff.encode({}, inputs), 300))
    assert out.stdout[:1] == READY, out.stderr
    reply, arrays = handoff.decode(out.stdout[1:])
    return decided(case, configurations, reply, arrays), reply


def harness_problems(nb, blocks, scale=False):
    return harness_run(nb, blocks, scale)[0]


def test_the_numeric_backward_passes_unless_the_forward_is_blocked_and_the_solution_passes_either_way():
    attack = with_numeric_backward()
    assert harness_problems(attack, ()) == []  # what the attack got before
    problems = harness_problems(attack, CASES[NAME][GID].blocks)
    assert len(problems) == 1 and problems[0].startswith("called batchnorm_forward on the grader's inputs"), problems
    honest = assemble(load(SOLUTIONS / NAME / f"{NAME}.ipynb"), blank(NAME), solved(NAME))
    assert harness_problems(honest, CASES[NAME][GID].blocks, scale=True) == []


def test_a_cell_past_its_seconds_is_interrupted_and_the_run_goes_on_to_the_answers():
    """Each cell above the test gets the notebook's per-cell limit, as in the notebook: past it, it
    is interrupted (sleeping or spinning) and counts as failed, and the answers still come."""
    import time
    nb = assemble(load(SOLUTIONS / NAME / f"{NAME}.ipynb"), blank(NAME), solved(NAME))
    for cell in nb["cells"]:  # their functions are defined before the cell runs out of time
        if grade_id(cell) == "bn-forward":
            cell["source"] += "\nimport time\ntime.sleep(600)\n"
        if grade_id(cell) == "bn-backward":
            cell["source"] += "\nwhile True:\n    pass\n"
    started = time.monotonic()
    problems, reply = harness_run(nb, CASES[NAME][GID].blocks, cell_seconds=3)
    assert problems == [] and reply["failed_cells"] == [1, 2], (problems, reply)
    assert time.monotonic() - started < 60


def test_the_self_check_shows_the_rule_and_gives_the_forward_back():
    from course_lib import selfcheck
    from test_selfcheck import _namespace
    ns = _namespace(with_numeric_backward())
    report = selfcheck.check_namespace(NAME, ns, visible={GID: (True, "")}, seed=0, only=[GID])
    (result,) = report.results
    assert result.earned == 0 and "called batchnorm_forward" in result.problems[0], result.problems
    x = np.random.default_rng(1).standard_normal((4, 3))
    out, _ = ns["batchnorm_forward"](x, np.ones(3), np.zeros(3), {"mode": "train"})  # its code is back
    assert np.allclose(out.mean(axis=0), 0)


def test_no_backward_of_the_instructor_calls_a_forward():
    """The rule costs an honest student nothing: the instructor's own backward passes pass it
    (the grading tests' full marks check it end to end; this says which functions it is)."""
    blocked = {name for cases in CASES.values() for case in cases.values() for name in case.blocks}
    assert blocked == {"batchnorm_forward", "layernorm_forward", "spatial_batchnorm_forward",
                       "spatial_groupnorm_forward", "conv_forward_naive", "max_pool_forward_naive"}


# the re-attack's way around the block: the forward's work in a helper, differentiated numerically
THROUGH_A_HELPER = NUMERIC_BACKWARD.replace(
    "    forward = batchnorm_forward  # an alias taken early is blocked too\n",
    "    def forward(x_, g_, b_, param):\n"
    "        mu, v = x_.mean(axis=0), x_.var(axis=0)\n"
    "        return g_ * (x_ - mu) / np.sqrt(v + param['eps']) + b_, None\n")


def test_a_numerical_gradient_through_any_name_runs_out_of_time_on_the_large_inputs(monkeypatch):
    """The hang is what is tested: the honest backward takes milliseconds on the large inputs, the
    numerical one (600 x 500 values, two forwards each) hours; the check stops it at 10 s."""
    assert_stopped_by_the_large_inputs(monkeypatch, NAME, GID, with_answer(NAME, "bn-backward", THROUGH_A_HELPER))


# 04 grades a layer's forward and backward in one test, so its forward cannot be blocked there:
# the large inputs alone stop a backward that is a numerical gradient (the same student-style
# attack scored 18/18 on 04's backward passes and networks)
NUMERIC_AFFINE = '''
def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    x, w, b = cache
''' + CENTRAL_DIFFERENCES + '''    return (numeric(lambda a: affine_forward(a, w, b)[0], x), numeric(lambda a: affine_forward(x, a, b)[0], w),
            numeric(lambda a: affine_forward(x, w, a)[0], b))
'''


def test_04s_numerical_backward_runs_out_of_time_on_the_large_inputs_and_the_solution_does_not(monkeypatch):
    assert_stopped_by_the_large_inputs(monkeypatch, "04_fc_nets", "test-affine",
                                       with_answer("04_fc_nets", "affine", NUMERIC_AFFINE))
    # the instructor's check grades the solution on every test's large inputs (test_grading)
    assert all(CASES["04_fc_nets"][gid].scale for gid in ("test-affine", "test-relu", "test-two-layer",
                                                          "test-fc-loss", "test-fc-hooks"))


# A loss is one number that every weight changes: its gradient, as a numerical one, costs two
# forwards per weight. The same kind of attack scored full marks on 02's and 03's losses and on
# 06's network (its gradients computed only when asked for, so the visible check stayed quick).
NUMERIC_SVM = '''
def svm_loss_vectorized(W, X, y, reg):
    def loss(W_):
        scores = X.astype(np.float64) @ W_
        margins = np.maximum(0, scores - scores[np.arange(len(y)), y][:, None] + 1)
        margins[np.arange(len(y)), y] = 0
        return margins.sum() / len(y) + reg * np.sum(W_ * W_)

    def central(W_, i, h):
        plus, minus = W_.copy(), W_.copy()
        plus[i] += h
        minus[i] -= h
        return (loss(plus) - loss(minus)) / (2 * h)
    W64, dW = W.astype(np.float64), np.zeros(W.shape)
    for i in np.ndindex(W.shape):  # a smaller step where a kink is near
        a, b = central(W64, i, 1e-4), central(W64, i, 2e-4)
        dW[i] = a if abs(a - b) < 1e-10 * max(1.0, abs(a)) else central(W64, i, 1e-7)
    return W.dtype.type(loss(W64)), dW.astype(W.dtype)
'''

NUMERIC_CONVNET = '''
def three_layer_convnet_loss(params, X, y=None, reg=0.0):
    def scores(p):
        conv_param = {"stride": 1, "pad": (p["W1"].shape[2] - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        out1, _ = layers.conv_relu_pool_forward(X, p["W1"], p["b1"], conv_param, pool_param)
        out2, _ = layers.affine_relu_forward(out1, p["W2"], p["b2"])
        return layers.affine_forward(out2, p["W3"], p["b3"])[0]
    if y is None:
        return scores(params)
    p = {k: np.array(v, dtype=np.float64) for k, v in params.items()}

    def loss():
        s = scores(p)
        s = s - s.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return -logp[np.arange(len(y)), y].mean() + sum(0.5 * reg * np.sum(p[n] ** 2) for n in ("W1", "W2", "W3"))

    class Numerical(dict):  # each gradient computed when asked for: the visible check asks for the loss
        def __missing__(self, name):
            grad = np.zeros_like(p[name])
            for i in np.ndindex(grad.shape):
                old = p[name][i]
                p[name][i] = old + 1e-5
                plus = loss()
                p[name][i] = old - 1e-5
                minus = loss()
                p[name][i] = old
                grad[i] = (plus - minus) / 2e-5
            self[name] = grad
            return grad
    return loss(), Numerical()
'''


def test_a_losss_numerical_gradient_runs_out_of_time_on_the_large_inputs_and_the_solution_does_not(monkeypatch):
    assert_stopped_by_the_large_inputs(monkeypatch, "02_svm", "test-vectorized",
                                       with_answer("02_svm", "vectorized", NUMERIC_SVM))
    assert all(CASES[name][gid].scale for name in ("02_svm", "03_softmax") for gid in ("test-naive", "test-vectorized"))


def test_a_networks_numerical_gradient_runs_out_of_time_on_the_large_inputs_and_the_solution_does_not(monkeypatch):
    assert_stopped_by_the_large_inputs(monkeypatch, "06_convnets", "test-convnet-loss",
                                       with_answer("06_convnets", "convnet-loss", NUMERIC_CONVNET))
