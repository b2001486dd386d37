"""The decisive checks: for every autograded test cell, fresh inputs made by the grader, what the
decisive run must not be able to reach, and the comparison of the student's answers with the
reference, in the grader's own process.

A test cell's hidden part is `checks.answer(grade_id, compute)`: the decisive run
(autograder.harness) calls compute on these inputs, in a jail whose course_lib lacks everything
listed in the case's `withhold` (autograder.edition): the implementations that would compute the
same answers, in every backend and every wrapper that does not fail without them.

CASES[assignment][grade_id] = Case(make, check, withhold, float32): make(rng) -> inputs (arrays and
numbers); check(inputs, outputs) -> list of problems, empty when the answers are right; float32:
compute also runs on float32 copies of the inputs, and its answers must be float32 and right.
"""
import builtins
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from course_lib import checks, features, layers, netvis, optim, sizes, use_backend
from course_lib.diagnosis import describe
from course_lib.classifiers import KNearestNeighbor, cross_validate_k, linear, predict_labels
from course_lib.classifiers.nets import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet

from .harness import FORWARD_CALLED  # the harness's word for a blocked forward's call

@dataclass(frozen=True)
class Case:
    make: Callable  # make(rng) -> one set of inputs
    check: Callable
    withhold: tuple = ()
    float32: bool = False
    # cover(rng) -> a set of inputs for every branch of the function (batch norm on and off, one
    # group or many): the grader judges all of them, so code written for one branch and a library
    # fallback for the rest in the notebook cannot pass on a lucky draw
    cover: Callable = None
    # the learner's own functions that raise in this test: a backward pass's forward passes (see
    # autograder.harness.block)
    blocks: tuple = ()
    # scale(rng) -> one large set of inputs, judged with the others: a backward pass costs about
    # what its forward costs, a numerical gradient of the forward (through whatever name) one
    # forward per input value, hours on hundreds of thousands of values, so it runs out of time
    scale: Callable = None

    def configurations(self, rng, scale=True):
        """Every set of inputs of one draw; scale=False leaves the large one out (tests that
        check hundreds of draws)."""
        drawn = self.cover(rng) if self.cover else [self.make(rng)]
        return drawn + ([self.scale(rng)] if scale and self.scale else [])

    def check_float32(self, inputs, outputs64, outputs32):
        """Answers on float32 copies of the inputs: right to float32 precision, and float32
        themselves (a dtype slip alone is a FLOAT64_SLIP problem: see credit)."""
        if len(outputs32) != len(outputs64):
            return [f"for float32 inputs: expected {len(outputs64)} answers, got {len(outputs32)}"]
        problems = []
        if isinstance(self.check, matches):
            tol = self.check.tol32 or 1e-4
            problems = [f"for float32 inputs: {p}" for p in self.check(as_float32(inputs), outputs32, tol=tol)]
        names = self.check.names_for(inputs) if isinstance(self.check, matches) else getattr(self.check, "names", [])
        wrong = [names[i] if i < len(names) else f"answer {i}" for i, value in enumerate(outputs32)
                 if value.dtype.kind == "f" and value.dtype != np.float32]
        if wrong:
            problems.append(f"{FLOAT64_SLIP}, but {', '.join(wrong)} came out as float64 (np.zeros(shape) "
                            f"without dtype=, float64 random numbers, or a boolean mask divided by a number)")
        return problems


# A right answer in the wrong dtype keeps this share of its test's points (the notebooks say so).
FLOAT64_SLIP, SLIP_SHARE = checks.DTYPE_SLIP, 0.5


def credit(points, problems):
    """A test's score from its problems: all points without any, SLIP_SHARE of them when the
    only problem is a dtype slip, else none."""
    if not problems:
        return points
    return points * SLIP_SHARE if all(_unplaced(p).startswith(FLOAT64_SLIP) for p in problems) else 0.0


def _unplaced(problem):
    """A problem without the "with stride=2, pad=1: " that decided puts before the problems of a
    case with several configurations."""
    return problem.split(": ", 1)[1] if problem.startswith("with ") and ": " in problem else problem


NOT_PLAIN = "not plain arrays"  # the harness's word for answers it could not hand over
OUT_OF_TIME = "no answers: the grader's run of this test ran out of time"
SCALE_NOTE = ("; its inputs include a large one (hundreds of thousands of values), on which a backward pass "
              "or a loss's gradient takes about as long as its forward, and a numerical gradient hours")
FORWARD_RULE = ("a backward pass is graded on its own, from its cache, and in its test the forward passes "
                "you wrote raise if called (a numerical gradient of your forward checks a backward pass; "
                "it is not one)")
BUILTIN_ERRORS = {name for name, value in vars(builtins).items()
                  if isinstance(value, type) and issubclass(value, BaseException)}


def decided(case, configurations, reply, arrays):
    """The problems of a decisive run (empty: the answers match): reply["error"], the run's own
    word for what went wrong (a built-in exception's name, NOT_PLAIN, or None), and arrays, the
    answers as plain arrays named c{j}.out{i} (c{j}.f32_out{i} on float32 copies of the inputs).
    The grader (autograder.worker) and the learner's self-check (course_lib.selfcheck) both
    judge with it, so they give the same messages."""
    if reply.get("error") == NOT_PLAIN:
        return ["returned answers that are not plain arrays of numbers"]
    blocked = str(reply.get("error") or "")
    if blocked.startswith(FORWARD_CALLED):
        name = blocked[len(FORWARD_CALLED):]
        return [f"called {name if name in case.blocks else 'a forward pass'} on the grader's inputs: "
                f"{FORWARD_RULE}"]
    if reply.get("error"):  # the student's process wrote it: only a built-in name is passed on
        error = reply["error"] if reply["error"] in BUILTIN_ERRORS else "an exception"
        return [f"raised {error} on the grader's inputs"]
    problems = []
    for j, config in enumerate(configurations):
        answers, answers32 = (_numbered(arrays, f"c{j}.{prefix}out") for prefix in ("", "f32_"))
        found = case.check(config, answers) if answers else ["no answers on the grader's inputs were recorded"]
        if case.float32 and not found:
            found = case.check_float32(config, answers, answers32)
        where = f"with {_settings(config)}: " if len(configurations) > 1 else ""
        problems += [_capped(where + p) for p in found]
    return problems


def out_of_time(case, cells=False):
    """The message of a decisive run stopped for time; cells: before its inputs were sent."""
    if cells:
        return (f"{OUT_OF_TIME} while it ran the cells above the test again (each gets the notebook's time "
                f"limit per cell; a cell that ignores the interrupt stops the run)")
    return OUT_OF_TIME + (SCALE_NOTE if case.scale else "")


def _numbered(arrays, prefix):
    """arrays[prefix + "0"], arrays[prefix + "1"], ... while they exist (in number order)."""
    found = []
    while f"{prefix}{len(found)}" in arrays:
        found.append(arrays[f"{prefix}{len(found)}"])
    return tuple(found)


def _settings(config):
    """A configuration's numbers, for telling configurations apart in a message."""
    return ", ".join(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in config.items() if isinstance(value, (int, float)))


def _capped(problem, limit=1000):
    """A message keeps to a readable length, whatever the answers made of it."""
    return problem if len(problem) <= limit else problem[:limit] + " [...]"


def as_float32(inputs):
    return {k: v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
            for k, v in inputs.items()}


def _close(name, got, want, tol, n=None, terms=None, atol=0.0):
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype.kind not in "fiub" or got.shape != want.shape:
        return [f"{name}: expected shape {want.shape}, got {got.dtype} of shape {got.shape}"]
    got = got.astype(np.float64)
    if not np.all(np.isfinite(got)):
        return [f"{name}: contains NaN or infinity (an overflow in exp, a log of 0, or the square root "
                f"of a negative number?)"]
    if np.max(np.abs(got - want), initial=0.0) <= atol:
        return []
    problem = describe(name, got, want, tol, n, terms)
    return [problem] if problem else []


