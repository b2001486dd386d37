"""A learner's check of their own notebook against the grader's standard, per function, in seconds:
`course-lib check NOTEBOOK` (a fresh kernel runs the notebook, then the checks) and
`checks.self_check()` (in the learner's own kernel, on the functions defined there).

For every autograded test of the assignment, as the grader does (autograder.worker):
(a) the visible test cell must pass: no exception, nothing on stderr;
(b) the decisive check: the grader's own case (autograder.cases.CASES) makes fresh inputs, the
    test's hidden code (`checks.answer(grade_id, compute)`) has the learner's function compute the
    answers, and the grader's comparison (autograder.cases.decided) gives the problems, hence the
    same messages and points (autograder.cases.credit).
What this needs from the instructor's notebook is data, made by `course-grade release`: one
<assignment>.json beside this file (the released code cells; per test its grade id, points,
functions, hidden code and visible code; autograder.release.selfcheck_data).

Unlike the grader, nothing here is a security boundary: the learner checks their own work. What
the grader's edition withholds is replaced by stubs that raise while a check runs, as in the
grader, so an answer that calls the course's own implementation fails here too; each hidden code
runs in the learner's namespace, whose names are put back afterwards (a hidden code that rebinds
`affine_forward` to the course's layer judges the two-layer net on its own, as the grader does).

This is the one part of course_lib that uses autograder (installed with it): lazily, inside the
functions that check, never at import time.
"""
import contextlib
import importlib
import inspect
import io
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent
MARK = "@@course-lib-selfcheck@@"
NOT_WRITTEN = " is not written yet"
WITHHELD = " is withheld while this test is graded"


class SelfCheckError(ValueError):
    """What was asked cannot be checked (no such notebook, not one of the course's); the message
    says what to do."""


def assignments():
    """The names of the course's assignments (those with self-check data)."""
    return sorted(p.stem for p in DATA.glob("*.json"))


def load(name):
    path = DATA / f"{name}.json"
    if not path.is_file():
        raise SelfCheckError(f"no assignment {name!r}; the course's assignments are {', '.join(assignments())}")
    return json.loads(path.read_text(encoding="utf-8"))


def _grade_id(cell):
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    nbgrader = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None


def identify(nb, filename=None):
    """The assignment a notebook is, from its cells (their ids and graded cells' grade ids) and,
    to break a tie or when it has neither, its file name. SelfCheckError if it is none of them."""
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    ids = {c.get("id") for c in cells} - {None}
    gids = {_grade_id(c) for c in cells} - {None}
    stem = Path(filename).stem if filename else None
    code = "\n".join(_source(c) for c in cells if c.get("cell_type") == "code")
    best, score = None, (0, 0, False, 0)
    for name in assignments():
        data = load(name)
        functions = {f for t in data["tests"] for f in t["functions"]}
        mine = (len(ids & {c["id"] for c in data["cells"]}),
                len(gids & ({_grade_id(c) for c in data["cells"]} - {None})),
                stem == name,  # 02_svm and 03_softmax share their grade ids: then the name, then
                sum(f"def {f}(" in code for f in functions))  # the functions defined tell them apart
        if mine > score:
            best, score = name, mine
    if best is None or score[:3] == (0, 0, False):
        raise SelfCheckError(f"{filename or 'this notebook'} is not one of the course's notebooks (none of its "
                             f"graded cells is one of theirs); the course's assignments are {', '.join(assignments())}")
    return best


# ---------------------------------------------------------------- results and the report
@dataclass
class Result:
    grade_id: str
    functions: list
    points: float
    earned: float = 0.0
    problems: list = field(default_factory=list)
    note: str = ""  # for the learner only: what their own exception said (the grader keeps only its type)

    @property
    def passed(self):
        return not self.problems


