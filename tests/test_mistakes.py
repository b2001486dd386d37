"""A corpus of realistic mistakes, one change each in an otherwise correct notebook, written from
the notebooks' stated rules and the common slips of students: the visible check fails and its
message names the cause, and the grader's decisive check takes the points of the function that
has the mistake and of no other (the next functions are judged on the course's inputs).

The decisive checks run in this process, as the grader's harness runs them (the setup and answer
cells above the test, then its hidden code), on the grader's inputs for a fixed seed; the jail
around them is tested elsewhere. One mistake is also graded end to end.
"""
import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from autograder.cases import CASES, FLOAT64_SLIP, credit
from autograder.submission import assemble, hidden_code, phase_cells, without_hidden
from notebook_tools import SOLUTIONS, blank, grade_id, load, solved, source

# the mistakes overflow and take square roots of negative numbers, as they should
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"), pytest.mark.slow]


@dataclass(frozen=True)
class Mistake:
    name: str
    assignment: str
    answer: str  # the answer cell that has the mistake
    old: str  # the correct code, as the instructor's notebook has it
    new: str  # the student's version
    test: str  # the test cell of that function
    says: str  # what its visible check's message must say
    judged: str = ""  # what the decisive check's problems must say ("" : just that it fails)
    unaffected: tuple = field(default=())  # tests after it that must keep their points
    decisive: bool = True  # False: only the visible check can tell (it fails the cell, so the points go)