class matches:
    """A check: the outputs equal reference(**inputs), output by output, within tol. examples:
    the input whose first dimension is the number of examples averaged over (named in messages
    when an answer is off by that factor)."""

    def __init__(self, reference, names, tol=1e-8, examples=None, terms=None, tol32=None, atol=0.0):
        self.reference, self.names, self.tol, self.examples = reference, names, tol, examples
        self.atol = atol  # answers this close are right whatever their scale (a gradient that is 0 but for rounding)
        self.tol32 = tol32  # for the float32 run, where it needs more than float32's 1e-4
        self.terms = terms  # terms(inputs) -> {answer name: {description: array}}, see diagnosis

    def expected(self, inputs):
        with use_backend("numpy"):
            expected = self.reference(**inputs)
        return expected if isinstance(expected, tuple) else (expected,)

    def names_for(self, inputs):
        """The answers' names: a list, or names(inputs) for answers that vary with the inputs (the
        gradients of a network of any depth)."""
        return self.names(inputs) if callable(self.names) else self.names

    def __call__(self, inputs, outputs, tol=None):
        expected, names = self.expected(inputs), self.names_for(inputs)
        if len(outputs) != len(expected):
            return [f"expected {len(expected)} answers ({', '.join(names)}), got {len(outputs)}"]
        tol = max(tol or 0, self.tol)
        n = len(inputs[self.examples]) if self.examples else None
        terms = self.terms(inputs) if self.terms else {}
        return [p for name, g, w in zip(names, outputs, expected)
                for p in _close(name, g, w, tol, n, terms.get(name), self.atol)]


def _normal(rng, *shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def _size(rng, low, high):
    return int(rng.integers(low, high + 1))


# ---------------------------------------------------------------- assignment 1
def _each(make, branches):
    """A cover (see Case): make(rng, branch) for every branch, from one generator."""
    return lambda rng: [make(rng, branch) for branch in branches]


def _distances(rng):
    d = _size(rng, 3, 12)
    X, X_train = 10 * rng.random((_size(rng, 2, 9), d)), 10 * rng.random((_size(rng, 2, 9), d))
    X_train[:2] = X[:2]  # identical rows: the expanded square can come out negative (clip at 0)
    return {"X": X, "X_train": X_train}


def _votes(rng):
    n_train = _size(rng, 10, 30)
    return {"dists": rng.integers(0, 5, size=(_size(rng, 5, 20), n_train)).astype(float),  # ties
            "y_train": rng.integers(0, 4, size=n_train), "k": _size(rng, 1, 8)}


def _cross_validation(rng):
    X = rng.standard_normal((60, 5))
    return {"X": X, "y": (X[:, 0] + 0.3 * rng.standard_normal(60) > 0).astype(np.int64),
            "k_choices": np.array([1, 4, 7]), "num_folds": 3}


def _fold_accuracies(X, y, k_choices, num_folds):
    result = cross_validate_k(X, y, list(k_choices), num_folds=num_folds)
    return tuple(np.asarray(result[int(k)], dtype=np.float64) for k in k_choices)


def _linear_loss(rng, size=None):
    """size: (d, c, n), for the large inputs."""
    d, c, n = size or (_size(rng, 3, 20), _size(rng, 2, 7), _size(rng, 5, 40))
    return {"W": _normal(rng, d, c, scale=0.1), "X": _normal(rng, n, d),
            "y": rng.integers(c, size=n), "reg": float(rng.uniform(0, 0.5))}


def _large_scores(rng, size=None):
    """Softmax inputs whose scores are all raised by 100 to 200 (a bias feature times a weight row
    of ones), as the notebook's visible check does: the probabilities are unchanged, but exp
    overflows in float32 unless the scores are shifted by their maximum first."""
    inputs = _linear_loss(rng, size)
    X, W = inputs["X"].copy(), inputs["W"].copy()
    X[:, -1], W[-1] = rng.uniform(100, 200), 1.0
    return dict(inputs, X=X, W=W)


def _clusters(rng):
    centres = 4.0 * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    y = rng.integers(4, size=200)
    X = np.hstack([centres[y] + 0.2 * rng.standard_normal((200, 3)), np.ones((200, 1))])
    return {"X": X.astype(np.float32), "y": y}


class trained:
    """A check of train(): minibatch SGD as the notebook specifies it (seeded generator, initial
    weights, batches drawn with rng.integers) gives the reference's weights and loss history, and
    predict() the reference's labels. A made-up loss curve or a shortcut to the weights fails."""

    names = ["W", "history", "predictions"]

    def __init__(self, classifier):
        self.classifier = classifier

    def expected(self, inputs):
        X, y = inputs["X"], inputs["y"]
        with use_backend("numpy"):
            model = self.classifier(seed=3)
            history = model.train(X, y, learning_rate=0.1, reg=1e-4, num_iters=300, batch_size=50)
        return model.W, np.array(history), np.argmax(X @ model.W, axis=1)

    def __call__(self, inputs, outputs):
        if len(outputs) != 3:
            return [f"expected the weights, the loss history and the predictions, got {len(outputs)} answers"]
        X = inputs["X"]
        reference_W, history, _ = self.expected(inputs)
        W, losses, predictions = outputs
        if W.shape != reference_W.shape:  # before any arithmetic with it: X @ W of any W is unbounded
            return [f"W: expected shape {reference_W.shape}, got {W.shape}"]
        if W.dtype != np.float32:
            return [f"W should be float32 for float32 data (the dtype of X), got {W.dtype}"]
        return (_close("W", W, reference_W, 1e-4) + _close("loss history", losses, history, 1e-4)
                + _close("predictions", predictions, np.argmax(X @ W, axis=1), 0))


# ---------------------------------------------------------------- assignment 2.1
def _affine(rng, size=None):
    """size: (n, a, b, m), for the large inputs."""
    n, a, b, m = size or (_size(rng, 1, 6) for _ in range(4))
    return {"x": _normal(rng, n, a, b), "w": _normal(rng, a * b, m), "b": _normal(rng, m),
            "dout": _normal(rng, n, m)}


def _affine_reference(x, w, b, dout):
    out, cache = layers.affine_forward(x, w, b)
    return (out, *layers.affine_backward(dout, cache))


def _relu(rng, size=None):
    x = _normal(rng, *(size or (_size(rng, 1, 8), _size(rng, 1, 8))))
    x.flat[0] = 0.0  # the kink: gradient 0 by convention
    return {"x": x, "dout": _normal(rng, *x.shape)}


def _relu_reference(x, dout):
    out, cache = layers.relu_forward(x)
    return out, layers.relu_backward(dout, cache)


def _two_layer(rng, size=None):
    """size: (d, h, c, n), for the large inputs."""
    d, h, c, n = size or (_size(rng, 2, 9) for _ in range(4))
    return {"W1": _normal(rng, d, h, scale=0.5), "b1": _normal(rng, h), "W2": _normal(rng, h, c, scale=0.5),
            "b2": _normal(rng, c), "X": _normal(rng, n, d), "y": rng.integers(c, size=n),
            "reg": float(rng.uniform(0, 0.5))}


def _two_layer_reference(W1, b1, W2, b2, X, y, reg):
    model = TwoLayerNet(W1.shape[0], W1.shape[1], W2.shape[1], reg=reg, dtype=np.float64)
    model.params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    loss, grads = model.loss(X, y)
    return (loss, grads["W1"], grads["b1"], grads["W2"], grads["b2"], model.loss(X))


# A network of any depth: its parameters are inputs named W1, b1, ..., gamma1, beta1, ...
FC_PARAM, FC_STATS = re.compile(r"(W|b|gamma|beta)[0-9]+"), ("running_mean", "running_var")


def _fc_net(rng, batchnorm, dims=None):
    dims = dims or [_size(rng, 3, 10)] + [_size(rng, 3, 9) for _ in range(_size(rng, 1, 3))] + [_size(rng, 2, 5)]
    params = {}
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:]), start=1):
        params[f"W{i}"], params[f"b{i}"] = _normal(rng, d_in, d_out, scale=0.5), _normal(rng, d_out, scale=0.1)
        if batchnorm and i < len(dims) - 1:
            params[f"gamma{i}"], params[f"beta{i}"] = 1 + _normal(rng, d_out, scale=0.2), _normal(rng, d_out, scale=0.2)
    return params, dims