@dataclass
class Report:
    assignment: str
    results: list
    seconds: dict = field(default_factory=dict)

    @property
    def earned(self):
        return sum(r.earned for r in self.results)

    @property
    def points(self):
        return sum(r.points for r in self.results)

    @property
    def passed(self):
        return all(r.passed for r in self.results)

    def first_failure(self):
        return next((r for r in self.results if not r.passed), None)

    def not_written(self):
        return [r for r in self.results if NOT_WRITTEN in r.note]

    def text(self, width=110):
        rows = [(r.grade_id, ", ".join(r.functions) or "-", f"{r.earned:g}/{r.points:g}",
                 "ok" if r.passed else ("not written yet; " if NOT_WRITTEN in r.note else "") + r.problems[0])
                for r in self.results]
        w0 = max([4] + [len(r[0]) for r in rows])
        w1 = max([8] + [len(r[1]) for r in rows])
        lines = [f"{self.assignment}: {self.earned:g} of {self.points:g} autograded points, on fresh inputs, "
                 f"as the grader checks them (written answers are graded by hand)", "",
                 f"{'test':<{w0}}  {'function':<{w1}}  points  first problem"]
        room = max(30, width - w0 - w1 - 12)
        for gid, fn, pts, first in rows:
            first = first if len(first) <= room else first[:room - 3] + "..."
            lines.append(f"{gid:<{w0}}  {fn:<{w1}}  {pts:<6}  {first}")
        lines.append("")
        failed = self.first_failure()
        if failed is None:
            lines.append("Everything passes.")
        else:
            what = ", ".join(failed.functions) or failed.grade_id
            lines.append(f"Fix {what} first ({failed.grade_id}, {failed.earned:g} of {failed.points:g} points): "
                         f"{failed.problems[0]}")
            lines += [f"  also: {p}" for p in failed.problems[1:3]]
            if failed.note:
                lines.append(f"  your code said: {failed.note}")
        unwritten = [", ".join(r.functions) or r.grade_id for r in self.not_written()]
        if unwritten:
            lines.append(f"Not written yet: {'; '.join(dict.fromkeys(unwritten))}.")
        if self.seconds:
            lines.append("(" + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()) + ")")
        return "\n".join(lines)

    __str__ = text

    def __repr__(self):
        return self.text()

    def _repr_pretty_(self, printer, cycle):  # IPython shows the text as it is
        printer.text(self.text())

    def as_dict(self):
        return {"assignment": self.assignment, "seconds": self.seconds,
                "results": [vars(r) for r in self.results]}

    @classmethod
    def from_dict(cls, data):
        return cls(data["assignment"], [Result(**r) for r in data["results"]], data.get("seconds", {}))


# ---------------------------------------------------------------- running code in the learner's namespace
@contextlib.contextmanager
def _namespace_kept(ns):
    """Whatever the code run inside binds or rebinds in ns is put back afterwards."""
    before = dict(ns)
    try:
        yield
    finally:
        for name in [n for n in ns if n not in before]:
            del ns[name]
        for name, value in before.items():
            if name not in ns or ns[name] is not value:
                ns[name] = value


@contextlib.contextmanager
def _captured():
    out, err = io.StringIO(), io.StringIO()
    figures = _figures()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            yield out, err
        finally:
            if "matplotlib.pyplot" in sys.modules:  # no figure of a check is left to show
                plt = sys.modules["matplotlib.pyplot"]
                for number in set(plt.get_fignums()) - figures:
                    plt.close(number)


def _figures():
    return set(sys.modules["matplotlib.pyplot"].get_fignums()) if "matplotlib.pyplot" in sys.modules else set()


def _stub(where, raw):
    message = f"{where}{WITHHELD}: the grader runs your own code"

    def withheld(*args, **kwargs):
        raise NotImplementedError(message)
    withheld.__name__ = where.rsplit(".", 1)[-1]
    return type(raw)(withheld) if isinstance(raw, (staticmethod, classmethod)) else withheld


@contextlib.contextmanager
def _withheld(entries, ns):
    """While inside, what the grader's edition withholds for this test ("path/in/course_lib.py:
    name", autograder.edition) raises as it does there, under every name course_lib's modules and
    ns give it."""
    swaps, stubs = [], {}
    try:
        for entry in entries:
            path, _, qual = entry.partition(":")
            try:
                owner = module = importlib.import_module("course_lib." + path.removesuffix(".py").replace("/", "."))
                for part in qual.split(".")[:-1]:
                    owner = getattr(owner, part)
            except Exception:  # noqa: BLE001 - a backend that cannot load here (cuda) has nothing to withhold
                continue
            attr = qual.split(".")[-1]
            raw = vars(owner).get(attr)
            if raw is None:
                continue
            stub = _stub(f"{module.__name__}.{qual}", raw)
            stubs[id(raw)] = stub
            swaps.append((owner, attr, raw))
            setattr(owner, attr, stub)
        holders = [m for n, m in list(sys.modules.items()) if n.split(".")[0] == "course_lib" and m is not None]
        for holder in holders:
            for attr, value in list(vars(holder).items()):
                if id(value) in stubs and not isinstance(value, (staticmethod, classmethod)):
                    swaps.append((holder, attr, value))
                    setattr(holder, attr, stubs[id(value)])
        for attr, value in list(ns.items()):
            if id(value) in stubs:
                ns[attr] = stubs[id(value)]  # _namespace_kept puts it back
        yield
    finally:
        for owner, attr, raw in reversed(swaps):
            setattr(owner, attr, raw)