CORPUS = [
    # 01: kNN
    Mistake("distances without the square root", "01_knn", "two-loops", "np.sqrt(np.sum(diff * diff))",
            "np.sum(diff * diff)", "test-two-loops", "dists is off"),
    Mistake("no clip before the square root", "01_knn", "no-loops", "np.sqrt(np.maximum(sq, 0))", "np.sqrt(sq)",
            "test-no-loops", "clip the squared distances at 0", "NaN", unaffected=("test-cross-validate",)),
    Mistake("default (unstable) sort", "01_knn", "predict", 'np.argsort(dists[i], kind="stable")',
            "np.argsort(dists[i])", "test-predict", "kind='stable'", unaffected=("test-cross-validate",)),
    Mistake("held-out fold trained on", "01_knn", "cross-validate",
            "X_tr = np.concatenate(X_folds[:fold] + X_folds[fold + 1:])\n        y_tr = np.concatenate(y_folds[:fold] + y_folds[fold + 1:])",
            "X_tr = np.concatenate(X_folds)\n        y_tr = np.concatenate(y_folds)", "test-cross-validate",
            "accuracies of k = 1 per fold is off"),
    # 02/03: linear classifiers
    Mistake("SVM gradient not averaged", "02_svm", "vectorized", "dW = X.T @ coeff / n", "dW = X.T @ coeff",
            "test-vectorized", "division by N", "division by N"),
    Mistake("SVM gradient without regularisation", "02_svm", "vectorized", "dW = X.T @ coeff / n + 2 * reg * W",
            "dW = X.T @ coeff / n", "test-vectorized", "2 * reg * W: that term is missing",
            "2 * reg * W: that term is missing"),
    Mistake("softmax without the max-shift", "03_softmax", "naive", "scores = scores - np.max(scores)",
            "scores = scores", "test-naive", "exp overflowed", "NaN"),
    Mistake("softmax regularisation gradient counted twice", "03_softmax", "vectorized",
            "dW = X.T @ coeff / n + 2 * reg * W", "dW = X.T @ coeff / n + 4 * reg * W", "test-vectorized",
            "counted twice", "counted twice"),
    # 04: layers, the network, update rules
    Mistake("ReLU gradient 1 at exactly 0", "04_fc_nets", "relu", "dx = dout * (x > 0)", "dx = dout * (x >= 0)",
            "test-relu", "gradient 0 at exactly 0", unaffected=("test-two-layer",)),
    Mistake("affine backward without the reshape", "04_fc_nets", "affine", "dx = (dout @ w.T).reshape(x.shape)",
            "dx = dout @ w.T", "test-affine", "shape", unaffected=("test-two-layer",)),
    Mistake("batch norm's scales on the last layer too", "04_fc_nets", "fc-net",
            'if normalization == "batchnorm" and i < len(dims) - 1:', 'if normalization == "batchnorm":',
            "test-fc-init", "should not hold gamma3", unaffected=("test-fc-loss", "test-fc-hooks")),
    Mistake("a generator made again for each layer", "04_fc_nets", "fc-net",
            "(weight_scale * rng.standard_normal((dims[i - 1], dims[i])))",
            "(weight_scale * np.random.default_rng(seed).standard_normal((dims[i - 1], dims[i])))", "test-fc-init",
            "of the numbers of W1: make one generator", "W2 repeats",
            unaffected=("test-fc-loss",)),
    Mistake("the last layer's weights not regularised", "04_fc_nets", "fc-net", "for i in range(1, L + 1):",
            "for i in range(1, L):", "test-fc-loss", "loss with reg=0.7 is off", unaffected=("test-fc-init",)),
    Mistake("the mode never set to test", "04_fc_nets", "fc-net", 'mode = "test" if y is None else "train"',
            'mode = "train"', "test-fc-hooks", "scores in test mode is off", "scores in test mode",
            unaffected=("test-fc-loss", "test-momentum")),
    Mistake("batch norm handed copies of bn_params", "04_fc_nets", "fc-net", "bn_params[i - 1])", "dict(bn_params[i - 1]))",
            "test-fc-hooks", "hand batchnorm_forward the dicts of bn_params themselves", unaffected=("test-fc-loss",)),
    Mistake("momentum velocity with the wrong sign", "04_fc_nets", "update-rules",
            'v = config["momentum"] * v - config["learning_rate"] * dw',
            'v = config["momentum"] * v + config["learning_rate"] * dw', "test-momentum",
            "sgd_momentum: w after step 1 is off", unaffected=("test-rmsprop", "test-adam")),
    Mistake("Adam without bias correction", "04_fc_nets", "update-rules",
            'm_hat = m / (1 - config["beta1"] ** t)', "m_hat = m", "test-adam", "adam: w after step 1 is off",
            unaffected=("test-momentum", "test-rmsprop")),
    # 05: batch norm
    Mistake("batch variance with ddof=1", "05_batchnorm_dropout", "bn-forward", "var = x.var(axis=0)",
            "var = x.var(axis=0, ddof=1)", "test-bn-forward", "is off",
            unaffected=("test-bn-backward", "test-bn-backward-alt")),
    Mistake("layer norm's variance with ddof=1", "05_batchnorm_dropout", "layernorm", "var = x.var(axis=1)",
            "var = x.var(axis=1, ddof=1)", "test-ln-forward", "is off", unaffected=("test-ln-backward",)),
    Mistake("spatial batch norm's running variance never updated", "05_batchnorm_dropout", "spatial-norms",
            "running_var = momentum * running_var + (1 - momentum) * var", "running_var = running_var",
            "test-sbn-forward", "running variance is off", "running var", unaffected=("test-sbn-backward",)),
    Mistake("group norm's groups taken with a stride", "05_batchnorm_dropout", "spatial-norms",
            "grouped = x.reshape(N, G, -1)", "grouped = x.reshape(N, -1, G).transpose(0, 2, 1)", "test-gn-forward",
            "is off", unaffected=("test-gn-backward", "test-dropout")),
    Mistake("batch-norm backward without the variance path", "05_batchnorm_dropout", "bn-backward",
            "dx = dxhat / std + dvar * 2 * centred / N + dmean / N", "dx = dxhat / std + dmean / N",
            "test-bn-backward", "dx is off", unaffected=("test-bn-backward-alt",)),
    # 06: sizes, convolution and pooling
    Mistake("output size floored instead of refused", "06_convnets", "conv-sizes", "if span % S:", "if False:",
            "test-output-size", "the layer is impossible, so it must raise a ValueError",
            unaffected=("test-layer-counts", "test-receptive-field")),
    Mistake("receptive field of F per layer", "06_convnets", "conv-sizes", "return 1 + layers * (F - 1)",
            "return layers * F", "test-receptive-field", "receptive_field(3, 3) is off", "receptive fields",
            unaffected=("test-conv-forward",)),
    Mistake("a network's widths taken from its heights", "06_convnets", "network-table",
            "H, W, D = size(H, F, S, P), size(W, F, S, P), K", "H, W, D = size(H, F, S, P), size(H, F, S, P), K",
            "test-network-table", "rows of a network on a 7x9x2 input is off", unaffected=("test-conv-forward",)),
    Mistake("an FC layer's parameters without its biases", "06_convnets", "network-table",
            "params = H * W * D * K + K", "params = H * W * D * K", "test-network-table",
            "rows of a small network is off"),
    Mistake("W2's rows from the unpooled maps", "06_convnets", "convnet-init",
            '"W2": (num_filters * (H // 2) * (W // 2), hidden_dim)', '"W2": (num_filters * H * W, hidden_dim)',
            "test-convnet-init", "W2 should have shape (4096, 100)", "W2 should have shape",
            unaffected=("test-convnet-loss",)),
    Mistake("initial weights from a generator without the seed", "06_convnets", "convnet-init",
            "rng = np.random.default_rng(seed)", "rng = np.random.default_rng()", "test-convnet-init",
            "the same seed gave different W1, W2, W3", "the same seed gave different", unaffected=("test-convnet-loss",)),
    Mistake("initial weights drawn from [0, 1)", "06_convnets", "convnet-init",
            "(weight_scale * rng.standard_normal(shape))", "(weight_scale * rng.random(shape))",
            "test-convnet-init", "too far from 0", "too far from 0"),
    Mistake("conv forward without the bias", "06_convnets", "conv-forward", "np.sum(window * w[f]) + b[f]",
            "np.sum(window * w[f])", "test-conv-forward", "is off", unaffected=("test-conv-backward",)),
    Mistake("padding cropped with [pad:-pad]", "06_convnets", "conv-backward",
            "dx = dxp[:, :, pad:pad + H, pad:pad + W]", "dx = dxp[:, :, pad:-pad, pad:-pad]",
            "test-conv-backward", "should have shape"),
    Mistake("pool backward overwrites overlapping windows", "06_convnets", "max-pool",
            "dx[n, c, i * stride + r, j * stride + q] += dout[n, c, i, j]",
            "dx[n, c, i * stride + r, j * stride + q] = dout[n, c, i, j]", "test-pool-backward",
            "dx with overlapping windows is off", unaffected=("test-pool-forward",)),
    # 05: dropout
    Mistake("dropout mask drawn without the seed", "05_batchnorm_dropout", "dropout",
            'np.random.default_rng(dropout_param.get("seed"))', "np.random.default_rng()", "test-dropout",
            "drew different masks", "train output is off"),
    # 07: network visualisation
    Mistake("orientation folded with abs instead of mod pi", "08_image_features", "hog",
            "angle = np.mod(np.arctan2(gy, gx), np.pi)", "angle = np.abs(np.arctan2(gy, gx))", "test-hog",
            "random images, cell 3, 6 bins is off", unaffected=("test-colour-histogram",)),
    Mistake("colour histogram of counts, not fractions", "08_image_features", "colour-histogram",
            "hist[:, k] = np.mean(which == k, axis=1)", "hist[:, k] = np.sum(which == k, axis=1)",
            "test-colour-histogram", "a red image, 9 bins is off"),
    Mistake("fooling step not normalised", "07_network_visualization", "fooling",
            "X_fooling += X_fooling.dtype.type(learning_rate) * grad / norm",
            "X_fooling += X_fooling.dtype.type(learning_rate) * grad", "test-fooling",
            "not a whole number of steps", unaffected=("test-saliency",),
            # the grader accepts any fooling image no further than the reference's walk: on a real
            # network rounding can change a walk by a step, so the rule is checked on the visible
            # check's linear stand-in network
            decisive=False),
    Mistake("fooling steps past the target", "07_network_visualization", "fooling",
            "if np.argmax(scores[0]) == target_y:\n            break", "pass", "test-fooling",
            "stop as soon as it is the target", "further from the original than needed"),
    Mistake("class visualisation's L2 term with the wrong sign", "07_network_visualization",
            "class-visualization", "grad = grad - 2 * l2_reg * image", "grad = grad + 2 * l2_reg * image",
            "test-class-visualization", "the L2 term's gradient has the wrong sign", "image is off",
            unaffected=("test-fooling",)),
]