def _fc_plain(rng, dims=None, n=None):
    """dims (the layers' sizes) and n (examples): for the large inputs."""
    params, dims = _fc_net(rng, batchnorm=False, dims=dims)
    n = n or _size(rng, 3, 8)
    return {**params, "X": _normal(rng, n, dims[0]), "y": rng.integers(dims[-1], size=n),
            "reg": float(rng.uniform(0, 0.5))}


def _fc_hooks(rng, branch=None, dims=None, n=None):
    """Batch norm, dropout, or both (keep: the probability of keeping a unit; 1 = no dropout);
    dims and n as _fc_plain's."""
    batchnorm, dropout = FC_HOOKS[_size(rng, 0, 2) if branch is None else branch]
    params, dims = _fc_net(rng, batchnorm, dims)
    n = n or _size(rng, 5, 9)
    return {**params, "X": _normal(rng, n, dims[0]), "y": rng.integers(dims[-1], size=n),
            "reg": float(rng.uniform(0, 0.5)), "batchnorm": batchnorm,
            "keep": float(rng.uniform(0.4, 0.9)) if dropout else 1.0, "dropout_seed": int(rng.integers(2 ** 31))}


FC_HOOKS = ((1, 0), (0, 1), (1, 1))  # (batch norm, dropout)


def _fc_names(inputs):
    return sorted(k for k in inputs if FC_PARAM.fullmatch(k))


def _fc_answer_names(inputs):
    layers_ = sum(k[0] == "W" for k in _fc_names(inputs))
    stats = ([f"bn_params[{i}]['{k}']" for i in range(layers_ - 1) for k in FC_STATS]
             if inputs.get("batchnorm") else [])
    return ["loss", *(f"d{k}" for k in _fc_names(inputs)), *stats, "scores in test mode"]


def _fc_reference(X, y, reg, batchnorm=0, keep=1.0, dropout_seed=0, **params):
    """The course's FullyConnectedNet on these parameters: loss, gradients (sorted by name), the
    running statistics after that training step, then the scores in test mode."""
    weights = sorted((k for k in params if k[0] == "W"), key=lambda k: int(k[1:]))
    model = FullyConnectedNet([params[w].shape[1] for w in weights[:-1]], input_dim=X.shape[1],
                              num_classes=params[weights[-1]].shape[1], dropout_keep_ratio=keep,
                              normalization="batchnorm" if batchnorm else None, reg=reg, dtype=np.float64,
                              dropout_seed=dropout_seed)
    model.params = dict(params)
    loss, grads = model.loss(X, y)
    stats = [bn[k] for bn in model.bn_params for k in FC_STATS] if batchnorm else []
    return (loss, *(grads[k] for k in sorted(params)), *stats, model.loss(X))


def _fc_init(rng, batchnorm=None):
    return {"hidden_dims": rng.integers(5, 41, _size(rng, 1, 4)), "input_dim": _size(rng, 10, 80),
            "num_classes": _size(rng, 2, 10), "weight_scale": float(10 ** rng.uniform(-3, -1)),
            "seed": int(rng.integers(2 ** 31)),
            "batchnorm": int(rng.integers(2)) if batchnorm is None else batchnorm}


def _fc_init_names(inputs):
    layers_ = len(inputs["hidden_dims"]) + 1
    names = [f"{k}{i}" for k in ("W", "b") for i in range(1, layers_ + 1)]
    return names + ([f"{k}{i}" for k in ("gamma", "beta") for i in range(1, layers_)] if inputs["batchnorm"] else [])


def _fc_made(inputs, seed, dtype):
    return FullyConnectedNet(inputs["hidden_dims"].tolist(), inputs["input_dim"], inputs["num_classes"],
                             normalization="batchnorm" if inputs["batchnorm"] else None,
                             weight_scale=inputs["weight_scale"], dtype=dtype, seed=seed).params


def _updates(rng):
    shape = (_size(rng, 1, 6), _size(rng, 1, 6))
    return {"w": _normal(rng, *shape), "grads": _normal(rng, 7, *shape),
            "learning_rate": float(10 ** rng.uniform(-3, -1))}


def _after_steps(rule):
    """The weights after one step per gradient in grads, each rule on its own."""
    def reference(w, grads, learning_rate):
        current, config = w, {"learning_rate": learning_rate}
        for g in grads:
            current, config = rule(current, g, config)
        return current
    return reference


# ---------------------------------------------------------------- assignment 2.2
def _batchnorm(rng):
    n, d = _size(rng, 2, 30), _size(rng, 1, 8)
    return {"x": 3 * _normal(rng, n, d) - 1, "gamma": _normal(rng, d), "beta": _normal(rng, d),
            "x2": 3 * _normal(rng, n, d) + 1, "momentum": float(rng.uniform(0.5, 0.95)),
            "eps": float(10 ** rng.uniform(-5, -2)), "dout": _normal(rng, n, d)}


def _bn_forward_reference(x, gamma, beta, x2, momentum, eps, dout):
    param = {"mode": "train", "momentum": momentum, "eps": eps}
    out, _ = layers.batchnorm_forward(x, gamma, beta, param)
    layers.batchnorm_forward(x2, gamma, beta, param)
    param["mode"] = "test"
    return out, param["running_mean"], param["running_var"], layers.batchnorm_forward(x2, gamma, beta, param)[0]


def _batchnorm_cache(rng, size=None):
    """A backward pass's inputs: the forward cache as the notebook fixes it, (x, xhat, mean, var,
    gamma, eps), computed here, so that the backward is judged on its own. At least 3 examples: with
    2, xhat is +-sqrt(var / (var + eps)) and dx is a difference of nearly equal terms that float32
    cannot resolve, whoever computes it. size: (n, d), for the large inputs."""
    n, d = size or (_size(rng, 3, 30), _size(rng, 1, 8))
    x, gamma, eps = 3 * _normal(rng, n, d) - 1, _normal(rng, d), float(10 ** rng.uniform(-5, -2))
    mean, var = x.mean(axis=0), x.var(axis=0)
    return {"x": x, "xhat": (x - mean) / np.sqrt(var + eps), "mean": mean, "var": var, "gamma": gamma,
            "eps": eps, "dout": _normal(rng, n, d)}


def _bn_backward_reference(x, xhat, mean, var, gamma, eps, dout):
    _, cache = layers.batchnorm_forward(x, gamma, np.zeros_like(gamma), {"mode": "train", "eps": eps})
    return layers.batchnorm_backward(dout, cache)


def _layernorm(rng, size=None):
    n, d = size or (_size(rng, 1, 8), _size(rng, 3, 12))
    return {"x": 3 * _normal(rng, n, d) + rng.uniform(-2, 2), "gamma": _normal(rng, d), "beta": _normal(rng, d),
            "eps": float(10 ** rng.uniform(-5, -2))}


def _ln_forward_reference(x, gamma, beta, eps):
    return layers.layernorm_forward(x, gamma, beta, {"eps": eps})[0]


def _layernorm_cache(rng, size=None):
    """A backward pass's inputs, the cache as the notebook fixes it (x, xhat, mean, var, gamma,
    eps) computed here; at least 3 features per row (see _batchnorm_cache)."""
    inputs = _layernorm(rng, size)
    x, eps = inputs["x"], inputs["eps"]
    mean, var = x.mean(axis=1), x.var(axis=1)
    return {"x": x, "xhat": (x - mean[:, None]) / np.sqrt(var[:, None] + eps), "mean": mean, "var": var,
            "gamma": inputs["gamma"], "eps": eps, "dout": _normal(rng, *x.shape)}


def _ln_backward_reference(x, xhat, mean, var, gamma, eps, dout):
    _, cache = layers.layernorm_forward(x, gamma, np.zeros_like(gamma), {"eps": eps})
    return layers.layernorm_backward(dout, cache)