class _OutOfTime(BaseException):
    """A check ran past its time (a BaseException: the learner's `except Exception` lets it by)."""


@contextlib.contextmanager
def _time_limit(seconds):
    """Stops the code inside after `seconds` where the platform allows (SIGALRM, main thread)."""
    import signal
    import threading
    if not seconds or not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise _OutOfTime()
    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _builtin_name(error):
    """As autograder.harness hands it over: a built-in exception's name, else a neutral word."""
    import builtins
    kind = type(error)
    return kind.__name__ if getattr(builtins, kind.__name__, None) is kind else "an exception"


def _note(error):
    """What the learner's own exception says, shortened; the grader passes on only its type."""
    text = str(error)
    if isinstance(error, NotImplementedError) and NOT_WRITTEN in text:
        return text.split(NOT_WRITTEN)[0] + NOT_WRITTEN + ": replace the `raise NotImplementedError` line with your code"
    if isinstance(error, NotImplementedError) and WITHHELD in text:
        return (f"your code calls the course's {text.split(WITHHELD)[0]}, which the grader withholds while it "
                f"grades this test: write it yourself")
    if isinstance(error, NameError):
        return (f"{text}: the grader runs only the released cells with your answer cells put in, so "
                f"define it in an answer cell (a cell you added does not run there)")
    return f"{type(error).__name__}: {text}"[:300]