# Slips of dtype alone: the numbers are right, the visible check passes and prints what the slip
# costs with the line that makes float64, and the grader takes half of the test's points.
SLIPS = [
    Mistake("dropout mask left boolean and divided by p", "05_batchnorm_dropout", "dropout",
            "mask = (uniform < p).astype(x.dtype) / x.dtype.type(p)", "mask = (uniform < p) / p", "test-dropout",
            "`mask = (uniform < p) / p` (a boolean array divided by a number is float64"),
    Mistake("the ConvNet's biases made with np.zeros(shape)", "06_convnets", "convnet-init",
            'np.zeros(shape[0] if name == "W1" else shape[1], dtype=dtype)', 'np.zeros(shape[0] if name == "W1" else shape[1])',
            "test-convnet-init", "b1, b2, b3 came out as float64"),
    Mistake("conv backward's dw made with np.zeros(shape)", "06_convnets", "conv-backward",
            "dw = np.zeros_like(w)", "dw = np.zeros(w.shape)", "test-conv-backward",
            "`dw = np.zeros(w.shape)` (np.zeros/ones/empty/full/eye without dtype="),
]


def with_mistake(mistake):
    nb = solved(mistake.assignment)
    for cell in nb["cells"]:
        if grade_id(cell) == mistake.answer and cell["cell_type"] == "code":
            code = source(cell)
            assert mistake.old in code, f"{mistake.name}: the answer {mistake.answer} has no {mistake.old!r}"
            cell["source"] = code.replace(mistake.old, mistake.new, 1)
            return nb
    raise AssertionError(f"no answer cell {mistake.answer} in {mistake.assignment}")