def _maps(rng, at_least=3):
    """Conv activations (N, C, H, W) whose channels hold at least `at_least` values each."""
    while True:
        shape = (_size(rng, 1, 4), _size(rng, 1, 6), _size(rng, 1, 5), _size(rng, 1, 5))
        if shape[0] * shape[2] * shape[3] >= at_least:
            return 3 * _normal(rng, *shape) + rng.uniform(-2, 2)


def _spatial_bn(rng):
    x = _maps(rng)
    c = x.shape[1]
    return {"x": x, "gamma": _normal(rng, c), "beta": _normal(rng, c), "x2": 3 * _normal(rng, *x.shape) + 1,
            "momentum": float(rng.uniform(0.5, 0.95)), "eps": float(10 ** rng.uniform(-5, -2))}


def _sbn_forward_reference(x, gamma, beta, x2, momentum, eps):
    param = {"mode": "train", "momentum": momentum, "eps": eps}
    out, _ = layers.spatial_batchnorm_forward(x, gamma, beta, param)
    layers.spatial_batchnorm_forward(x2, gamma, beta, param)
    param["mode"] = "test"
    return (out, param["running_mean"], param["running_var"],
            layers.spatial_batchnorm_forward(x2, gamma, beta, param)[0])


def _spatial_bn_cache(rng, shape=None):
    x = 3 * _normal(rng, *shape) + rng.uniform(-2, 2) if shape else _maps(rng)
    eps = float(10 ** rng.uniform(-5, -2))
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    return {"x": x, "xhat": (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + eps), "mean": mean,
            "var": var, "gamma": _normal(rng, x.shape[1]), "eps": eps, "dout": _normal(rng, *x.shape)}


def _sbn_backward_reference(x, xhat, mean, var, gamma, eps, dout):
    _, cache = layers.spatial_batchnorm_forward(x, gamma, np.zeros_like(gamma), {"mode": "train", "eps": eps})
    return layers.spatial_batchnorm_backward(dout, cache)


def _groupnorm(rng, kind=None, size=None):
    """Maps whose groups hold at least 3 values each, G a divisor of C: one group (layer norm),
    one channel per group (instance norm), or in between (kind 0, 1, 2; None: any). size: (n,
    groups, channels per group, h, w), for the large inputs."""
    while not size:
        g, per = _size(rng, 1, 4), _size(rng, 1, 3)
        g, per = {0: (1, max(per, 2)), 1: (max(g, 2), 1), 2: (max(g, 2), max(per, 2))}.get(kind, (g, per))
        n, h, w = _size(rng, 1, 4), _size(rng, 1, 4), _size(rng, 1, 4)
        if per * h * w >= 3:
            size = (n, g, per, h, w)
    n, g, per, h, w = size
    x = 3 * _normal(rng, n, g * per, h, w) + rng.uniform(-2, 2)
    return {"x": x, "gamma": _normal(rng, g * per), "beta": _normal(rng, g * per), "G": g,
            "eps": float(10 ** rng.uniform(-5, -2))}


def _gn_forward_reference(x, gamma, beta, G, eps):
    return layers.spatial_groupnorm_forward(x, gamma, beta, G, {"eps": eps})[0]


def _groupnorm_cache(rng, kind=None, size=None):
    inputs = _groupnorm(rng, kind, size)
    x, G, eps = inputs["x"], inputs["G"], inputs["eps"]
    grouped = x.reshape(x.shape[0], G, -1)
    mean, var = grouped.mean(axis=2), grouped.var(axis=2)
    xhat = ((grouped - mean[..., None]) / np.sqrt(var[..., None] + eps)).reshape(x.shape)
    return {"x": x, "xhat": xhat, "mean": mean, "var": var, "gamma": inputs["gamma"], "G": G, "eps": eps,
            "dout": _normal(rng, *x.shape)}


def _gn_backward_reference(x, xhat, mean, var, gamma, G, eps, dout):
    _, cache = layers.spatial_groupnorm_forward(x, gamma, np.zeros_like(gamma), G, {"eps": eps})
    return layers.spatial_groupnorm_backward(dout, cache)


def _dropout(rng):
    x = _normal(rng, _size(rng, 1, 20), _size(rng, 1, 20))
    return {"x": x, "p": float(rng.uniform(0.1, 0.9)), "seed": int(rng.integers(2 ** 31)),
            "dout": _normal(rng, *x.shape)}


def _dropout_reference(x, p, seed, dout):
    out, cache = layers.dropout_forward(x, {"mode": "train", "p": p, "seed": seed})
    return out, layers.dropout_backward(dout, cache), layers.dropout_forward(x, {"mode": "test", "p": p})[0]


# ---------------------------------------------------------------- assignment 2.3
CONV_GEOMETRIES = ((1, 0, 3), (2, 1, 3), (3, 2, 3), (2, 1, 2), (3, 0, 2))  # (stride, pad, filter size)