def _code(text):
    """Cell code as plain Python (IPython's % magics turned into calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(text)
    except Exception:  # noqa: BLE001 - no IPython: the code as it is
        return text


# a visible test cell run again by self_check(): the grader allows 30 s a cell by default; this
# only keeps a loop from hanging the check, on whatever machine the learner has
VISIBLE_SECONDS = 120


def run_visible(test, ns, seconds=VISIBLE_SECONDS):
    """(passed, why, note): the visible test cell run in ns, judged by nbgrader's rule as
    autograder.submission.cell_passed words it; ns is left as it was."""
    try:
        with _namespace_kept(ns), _captured() as (_, err), _time_limit(seconds):
            try:
                exec(compile(_code(test["visible"]), f"<test cell {test['grade_id']}>", "exec"), ns)
            except Exception as error:  # noqa: BLE001 - the cell's own failure is what is reported
                return False, f"raised {type(error).__name__[:60]}: {str(error)[:200]}", _note(error)
            stderr = err.getvalue()
    except _OutOfTime:
        return False, "ran longer than the cell time limit and was interrupted", \
            f"the test cell ran longer than {seconds:g} s here"
    if stderr:
        return False, "wrote to stderr", stderr.strip().splitlines()[-1][:300] if stderr.strip() else ""
    return True, "", ""


def _bound_names(code):
    """The names a cell binds at its top level (definitions, imports, assignments, loop targets)."""
    import ast
    try:
        tree = ast.parse(_code(code))
    except SyntaxError:
        return set()
    names, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        todo.extend(ast.iter_child_nodes(node))
    return names


def names_not_run(data, grade_id):
    """Names that only cells the grader's decisive run of grade_id does not run bind: the
    release's other code cells (explanations, plots, test cells) and the answer cells below it.
    The grader's run has setup and answer cells above the test only (submission.phase_cells)."""
    above, elsewhere, below = set(), set(), False
    for cell in data["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        below = below or meta.get("grade_id") == grade_id
        runs = not below and (meta.get("solution") or (meta.get("locked") and not meta.get("grade")))
        (above if runs else elsewhere).update(_bound_names(cell["source"]))
    return elsewhere - above


def _inputs(config, float32):
    """The inputs as the grader's harness gives them to compute: through plain arrays (lists
    become arrays), 0-d arrays as Python numbers, float32 copies when asked."""
    import numpy as np
    values = {}
    for name, value in config.items():
        value = np.asarray(value, order="C")
        if float32 and value.dtype.kind == "f":
            value = value.astype("float32")
        values[name] = value.item() if value.ndim == 0 else value.copy()
    return values


# the grader's decisive run of one test gets the cell time limit (30 s by default) and 30 s more
DECISIVE_SECONDS = 60


def run_decisive(assignment, test, ns, rng, seconds=DECISIVE_SECONDS, hide=(), keep=()):
    """(problems, note): test's hidden code run in ns on the grader's fresh inputs, judged by the
    grader's own comparison (autograder.cases.decided). hide: names that are not there in the
    grader's run (names_not_run), taken out of ns meanwhile unless they hold a function or a class
    (which the learner's own answer cells may define under the same name) or are in keep (names
    the learner's answer cells bind)."""
    import numpy as np

    import course_lib.checks
    from autograder.cases import CASES, NOT_PLAIN, decided

    gid = test["grade_id"]
    case = CASES[assignment][gid]
    configurations = case.configurations(rng)
    answers, reply, note = {}, {"error": None}, ""

    def answer(grade_id, compute):  # autograder.harness's, in the learner's kernel
        if grade_id == gid and not answers:
            for j, config in enumerate(configurations):
                for prefix, float32 in (("", False), ("f32_", True))[:1 + bool(case.float32)]:
                    result = compute(**_inputs(config, float32))
                    for i, value in enumerate(result if isinstance(result, tuple) else (result,)):
                        answers[f"c{j}.{prefix}out{i}"] = value

    kept = course_lib.checks.answer
    course_lib.checks.answer = answer
    try:
        with _namespace_kept(ns), _withheld(case.withhold, ns), _captured(), _time_limit(seconds):
            for name in set(hide) - set(keep):
                if name in ns and not (inspect.isfunction(ns[name]) or inspect.isclass(ns[name])):
                    del ns[name]
            try:
                exec(compile(test["hidden"], f"<hidden test {gid}>", "exec"), ns)
            except Exception as error:  # noqa: BLE001 - the learner's failure is the result
                reply["error"], note = _builtin_name(error), _note(error)
                if isinstance(error, NameError) and getattr(error, "name", None) in set(hide) - set(keep):
                    note = (f"{error} in the grader's run: it runs only the setup cells and the answer cells above "
                            f"this test, and {error.name} is made elsewhere in the notebook; make what your "
                            f"function needs inside it or in its answer cell")
    except _OutOfTime:  # the grader's words (autograder.worker.decide)
        return ["no answers: the grader's run of this test ran out of time"], \
            f"it ran longer than {seconds:g} s on the grader's inputs (the grader allows about as long)"
    finally:
        course_lib.checks.answer = kept
    arrays = {}
    try:
        for name, value in answers.items():
            arrays[name] = np.asarray(value, order="C")
            if arrays[name].dtype.kind not in "biuf" or arrays[name].dtype.hasobject:
                raise TypeError(name)
    except Exception:  # noqa: BLE001 - as the harness: answers that are not plain arrays
        reply["error"], arrays = NOT_PLAIN, {}
    return decided(case, configurations, reply, arrays), note


def check_namespace(assignment, ns, visible=None, seed=None, only=None, keep=()):
    """The Report of assignment's tests on the functions in ns. visible: {grade_id: [passed, why]}
    from a run of the notebook (the CLI); None runs each visible test code in ns instead. seed:
    None, fresh inputs; a number, each test's inputs made by np.random.default_rng(seed). only:
    the grade ids to check (default: all). keep: names the learner's answer cells bind (see
    run_decisive)."""
    import numpy as np

    from autograder.cases import credit

    data = load(assignment)
    results, started = [], time.perf_counter()
    for test in data["tests"]:
        gid = test["grade_id"]
        if only is not None and gid not in only:
            continue
        result = Result(gid, test["functions"], test["points"])
        if visible is None:
            passed, why, result.note = run_visible(test, ns)
        else:
            passed, why = visible.get(gid, (False, "not run"))
        problems = [] if passed else [f"test cell {why}"]
        decisive, note = run_decisive(assignment, test, ns, np.random.default_rng(seed),
                                      hide=names_not_run(data, gid), keep=keep)
        result.problems = problems + decisive
        result.note = note or result.note
        result.earned = credit(test["points"], result.problems)
        results.append(result)
    return Report(assignment, results, {"checks": time.perf_counter() - started})


def kernel_report(assignment, visible=None, seed=None, keep=()):
    """check_namespace on the kernel's own namespace, as JSON text after MARK (for the CLI)."""
    from IPython import get_ipython
    report = check_namespace(assignment, get_ipython().user_ns, visible, seed, keep=keep)
    return MARK + json.dumps(report.as_dict())


def _session_assignment(ns):
    """The assignment JupyterLab's or VS Code's kernel says this notebook is, if it says."""
    for key in ("__session__", "__vsc_ipynb_file__"):
        stem = Path(str(ns.get(key, ""))).stem
        if stem in assignments():
            return stem
    return None


def guess_from_namespace(ns):
    """The assignment whose functions ns defines most of (the release's stubs count)."""
    counts = {}
    for name in assignments():
        functions = {f for t in load(name)["tests"] for f in t["functions"]}
        counts[name] = sum(1 for f in functions if callable(ns.get(f)) and
                           getattr(ns[f], "__module__", None) in ("__main__", None))
    best = max(counts, key=counts.get) if counts else None
    if best is None or counts[best] == 0 or list(counts.values()).count(counts[best]) > 1:
        return None
    return best


def self_check(assignment=None, seed=None):
    """Check the functions defined in this kernel against the grader's standard (see the module's
    docstring) and return the Report, which Jupyter shows as text. assignment: "01_knn", ...
    (default: this notebook's); seed: the same fresh inputs again."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None:
        raise SelfCheckError("self_check() checks the functions of a notebook's kernel: call it in a notebook cell, "
                             "or run `course-lib check NOTEBOOK.ipynb` in a terminal")
    ns = shell.user_ns
    name = assignment or _session_assignment(ns) or guess_from_namespace(ns)
    if name is None:
        raise SelfCheckError(f"which assignment is this? None of the course's functions is defined yet; run the "
                             f"notebook's cells first, or name it: checks.self_check(\"01_knn\") (one of "
                             f"{', '.join(assignments())})")
    load(name)
    report = check_namespace(name, ns, None, seed)
    _open_walkthroughs(report)
    return report


def _open_walkthroughs(report):
    """A test passed in full opens the walkthroughs of its exercises (course_lib.guide) without
    the confirmation step: the learner has earned the worked solution."""
    from .. import guide
    passed = {r.grade_id: r.passed for r in report.results}
    for exercise, tests in exercise_tests(load(report.assignment)).items():
        if all(passed.get(gid, False) for gid in tests):
            guide.mark_passed(report.assignment, exercise)


def exercise_tests(data):
    """{answer cell's grade id: the tests that judge it}: a test judges the answer cells named by
    the first test after them, and so do the tests that follow until the next answer cells
    (update-rules: test-momentum, test-rmsprop and test-adam)."""
    found, current = {}, []
    for test in data["tests"]:
        current = test["answers"] or current
        for exercise in current:
            found.setdefault(exercise, []).append(test["grade_id"])
    return found


# ---------------------------------------------------------------- the command line
_DATASET = re.compile(r"""^DATASET\s*=\s*(["'])(\w+)\1""", re.M)


def notebook_to_run(data, learner_nb):
    """What the grader runs (autograder.submission.assemble): the release's code cells in their
    order, the learner's answer cells put in by grade id, the test cells as released; cells the
    learner added are not run. DATASET is the learner's choice, as their notebook sets it."""
    from autograder.submission import assemble
    release = {"cells": [dict(c, outputs=[], execution_count=None) for c in data["cells"]],
               "metadata": {"kernelspec": data["kernelspec"]}, "nbformat": 4, "nbformat_minor": 5}
    nb = assemble(release, release, learner_nb)
    chosen = next((m for c in learner_nb.get("cells", []) if c.get("cell_type") == "code"
                   for m in [_DATASET.search(_source(c))] if m), None)
    for cell in nb["cells"]:
        if chosen and _DATASET.search(_source(cell)):
            cell["source"] = _DATASET.sub(f'DATASET = "{chosen.group(2)}"', _source(cell), count=1)
    return nb


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def read_notebook(path):
    path = Path(path)
    if not path.exists():
        raise SelfCheckError(f"{path}: no such file")
    if path.is_dir():
        raise SelfCheckError(f"{path} is a folder: give the notebook, e.g. {path / (path.name + '.ipynb')}")
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise SelfCheckError(f"{path} is not a notebook (not JSON: {err})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SelfCheckError(f"{path} is not a notebook (no list of cells)")
    return nb


def check_notebook(path, seed=None, timeout=600, kernel_name=None, log=None):
    """Run the notebook at path as the grader would, in a fresh kernel (cwd: its folder), then the
    checks in that kernel; returns the Report."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from autograder.submission import cell_passed

    path = Path(path)
    learner = read_notebook(path)
    assignment = identify(learner, path.name)
    data = load(assignment)
    nb = nbformat.from_dict(notebook_to_run(data, learner))
    visible_cells = {_grade_id(c): i for i, c in enumerate(nb.cells) if _grade_id(c) in
                     {t["grade_id"] for t in data["tests"]}}
    keep = sorted({n for c in nb.cells if (c.get("metadata", {}).get("nbgrader") or {}).get("solution")
                   for n in _bound_names(_source(c))})
    call = (f"from course_lib import selfcheck as __selfcheck\n"
            f"print(__selfcheck.kernel_report({assignment!r}, __selfcheck.json.loads({{visible!r}}), {seed!r}, "
            f"{keep!r}))")
    if log:
        log(f"{path.name} is {assignment}: running it in a fresh kernel (in {path.resolve().parent}), then its checks")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name or data["kernelspec"].get("name", "python3"),
                            allow_errors=True, resources={"metadata": {"path": str(path.resolve().parent)}})
    started, seconds, died = time.perf_counter(), {}, None
    import subprocess
    with client.setup_kernel(stderr=subprocess.DEVNULL):  # the kernel's own log lines are not the learner's
        try:
            # as NotebookClient.execute does: a reply to kernel_info before the first cell, so that
            # the iopub channel is connected (a cell's messages sent earlier are lost, and the
            # client then waits for the cell's end until the timeout)
            client.wait_for_reply(client.kc.kernel_info())
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            seconds["notebook"] = time.perf_counter() - started
            visible = {gid: cell_passed(nb.cells[i]) for gid, i in visible_cells.items()}
            check = nbformat.v4.new_code_cell(call.format(visible=json.dumps(visible)))
            nb.cells.append(check)
            client.execute_cell(check, len(nb.cells) - 1)
        except DeadKernelError as err:
            died = str(err) or "the kernel died"
    if died is None:
        printed = "".join(o.get("text", "") for o in check.get("outputs", []) if o.get("output_type") == "stream")
        errors = [o for o in check.get("outputs", []) if o.get("output_type") == "error"]
        if MARK not in printed:
            detail = f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else printed[-500:]
            raise RuntimeError(f"the checks could not run in the notebook's kernel: {detail}")
        report = Report.from_dict(json.loads(printed.split(MARK, 1)[1].strip().splitlines()[0]))
    else:
        visible = {gid: cell_passed(nb.cells[i]) for gid, i in visible_cells.items()}
        results = []
        for test in data["tests"]:
            passed, why = visible.get(test["grade_id"], (False, "not run"))
            problems = ([] if passed else [f"test cell {why}"]) + [f"not checked: {died}"]
            results.append(Result(test["grade_id"], test["functions"], test["points"], 0.0, problems))
        report = Report(assignment, results)
    report.seconds = {"notebook": seconds.get("notebook", time.perf_counter() - started), **report.seconds}
    return report


def main(argv=None):
    """course-lib check NOTEBOOK: exit 0 when every autograded test passes, 1 otherwise (a failing
    test, or a notebook that cannot be checked, with the reason on stderr)."""
    import argparse
    parser = argparse.ArgumentParser(prog="course-lib check", description=(
        "Check a course notebook as the grader would, per function, on fresh inputs: it runs in a fresh "
        "kernel (in its own folder), then every autograded test is checked. Exit 0 when all pass."))
    parser.add_argument("notebook", help="the notebook, e.g. 01_knn.ipynb")
    parser.add_argument("--seed", type=int, default=None, help="the same inputs again (default: fresh ones)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's, python3)")
    args = parser.parse_args(argv)
    try:
        report = check_notebook(args.notebook, args.seed, args.timeout, args.kernel,
                                log=lambda s: print(s, flush=True))
    except (SelfCheckError, RuntimeError) as err:
        print(f"course-lib check: {err}", file=sys.stderr)
        return 1
    print(report.text())
    return 0 if report.passed else 1