@pytest.fixture(autouse=True)
def main_module_kept():
    """IPython's shell makes its namespace sys.modules["__main__"]; the grading pool's spawned
    workers need the real one back."""
    import sys
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


class Kernel:
    """An IPython shell in this process, fresh for every run, as the grader's harness uses one."""

    def __init__(self):
        from IPython.core.interactiveshell import InteractiveShell
        self.shell = InteractiveShell.instance(colors="NoColor")
        self.shell.enable_gui = lambda gui=None: None  # as the harness does
        self.shell.reset(new_session=True)

    def run(self, code):
        result = self.shell.run_cell(code, store_history=False, silent=True)
        return result.error_in_exec or result.error_before_exec


def assembled(name, submitted):
    return assemble(load(SOLUTIONS / name / f"{name}.ipynb"), blank(name), submitted)


def index_of(nb, gid):
    return next(i for i, c in enumerate(nb["cells"]) if grade_id(c) == gid)


def visible_error(nb, gid):
    """The exception the test cell gid raises as the student sees it (None: it passes)."""
    index, kernel = index_of(nb, gid), Kernel()
    for code in phase_cells(nb, index):
        assert kernel.run(code) is None, f"a setup or answer cell above {gid} failed"
    return kernel.run(without_hidden(source(nb["cells"][index])))


def visible_output(nb, gid):
    """(what test cell gid prints, the exception it raises or None) as the student sees them."""
    import contextlib
    import io
    index, kernel = index_of(nb, gid), Kernel()
    for code in phase_cells(nb, index):
        assert kernel.run(code) is None, f"a setup or answer cell above {gid} failed"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        error = kernel.run(without_hidden(source(nb["cells"][index])))
    return printed.getvalue(), error