def _conv(rng, geometry=None, size=None):
    """size: (n, c, k, steps), for the large inputs."""
    stride, pad, f = CONV_GEOMETRIES[_size(rng, 0, 4) if geometry is None else geometry]
    h = f - 2 * pad + stride * (size[3] if size else _size(rng, 1, 3))  # a size the stride tiles exactly
    w_ = h + stride
    n, c, k = size[:3] if size else (_size(rng, 1, 3) for _ in range(3))
    x = _normal(rng, n, c, h, w_)
    w, b = _normal(rng, k, c, f, f), _normal(rng, k)
    out_shape = (n, k, (h - f + 2 * pad) // stride + 1, (w_ - f + 2 * pad) // stride + 1)
    return {"x": x, "w": w, "b": b, "stride": stride, "pad": pad, "dout": _normal(rng, *out_shape)}


def _conv_forward_reference(x, w, b, stride, pad, dout):
    return layers.conv_forward(x, w, b, {"stride": stride, "pad": pad})[0]


def _conv_backward_reference(x, w, b, stride, pad, dout):
    _, cache = layers.conv_forward(x, w, b, {"stride": stride, "pad": pad})
    return layers.conv_backward(dout, cache)


def _geometries(rng, n=16):
    """Conv or pool geometries along one axis: most possible, some with a stride that does not tile
    the padded input, one with a filter wider than it."""
    F, S, P = rng.integers(1, 8, n), rng.integers(1, 5, n), rng.integers(0, 4, n)
    W = F - 2 * P + S * rng.integers(0, 12, n)
    W = np.where(W < 1, W + S * ((S - W) // S), W)  # the smallest possible size above 0
    offset = rng.integers(1, 4, n) % S  # 0 where it would keep the tiling
    W = np.where(rng.random(n) < 0.4, W + offset, W)
    S[0], W[0] = 3, W[0] + 3 - (W[0] - F[0] + 2 * P[0]) % 3 + 1  # one stride that cannot tile, surely
    F[1] = W[1] + 2 * P[1] + _size(rng, 1, 3)  # one filter wider than the padded input
    F[2] = W[2] + 2 * P[2]  # one exactly as wide: it fits once (output 1)
    order = rng.permutation(n)
    return {"W": W[order], "F": F[order], "S": S[order], "P": P[order]}


def _sizes_reference(W, F, S, P):
    answers = []
    for geometry in zip(W.tolist(), F.tolist(), S.tolist(), P.tolist()):
        try:
            answers.append(float(sizes.conv_output_size(*geometry)))
        except sizes.InvalidGeometryError:
            answers.append(-1.0)
    return np.array(answers)


def _layers(rng, n=8):
    return {"out_size": rng.integers(1, 230, n), "F": rng.integers(1, 12, n), "C": rng.integers(1, 513, n),
            "K": rng.integers(1, 513, n)}


def _counts_reference(out_size, F, C, K):
    """The library's counts for a layer whose output is out_size (stride 1, no padding on an input
    of out_size + F - 1)."""
    layers = [sizes.conv_arithmetic(o + f - 1, f, 1, 0, filters=k, channels=c)
              for o, f, c, k in zip(out_size.tolist(), F.tolist(), C.tolist(), K.tolist())]
    return np.array([(layer["params"], layer["activations"]) for layer in layers], dtype=float)


def _stacks(rng, n=8):
    return {"layers": rng.integers(1, 20, n), "F": rng.integers(1, 12, n)}


def _field_reference(layers, F):
    return np.array([sizes.receptive_field(n, f) for n, f in zip(layers.tolist(), F.tolist())], dtype=float)


def _layer_spec(row):
    """The library's spec of one encoded layer row [kind (0 conv, 1 pool, 2 fc), its numbers, zeros]."""
    return (sizes.Conv(*row[1:5]) if row[0] == 0 else sizes.Pool(*row[1:3]) if row[0] == 1
            else sizes.FC(row[1]))


def _networks(rng):
    """A random network of possible layers (a few convs and pools, then FC layers) on an H x W x D
    input, encoded for the grader as rows [kind (0 conv, 1 pool, 2 fc), its numbers, zeros]."""
    h, w, d = _size(rng, 6, 40), _size(rng, 6, 40), _size(rng, 1, 8)
    layers, shape, wanted = [], (h, w, d), _size(rng, 2, 6)
    for _ in range(100):  # a 1x1 conv fits anything: this ends long before
        if len(layers) == wanted:
            break
        kind = int(rng.integers(0, 2))
        row = ([0, _size(rng, 1, 16), *rng.choice([(1, 1, 0), (3, 1, 1), (3, 2, 1), (5, 1, 2), (3, 2, 0), (2, 2, 0)])]
               if kind == 0 else [1, *rng.choice([(2, 2), (3, 2), (3, 1)]), 0, 0])
        try:
            shape, _, _ = _layer_spec(row).apply(*shape)
        except sizes.InvalidGeometryError:
            continue  # this layer does not fit here: draw another
        layers.append(row)
    layers += [[2, _size(rng, 1, 20), 0, 0, 0] for _ in range(_size(rng, 0, 2))]
    return {"input_shape": np.array([h, w, d]), "layers": np.array(layers, dtype=np.int64)}


def _network_reference(input_shape, layers):
    specs = [sizes.Input(*input_shape.tolist())] + [_layer_spec(row) for row in layers.tolist()]
    return np.array([(*row.shape, row.activations, row.params) for row in sizes.network_table(specs)[1:]],
                    dtype=float)


POOL_GEOMETRIES = ((2, 2, 2), (3, 3, 2), (2, 3, 1))  # (pool height, pool width, stride)


def _pool(rng, geometry=None, size=None):
    """size: (n, c, steps), for the large inputs."""
    ph, pw, stride = POOL_GEOMETRIES[_size(rng, 0, 2) if geometry is None else geometry]
    if size:
        n, c, steps = size
        h, w = ph + stride * steps, pw + stride * steps
    else:
        h, w = ph + stride * _size(rng, 0, 3), pw + stride * _size(rng, 0, 3)
        n, c = _size(rng, 1, 3), _size(rng, 1, 3)
    x = _normal(rng, n, c, h, w)
    if stride == 1:
        x = np.round(x)  # ties, in overlapping windows
    out_shape = x.shape[:2] + ((h - ph) // stride + 1, (w - pw) // stride + 1)
    return {"x": x, "pool_height": ph, "pool_width": pw, "stride": stride, "dout": _normal(rng, *out_shape)}


def _pool_forward_reference(x, pool_height, pool_width, stride, dout):
    return layers.max_pool_forward(x, {"pool_height": pool_height, "pool_width": pool_width, "stride": stride})[0]


def _pool_backward_reference(x, pool_height, pool_width, stride, dout):
    cache = layers.max_pool_forward(x, {"pool_height": pool_height, "pool_width": pool_width, "stride": stride})[1]
    return layers.max_pool_backward(dout, cache)


def _convnet_params(rng, channels, side, classes, scale=0.3, layers=None):
    """layers: (filters, filter size, hidden units), for the large inputs."""
    filters, filter_size, hidden = layers or (_size(rng, 1, 4), 2 * _size(rng, 1, 2) + 1, _size(rng, 2, 8))
    net = ThreeLayerConvNet((channels, side, side), num_filters=filters,
                            filter_size=filter_size, hidden_dim=hidden,
                            num_classes=classes, weight_scale=scale, dtype=np.float64,
                            seed=int(rng.integers(2 ** 31)))
    return {name: value + (0.1 * rng.standard_normal(value.shape) if name.startswith("b") else 0)
            for name, value in net.params.items()}


CONVNET_PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")


def _convnet_init(rng):
    """A ConvNet's sizes (inputs often not square), a weight scale and a seed."""
    return {"C": _size(rng, 1, 4), "H": 2 * _size(rng, 2, 8), "W": 2 * _size(rng, 2, 8),
            "num_filters": _size(rng, 2, 8), "filter_size": 2 * _size(rng, 0, 3) + 1,
            "hidden_dim": _size(rng, 8, 40), "num_classes": _size(rng, 2, 10),
            "weight_scale": float(10 ** rng.uniform(-3, -1)), "seed": int(rng.integers(2 ** 31))}


class initialised:
    """A check of an initialisation, given how many arrays each of four calls returned (float32
    with the seed, with it again, with the next seed; float64 with the seed), then each call's
    arrays named by names_of(inputs), in that order: no more arrays than those, the shapes of
    make(inputs, seed, dtype) (the reference's parameters), the dtype asked for, zero biases and
    shifts, unit scales, weights of mean 0 and standard deviation weight_scale that repeat no
    other's numbers (checks.initialisation_problems), and the seed obeyed. The reference draws
    its own numbers; only their shapes are compared."""

    CALLS = ((0, np.float32), (0, np.float32), (1, np.float32), (0, np.float64))  # (seed offset, dtype)

    def __init__(self, names_of, make):
        self.names_of, self.make = names_of, make

    def expected(self, inputs):
        names = self.names_of(inputs)
        made = [self.make(inputs, inputs["seed"] + offset, dtype) for offset, dtype in self.CALLS]
        return (np.array([len(params) for params in made]), *(params[name] for params in made for name in names))

    def __call__(self, inputs, outputs):
        expected, names = self.expected(inputs), self.names_of(inputs)
        if len(outputs) != len(expected):
            return [f"expected {len(expected)} answers (the parameters of four calls), got {len(outputs)}"]
        (counts, *outputs), (_, *expected), k = outputs, expected, len(names)
        calls, counts = len(self.CALLS), np.asarray(counts)
        if counts.shape != (calls,) or counts.dtype.kind not in "iu":
            return [f"the first answer should be how many arrays each of the {calls} calls returned, "
                    f"{calls} integers, but it is {counts.dtype} of shape {counts.shape}"]
        if counts.tolist() != [k] * calls:
            return [f"the parameters should be {k} arrays ({', '.join(names)}), but there were "
                    f"{counts.tolist()} in the four calls"]
        first, again, other, double = (dict(zip(names, outputs[i:i + k])) for i in range(0, 4 * k, k))
        shapes = {name: value.shape for name, value in zip(names, expected)}
        scale = inputs["weight_scale"]
        doubled = checks.initialisation_problems(double, shapes, scale, np.float64)
        # every rule, always: a dtype slip (half the points) must not hide an ignored seed
        return (checks.initialisation_problems(first, shapes, scale, np.float32)
                + [f"with dtype=float64: {p}" for p in doubled] + checks.seeding_problems(first, again, other))


def _convnet_made(inputs, seed, dtype):
    return ThreeLayerConvNet((inputs["C"], inputs["H"], inputs["W"]), inputs["num_filters"], inputs["filter_size"],
                             inputs["hidden_dim"], inputs["num_classes"], inputs["weight_scale"], dtype=dtype,
                             seed=seed).params


def _convnet(rng, size=None):
    """size: (c, side, k, n, (filters, filter size, hidden units)), for the large inputs."""
    c, side, k, n, layers = size or (_size(rng, 1, 3), 2 * _size(rng, 2, 4), _size(rng, 2, 6), 3, None)
    # the large net's weights are small, so that its scores are too: softmax not saturated
    return {**_convnet_params(rng, c, side, k, 0.05 if layers else 0.3, layers), "X": _normal(rng, n, c, side, side),
            "y": rng.integers(k, size=n), "reg": float(rng.uniform(0, 0.5))}


def _convnet_reference(X, y, reg, **params):
    model = ThreeLayerConvNet.from_params(params, reg=reg)
    loss, grads = model.loss(X, y)
    return (loss, *(grads[name] for name in sorted(grads)), model.loss(X))


# ---------------------------------------------------------------- assignment 2.4
def _saliency(rng):
    c, k, n = _size(rng, 1, 3), _size(rng, 2, 5), _size(rng, 1, 4)
    return {**_convnet_params(rng, c, 6, k, scale=0.5), "X": _normal(rng, n, c, 6, 6),
            "y": rng.integers(k, size=n)}


# Measured: about a third of the draws can be fooled within 400 steps, so 100 draws all fail
# with probability below 1e-17; more would be a broken generator, not bad luck.
FOOLING_DRAWS = 100


def _fooling(rng):
    """An image, a target class and a network for which the reference walk reaches the target."""
    for _ in range(FOOLING_DRAWS):
        inputs = {**_convnet_params(rng, 1, 6, 4, scale=0.5), "image": _normal(rng, 1, 1, 6, 6)}
        model = ThreeLayerConvNet.from_params(_net(inputs))
        label = int(np.argmax(model.loss(inputs["image"])))
        target = int((label + rng.integers(1, 4)) % 4)
        fooled, steps = netvis.fooling_image(model, inputs["image"], target, 0.05, 400)
        if steps < 400:
            return {**inputs, "target": target}
    raise RuntimeError(f"test-fooling: none of {FOOLING_DRAWS} random networks could be fooled in "
                       "400 steps; the input generator (autograder/cases.py, _fooling) is broken")


def _net(inputs):
    return {k: v for k, v in inputs.items() if k[0] in "Wb" and k[1:].isdigit()}


class fooled:
    """Classified as the target, and no further from the image than the reference's walk (which
    stops as soon as it fools) plus two steps."""

    names = ["fooling image"]

    @staticmethod
    def expected(inputs):
        with use_backend("numpy"):
            model = ThreeLayerConvNet.from_params(_net(inputs))
            return (netvis.fooling_image(model, inputs["image"], inputs["target"], 0.05, 400)[0],)

    def __call__(self, inputs, outputs):
        if len(outputs) != 1:
            return [f"expected one fooling image, got {len(outputs)} answers"]
        image, (reference,) = inputs["image"], self.expected(inputs)
        if np.shape(outputs[0]) != image.shape:  # before converting it: an answer may be 32 MB of int8
            return [f"the fooling image should be finite with shape {image.shape}, got {np.shape(outputs[0])}"]
        fooling = np.asarray(outputs[0], dtype=np.float64)
        if not np.all(np.isfinite(fooling)):
            return [f"the fooling image should be finite with shape {image.shape}, got {fooling.shape}"]
        with use_backend("numpy"):
            predicted = int(np.argmax(ThreeLayerConvNet.from_params(_net(inputs)).loss(fooling)))
        problems = [] if predicted == inputs["target"] else [
            f"the network classifies the fooling image as {predicted}, not the target {inputs['target']}"]
        if np.linalg.norm(fooling - image) > np.linalg.norm(reference - image) + 0.1:
            problems.append("the fooling image moved further from the original than needed")
        return problems


def _class_step(rng):
    return {**_convnet_params(rng, 2, 6, 4, scale=0.5), "image": _normal(rng, 1, 2, 6, 6),
            "target": int(rng.integers(4)), "l2_reg": float(rng.uniform(0, 0.1)),
            "learning_rate": float(rng.uniform(0.01, 1))}


# ---------------------------------------------------------------- assignment 1.4
def _grey_images(rng):
    """Grey images with flat bands and axis-aligned steps (orientations on bin borders), a cell
    that fits, any number of bins."""
    n, h, w = _size(rng, 1, 4), _size(rng, 3, 13), _size(rng, 3, 13)
    gray = rng.random((n, h, w))
    gray[0, : h // 2] = 0.5
    gray[-1, :, w // 2:] += 1.0
    return {"gray": gray, "cell": _size(rng, 1, min(h, w)), "bins": _size(rng, 1, 12)}


def _grey_images_every_bins(rng):
    """One orientation bin, and several (where the orientations matter)."""
    return [dict(_grey_images(rng), bins=1), dict(_grey_images(rng), bins=_size(rng, 2, 12))]


def _colour_images(rng, c=None):
    """Colour images with values in [0, high] (grey pixels and a pure primary among them), or grey
    images with values beyond the range; bins, and the range."""
    c = [1, 3][_size(rng, 0, 1)] if c is None else c
    n, h, w = _size(rng, 1, 4), _size(rng, 2, 8), _size(rng, 2, 8)
    low, high = [(0.0, 1.0), (0.0, 255.0), (-1.0, 2.0)][_size(rng, 0, 2 if c == 1 else 1)]
    if c == 3:
        images = high * rng.random((n, c, h, w))
        images[0, :, 0, 0] = images[0, 0, 0, 0]  # a grey pixel
        images[-1, :, -1, -1] = (high, 0.0, 0.0)  # a pure red one
    else:
        images = low + (high - low) * (1.4 * rng.random((n, c, h, w)) - 0.2)
    return {"images": images, "bins": _size(rng, 1, 12), "low": low, "high": high}


def _colour_and_grey(rng):
    """Hue histograms of colour images and intensity ones of grey images, with several bins."""
    return [dict(_colour_images(rng, c), bins=_size(rng, 2, 12)) for c in (3, 1)]


# ---------------------------------------------------------------- what each decisive run lacks
KNN, LINEAR, NETS = "classifiers/knn.py", "classifiers/linear.py", "classifiers/nets.py"
NP, NB, LAYERS = "kernels/numpy_kernels.py", "kernels/numba_kernels.py", "layers.py"


def _in(path, *names):
    return tuple(f"{path}:{name}" for name in names)


CONV = (_in(LAYERS, "conv_forward", "conv_backward") + _in(NP, "conv_forward", "conv_backward")
        + _in(NB, "conv_forward", "_conv_images", "conv_backward", "_conv_grad_images"))
# the conv net's loss: what 06's network test grades, and (with a 1x1 convolution of x as (N, D, 2, 2)
# images) a fully connected net of 2 or 3 layers, what 04's network tests grade
CONVNET = _in(NETS, "ThreeLayerConvNet.loss", "ThreeLayerConvNet._forward", "ThreeLayerConvNet._backward")
POOL = (_in(LAYERS, "max_pool_forward", "max_pool_backward") + _in(NP, "max_pool_forward", "max_pool_backward")
        + _in(NB, "max_pool_forward", "max_pool_backward", "_max_pool", "_max_pool_grad"))

WITHHOLD = {
    # _explain: its message holds the output size
    "sizes": _in("sizes.py", "conv_output_size", "_explain", "conv_arithmetic", "receptive_field", "network_table"),
    # the output sizes stay: the test passes the course's conv_output_size to the student's walk
    "network": _in("sizes.py", "network_table", "totals", "summarize", "conv_arithmetic", "Conv.apply", "Pool.apply",
                   "FC.apply", "Inception.apply"),
    "distances": _in(KNN, "KNearestNeighbor.compute_distances_two_loops", "KNearestNeighbor.compute_distances_one_loop",
                     "KNearestNeighbor.compute_distances_no_loops") + _in(NP, "pairwise_distances")
    + _in(NB, "pairwise_distances", "_distances_from_gram", "_squared_norms"),
    "svm": _in(LINEAR, "svm_loss_naive", "svm_loss_vectorized") + _in(NP, "svm_loss") + _in(NB, "svm_loss", "_svm_rows"),
    "softmax": _in(LINEAR, "softmax_loss_naive", "softmax_loss_vectorized") + _in(NP, "softmax_loss")
    + _in(NB, "softmax_loss", "_softmax_rows"),
    # the training loop, and its twins: the linear panel's loop and the Solver's step
    "sgd": _in(LINEAR, "LinearClassifier.train") + _in("widgets/linear.py", "train_linear")
    + _in("solver.py", "Solver._step"),
    # a 1x1 convolution of x as (N, D, 1, 1) is an affine layer; a 2x1 max pool over [0; x] a ReLU
    "affine": _in(NP, "affine_forward", "affine_backward") + CONV,
    "relu": _in(NP, "relu_forward", "relu_backward") + _in(NB, "relu_forward", "relu_backward", "_relu", "_relu_grad")
    + POOL,
    # the conv net's loss and score gradient go too (a student-style attack scored 04 with them)
    "two-layer": _in(NETS, "TwoLayerNet.loss", "FullyConnectedNet.loss") + CONVNET
    + _in(NETS, "ThreeLayerConvNet.score_gradient"),
    "fc-init": _in(NETS, "TwoLayerNet.__init__", "FullyConnectedNet.__init__"),
    "updates": _in("optim.py", "sgd_momentum", "nesterov_momentum", "rmsprop", "adam"),
    # batch norm: the forward differentiated numerically is a backward; both go
    # spatial batch norm is batch norm, and batch norm is layer norm of the transpose
    "batchnorm": _in(LAYERS, "batchnorm_forward", "batchnorm_backward", "spatial_batchnorm_forward",
                     "spatial_batchnorm_backward", "layernorm_forward", "layernorm_backward",
                     "spatial_groupnorm_forward", "spatial_groupnorm_backward")
    + _in(NP, "batchnorm_forward", "batchnorm_inference", "batchnorm_backward", "channel_batchnorm_forward",
          "channel_batchnorm_backward", "channel_batchnorm_inference", "groupnorm_forward", "groupnorm_backward")
    + _in(NB, "batchnorm_forward", "_batchnorm", "batchnorm_backward", "_batchnorm_grad", "channel_batchnorm_forward",
          "_channel_batchnorm", "channel_batchnorm_backward", "_channel_batchnorm_dx", "groupnorm_forward",
          "_groupnorm", "groupnorm_backward", "_groupnorm_dx"),
    "dropout": _in(LAYERS, "dropout_forward", "dropout_backward") + _in(NP, "dropout_forward", "dropout_backward")
    + _in(NB, "dropout_forward", "dropout_backward", "_dropout"),
    # each direction of a linear map computes the other (a backward pass with a one-hot dout is
    # a receptive field): a conv test lacks both, as the pool test does
    "conv": CONV,
    "pool": POOL,
    "convnet-init": _in(NETS, "ThreeLayerConvNet.__init__"),
    "convnet": CONVNET,
    "hog": _in("features.py", "hog_features", "hog_features_numpy", "image_gradients", "_hog", "_hog_numba",
               "extract_features"),
    "colour": _in("features.py", "colour_histograms", "colour_histograms_numpy", "_histograms", "extract_features"),
    # a class-visualisation step without its L2 term is a fooling step, and the other way round
    "ascent": _in("netvis.py", "fooling_image", "class_visualization_step", "class_visualization"),
}


def _regularisation(inputs):
    return {"dW": {"the regularisation gradient 2 * reg * W": 2 * inputs["reg"] * inputs["W"]}}


def _scaled(make, **size):
    """Case.scale: make's inputs at a size given."""
    return lambda rng: make(rng, **size)


# The backward passes' large inputs (Case.scale). A numerical gradient costs a forward per value,
# or, perturbing at once values that share no output, one per value of the largest set that does:
# a column of batch norm (20,000 rows), a row of layer norm (20,000 features), a channel of
# spatial batch norm (16 x 96 x 96) and a group of group norm (8 x 64 x 64), each forward on up to
# a million values. A convolution's and a pool's windows are small: there the inputs are large
# (36,000 values; 280,000) but such a colouring needs only tens of forwards.
BN_LARGE, LN_LARGE = _scaled(_batchnorm_cache, size=(20_000, 50)), _scaled(_layernorm_cache, size=(50, 20_000))
SBN_LARGE, GN_LARGE = _scaled(_spatial_bn_cache, shape=(16, 4, 96, 96)), _scaled(_groupnorm_cache, size=(4, 2, 8, 64, 64))
CONV_LARGE, POOL_LARGE = _scaled(_conv, geometry=0, size=(4, 8, 8, 30)), _scaled(_pool, geometry=0, size=(8, 8, 32))
# 04's: an affine layer's rows share no output, nor do its weights' columns, so such a colouring
# needs two forwards per input feature for dx and two per row of w for dw: 295,000 forwards of the
# large inputs' 73,728 features, about 10 minutes on 2 cores, float64 alone (the plain numerical
# gradient: 5 million). Its size is what the reply allows (dx and dw, float64 and float32: 28 MB
# of DECISIVE_REPLY_BYTES' 32). A network's loss is one number, which every parameter changes: two
# forwards per parameter (about 280,000 of them). ReLU works value by value: two forwards of all
# values at once give its gradient, so its large inputs stop only the plain numerical gradient (a
# million forwards).
AFFINE_LARGE, RELU_LARGE = _scaled(_affine, size=(16, 256, 288, 16)), _scaled(_relu, size=(500, 1000))
TWO_LAYER_LARGE = _scaled(_two_layer, size=(1024, 256, 10, 64))
FC_LARGE = _scaled(_fc_plain, dims=[1024, 256, 64, 10], n=64)
FC_HOOKS_LARGE = _scaled(_fc_hooks, branch=2, dims=[1024, 256, 64, 10], n=64)
# 02's and 03's losses and 06's network: one number, which every weight changes, so a numerical
# gradient takes two forwards per weight: 307,300 weights of a linear classifier of 100 classes on
# CIFAR-sized rows, 264,000 parameters of a conv net on 8 images of 3 x 32 x 32. The naive loss's
# loops run 200 x 100 times in a second; its numerical gradient, hours.
LINEAR_LARGE = (3073, 100, 200)
CONVNET_LARGE = _scaled(_convnet, size=(3, 32, 10, 8, (16, 5, 64)))

# the forward passes the learner writes in 05 and 06: their backward passes' tests block them
NORM_FORWARDS = ("batchnorm_forward", "layernorm_forward", "spatial_batchnorm_forward", "spatial_groupnorm_forward")
CONV_FORWARDS = ("conv_forward_naive", "max_pool_forward_naive")


def _linear_cases(naive, vectorized, classifier, withheld, make=_linear_loss):
    def check(loss):
        return matches(loss, ["loss", "dW"], examples="X", terms=_regularisation)
    large = _scaled(make, size=LINEAR_LARGE)
    return {"test-naive": Case(make, check(naive), withheld, float32=True, scale=large),
            "test-vectorized": Case(make, check(vectorized), withheld, float32=True, scale=large),
            "test-train": Case(_clusters, trained(classifier), WITHHOLD["sgd"])}


def _distance_case():
    # Expected: the exact differences. tol: the square root turns the expanded form's rounding into
    # about sqrt(eps) |x| for identical rows (1e-7 of the largest distance in float64, 1e-3 in float32)
    return Case(_distances, matches(_exact_distances, ["dists"], tol=1e-6, tol32=2e-3), WITHHOLD["distances"],
                float32=True)


def _exact_distances(X, X_train):
    return KNearestNeighbor().train(X_train, np.zeros(len(X_train), np.int64)).compute_distances_one_loop(X)


CASES = {
    "01_knn": {
        "test-two-loops": _distance_case(), "test-one-loop": _distance_case(),
        "test-no-loops": _distance_case(),
        "test-predict": Case(_votes, matches(lambda dists, y_train, k: predict_labels(dists, y_train, k),
                                             ["labels"], tol=0), _in(KNN, "predict_labels")),
        "test-cross-validate": Case(_cross_validation, matches(_fold_accuracies, ["k=1", "k=4", "k=7"], 1e-12),
                                    _in(KNN, "cross_validate_k")),
    },
    "02_svm": _linear_cases(linear.svm_loss_naive, linear.svm_loss_vectorized, linear.LinearSVM, WITHHOLD["svm"]),
    "03_softmax": _linear_cases(linear.softmax_loss_naive, linear.softmax_loss_vectorized, linear.Softmax,
                                WITHHOLD["softmax"], make=_large_scores),
    "04_fc_nets": {
        "test-affine": Case(_affine, matches(_affine_reference, ["out", "dx", "dw", "db"]), WITHHOLD["affine"],
                            float32=True, scale=AFFINE_LARGE),
        "test-relu": Case(_relu, matches(_relu_reference, ["out", "dx"], tol=0), WITHHOLD["relu"], float32=True,
                          scale=RELU_LARGE),
        "test-two-layer": Case(_two_layer, matches(_two_layer_reference,
                                                   ["loss", "dW1", "db1", "dW2", "db2", "scores"], examples="X"),
                               WITHHOLD["two-layer"], scale=TWO_LAYER_LARGE),
        "test-fc-init": Case(_fc_init, initialised(_fc_init_names, _fc_made), WITHHOLD["fc-init"],
                             cover=_each(_fc_init, (0, 1))),
        "test-fc-loss": Case(_fc_plain, matches(_fc_reference, _fc_answer_names, examples="X"), WITHHOLD["two-layer"],
                             scale=FC_LARGE),
        # atol: a bias just before batch norm has gradient 0, which rounding makes about 1e-17
        "test-fc-hooks": Case(_fc_hooks, matches(_fc_reference, _fc_answer_names, examples="X", atol=1e-12),
                              WITHHOLD["two-layer"], cover=_each(_fc_hooks, range(len(FC_HOOKS))), scale=FC_HOOKS_LARGE),
        # each rule on its own (the others are withheld too: Adam with beta1 = 0 is nearly RMSProp)
        "test-momentum": Case(_updates, matches(_after_steps(optim.sgd_momentum), ["w"]), WITHHOLD["updates"],
                              float32=True),
        "test-rmsprop": Case(_updates, matches(_after_steps(optim.rmsprop), ["w"]), WITHHOLD["updates"], float32=True),
        "test-adam": Case(_updates, matches(_after_steps(optim.adam), ["w"]), WITHHOLD["updates"], float32=True),
    },
    "05_batchnorm_dropout": {
        "test-bn-forward": Case(_batchnorm, matches(_bn_forward_reference,
                                                    ["train output", "running mean", "running var", "test output"]),
                                WITHHOLD["batchnorm"], float32=True),
        "test-bn-backward": Case(_batchnorm_cache, matches(_bn_backward_reference, ["dx", "dgamma", "dbeta"], 1e-7,
                                                                  examples="x"), WITHHOLD["batchnorm"], float32=True,
                                 blocks=NORM_FORWARDS, scale=BN_LARGE),
        "test-bn-backward-alt": Case(_batchnorm_cache, matches(_bn_backward_reference, ["dx", "dgamma", "dbeta"],
                                                              1e-7, examples="x"), WITHHOLD["batchnorm"],
                                     blocks=NORM_FORWARDS, scale=BN_LARGE),
        "test-ln-forward": Case(_layernorm, matches(_ln_forward_reference, ["out"]), WITHHOLD["batchnorm"], float32=True),
        "test-ln-backward": Case(_layernorm_cache, matches(_ln_backward_reference, ["dx", "dgamma", "dbeta"], 1e-7),
                                 WITHHOLD["batchnorm"], float32=True, blocks=NORM_FORWARDS, scale=LN_LARGE),
        "test-sbn-forward": Case(_spatial_bn, matches(_sbn_forward_reference, ["train output", "running mean",
                                                                            "running var", "test output"]),
                                 WITHHOLD["batchnorm"], float32=True),
        "test-sbn-backward": Case(_spatial_bn_cache, matches(_sbn_backward_reference, ["dx", "dgamma", "dbeta"], 1e-7),
                                  WITHHOLD["batchnorm"], float32=True, blocks=NORM_FORWARDS, scale=SBN_LARGE),
        "test-gn-forward": Case(_groupnorm, matches(_gn_forward_reference, ["out"]), WITHHOLD["batchnorm"], float32=True,
                                cover=_each(_groupnorm, range(3))),
        "test-gn-backward": Case(_groupnorm_cache, matches(_gn_backward_reference, ["dx", "dgamma", "dbeta"], 1e-7),
                                 WITHHOLD["batchnorm"], float32=True, cover=_each(_groupnorm_cache, range(3)),
                                 blocks=NORM_FORWARDS, scale=GN_LARGE),
        "test-dropout": Case(_dropout, matches(_dropout_reference, ["train output", "dx", "test output"], 1e-12),
                             WITHHOLD["dropout"], float32=True),
    },
    "06_convnets": {
        "test-output-size": Case(_geometries, matches(_sizes_reference, ["output sizes (-1: refused)"], 1e-12),
                                 WITHHOLD["sizes"]),
        "test-layer-counts": Case(_layers, matches(_counts_reference, ["(parameters, activations)"], 1e-12),
                                  WITHHOLD["sizes"]),
        "test-receptive-field": Case(_stacks, matches(_field_reference, ["receptive fields"], 1e-12),
                                     WITHHOLD["sizes"]),
        "test-network-table": Case(_networks, matches(_network_reference, ["rows (H, W, D, activations, "
                                                                           "parameters)"], 1e-12),
                                   WITHHOLD["network"]),
        "test-conv-forward": Case(_conv, matches(_conv_forward_reference, ["out"]), WITHHOLD["conv"],
                                  float32=True, cover=_each(_conv, range(len(CONV_GEOMETRIES)))),
        "test-conv-backward": Case(_conv, matches(_conv_backward_reference, ["dx", "dw", "db"]),
                                   WITHHOLD["conv"], float32=True, cover=_each(_conv, range(len(CONV_GEOMETRIES))),
                                   blocks=CONV_FORWARDS, scale=CONV_LARGE),
        "test-pool-forward": Case(_pool, matches(_pool_forward_reference, ["out"], 1e-12), WITHHOLD["pool"],
                                  float32=True, cover=_each(_pool, range(len(POOL_GEOMETRIES)))),
        "test-pool-backward": Case(_pool, matches(_pool_backward_reference, ["dx"], 1e-12), WITHHOLD["pool"],
                                   float32=True, cover=_each(_pool, range(len(POOL_GEOMETRIES))), blocks=CONV_FORWARDS,
                                   scale=POOL_LARGE),
        "test-convnet-init": Case(_convnet_init, initialised(lambda inputs: CONVNET_PARAMS, _convnet_made),
                                   WITHHOLD["convnet-init"]),
        "test-convnet-loss": Case(_convnet, matches(_convnet_reference, ["loss", "dW1", "dW2", "dW3", "db1",
                                                                         "db2", "db3", "scores"], examples="X"),
                                  WITHHOLD["convnet"], scale=CONVNET_LARGE),
    },
    "08_image_features": {
        "test-hog": Case(_grey_images, matches(lambda gray, cell, bins: features.hog_features_numpy(gray, cell, bins),
                                               ["HOG features"]), WITHHOLD["hog"], cover=_grey_images_every_bins),
        "test-colour-histogram": Case(_colour_images, matches(
            lambda images, bins, low, high: features.colour_histograms_numpy(images, bins, low, high),
            ["histograms"], 1e-12), WITHHOLD["colour"], cover=_colour_and_grey),
    },
    "07_network_visualization": {
        "test-saliency": Case(_saliency, matches(
            lambda X, y, **p: netvis.saliency_maps(ThreeLayerConvNet.from_params(p), X, y), ["saliency"]),
            _in("netvis.py", "saliency_maps")),
        "test-fooling": Case(_fooling, fooled(), WITHHOLD["ascent"]),
        "test-class-visualization": Case(_class_step, matches(
            lambda image, target, l2_reg, learning_rate, **p: netvis.class_visualization_step(
                ThreeLayerConvNet.from_params(p), image, target, l2_reg, learning_rate), ["image"]),
            WITHHOLD["ascent"]),
    },
}