def decisive_problems(name, nb, gid, seed=0):
    """The grader's problems with test gid's answers on its inputs (empty: full points)."""
    import course_lib.checks
    case, index, kernel = CASES[name][gid], index_of(nb, gid), Kernel()
    for code in phase_cells(nb, index):
        kernel.run(code)
    configurations, answers = case.configurations(np.random.default_rng(seed)), {}

    def answer(grade, compute):
        for j, inputs in enumerate(configurations):
            for label, float32 in (("", False), ("f32", True))[:1 + case.float32]:
                values = {k: (v.astype(np.float32) if float32 and isinstance(v, np.ndarray) and v.dtype.kind == "f"
                              else (v.copy() if isinstance(v, np.ndarray) else v)) for k, v in inputs.items()}
                result = compute(**values)
                answers[j, label] = tuple(np.asarray(v) for v in (result if isinstance(result, tuple) else (result,)))

    saved, course_lib.checks.answer = course_lib.checks.answer, answer
    try:
        error = kernel.run(hidden_code(load(SOLUTIONS / name / f"{name}.ipynb"), gid))
    finally:
        course_lib.checks.answer = saved
    if error is not None:
        return [f"raised {type(error).__name__}"]
    problems = []
    for j, inputs in enumerate(configurations):  # as the grader: every configuration judged
        found = case.check(inputs, answers[j, ""])
        if case.float32 and not found:
            found = case.check_float32(inputs, answers[j, ""], answers[j, "f32"])
        problems += found
    return problems


@pytest.mark.parametrize("mistake", CORPUS, ids=[m.name for m in CORPUS])
def test_a_mistake_is_named_and_costs_only_its_own_points(mistake):
    nb = assembled(mistake.assignment, with_mistake(mistake))
    error = visible_error(nb, mistake.test)
    assert error is not None, f"{mistake.name}: the visible check of {mistake.test} passes"
    assert mistake.says in str(error), f"{mistake.name}: the visible check says {error}"
    if mistake.decisive:
        problems = decisive_problems(mistake.assignment, nb, mistake.test)
        assert problems, f"{mistake.name}: the grader's check of {mistake.test} passes"
        assert mistake.judged in " ".join(problems), f"{mistake.name}: the grader says {problems}"
    for later in mistake.unaffected:
        assert visible_error(nb, later) is None, f"{mistake.name}: the visible check of {later} fails too"
        assert decisive_problems(mistake.assignment, nb, later) == [], f"{mistake.name} costs {later}'s points"


@pytest.mark.parametrize("slip", SLIPS, ids=[m.name for m in SLIPS])
def test_a_dtype_slip_is_shown_and_costs_half_the_points(slip):
    nb = assembled(slip.assignment, with_mistake(slip))
    printed, error = visible_output(nb, slip.test)
    assert error is None, f"{slip.name}: the visible check fails on a dtype slip: {error}"
    assert "DTYPE SLIP, costs half of this test's points" in printed and slip.says in printed, printed
    problems = decisive_problems(slip.assignment, nb, slip.test)
    assert problems and all(p.startswith(FLOAT64_SLIP) for p in problems), problems
    assert credit(3.0, problems) == 1.5


@pytest.mark.parametrize("name", sorted({m.assignment for m in CORPUS}))
def test_the_solution_passes_the_same_checks(name):
    """The control: without the mistakes, every test the corpus looks at passes."""
    nb = assembled(name, solved(name))
    for gid in sorted({g for m in CORPUS if m.assignment == name for g in (m.test, *m.unaffected)}):
        assert visible_error(nb, gid) is None, gid
        assert decisive_problems(name, nb, gid) == [], gid


def test_graded_end_to_end_a_forward_mistake_costs_only_the_forwards_points(tmp_path, warm_course):
    from autograder import grading
    from notebook_tools import write_submission
    mistake = next(m for m in CORPUS if m.name == "batch variance with ddof=1")
    write_submission(tmp_path / "subs", "ada", mistake.assignment, json.dumps(with_mistake(mistake)))
    warm_course(mistake.assignment, tmp_path / "course")
    results = grading.autograde(SOLUTIONS / mistake.assignment, tmp_path / "subs", tmp_path / "course",
                                progress=False, feedback=False, log=lambda *_: None)
    tests = {k.split(":")[1]: v for k, v in results["ada"]["tests"].items()}
    assert tests["test-bn-forward"][0] == 0
    for gid in ("test-bn-backward", "test-bn-backward-alt", "test-dropout"):
        assert tests[gid][0] == tests[gid][1] > 0, (gid, results["ada"]["checks"])
