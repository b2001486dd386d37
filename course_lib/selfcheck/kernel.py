"""The checks, run in the learner's kernel on the functions defined there: each test's visible
cell again, then its decisive check on the grader's fresh inputs (see the package docstring)."""
import contextlib
import importlib
import inspect
import io
import json
import sys
import time
from pathlib import Path

from .data import (SelfCheckError, assignments, bound_names, exercise_tests, grade_id, load, names_not_run,
                   plain_python, source)
from .report import NOT_WRITTEN, Report, Result

MARK = "@@course-lib-selfcheck@@"  # the CLI finds the report after it in the kernel's output
WITHHELD = " is withheld while this test is graded"


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
    swaps, stubs, raws, found = [], {}, {}, []
    # every module first, then the stubs: a module imported while a stub is in place (numba_kernels
    # does `from .numpy_kernels import affine_forward`) would keep the stub for the whole session
    for entry in entries:
        path, _, qual = entry.partition(":")
        try:
            owner = module = importlib.import_module("course_lib." + path.removesuffix(".py").replace("/", "."))
            for part in qual.split(".")[:-1]:
                owner = getattr(owner, part)
        except Exception:  # noqa: BLE001 - a backend that cannot load here (cuda) has nothing to withhold
            continue
        found.append((module, owner, qual))
    try:
        for module, owner, qual in found:
            attr = qual.split(".")[-1]
            raw = vars(owner).get(attr)
            if raw is None:
                continue
            stub = _stub(f"{module.__name__}.{qual}", raw)
            stubs[id(raw)] = stub
            raws[id(stub)] = raw
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
        # and wherever a module imported meanwhile (by the code inside) took a stub
        for holder in [m for n, m in list(sys.modules.items()) if n.split(".")[0] == "course_lib" and m is not None]:
            for attr, value in list(vars(holder).items()):
                if id(value) in raws:
                    setattr(holder, attr, raws[id(value)])


@contextlib.contextmanager
def _forwards_blocked(ns, names):
    """While inside, the learner's forward passes named raise, as in the grader's run of a backward
    pass's test (autograder.harness.block); their code is put back after."""
    from autograder.harness import block
    restore = block(ns, names)
    try:
        yield
    finally:
        restore()


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
        return (f"{text}: run the answer cell that defines it (if that cell raised an error, a SyntaxError say, "
                f"fix that first); the grader runs only the released cells with your answer cells put in, so "
                f"it must be defined in an answer cell, not in a cell you added")
    return f"{type(error).__name__}: {text}"[:300]



# only keeps a loop from hanging the check, on whatever machine the learner has
VISIBLE_SECONDS = 120


def run_visible(test, ns, seconds=VISIBLE_SECONDS):
    """(passed, why, note): the visible test cell run in ns, judged by nbgrader's rule as
    autograder.submission.cell_passed words it; ns is left as it was."""
    try:
        with _namespace_kept(ns), _captured() as (_, err), _time_limit(seconds):
            try:
                exec(compile(plain_python(test["visible"]), f"<test cell {test['grade_id']}>", "exec"), ns)
            except Exception as error:  # noqa: BLE001 - the cell's own failure is what is reported
                from autograder.submission import EVALUE_CHARS  # as the grader cuts a test cell's message
                return False, f"raised {type(error).__name__[:60]}: {str(error)[:EVALUE_CHARS]}", _note(error)
            stderr = err.getvalue()
    except _OutOfTime:
        return False, "ran longer than the cell time limit and was interrupted", \
            f"the test cell ran longer than {seconds:g} s here"
    if stderr:
        from autograder.submission import stderr_summary
        return False, f"wrote to stderr: {stderr_summary(stderr)}", ""
    return True, "", ""



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


def run_decisive(assignment, test, ns, rng, seconds=DECISIVE_SECONDS, hide=(), keep=(), added=()):
    """(problems, note): test's hidden code run in ns on the grader's fresh inputs, judged by the
    grader's own comparison (autograder.cases.decided). hide: names that are not there in the
    grader's run (names_not_run), taken out of ns meanwhile unless they hold a function or a class
    (which the learner's own answer cells may define under the same name) or are in keep (names
    the learner's answer cells bind)."""
    import numpy as np

    import course_lib.checks
    from autograder.cases import CASES, NOT_PLAIN, decided
    from autograder.edition import with_helpers

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
        with _namespace_kept(ns), _withheld(with_helpers(case.withhold), ns), _forwards_blocked(ns, case.blocks), \
                _captured(), _time_limit(seconds):
            for name in set(hide) - set(keep):
                if name in ns and not (inspect.isfunction(ns[name]) or inspect.isclass(ns[name])):
                    del ns[name]
            for name in set(added) - set(keep):  # cells the learner added: the grader never runs them
                ns.pop(name, None)
            try:
                exec(compile(test["hidden"], f"<hidden test {gid}>", "exec"), ns)
            except Exception as error:  # noqa: BLE001 - the learner's failure is the result
                from autograder.harness import blocked_call
                reply["error"], note = blocked_call(error) or _builtin_name(error), _note(error)
                if isinstance(error, NameError) and getattr(error, "name", None) in set(added) - set(keep):
                    note = (f"{error} in the grader's run: it is made in a cell you added, which the grader does "
                            f"not run; move it into the answer cell (or into the function that needs it)")
                elif isinstance(error, NameError) and getattr(error, "name", None) in set(hide) - set(keep):
                    note = (f"{error} in the grader's run: it runs only the setup cells and the answer cells above "
                            f"this test, and {error.name} is made elsewhere in the notebook; make what your "
                            f"function needs inside it or in its answer cell")
    except _OutOfTime:  # the grader's words (autograder.worker.decide)
        from autograder.cases import out_of_time
        return [out_of_time(case)], \
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


def check_namespace(assignment, ns, visible=None, seed=None, only=None, keep=(), added=()):
    """The Report of assignment's tests on the functions in ns. visible: {grade_id: [passed, why]}
    from a run of the notebook (the CLI); None runs each visible test code in ns instead. seed:
    None, fresh inputs; a number, each test's inputs made by np.random.default_rng(seed). only:
    the grade ids to check (default: all). keep: names the learner's answer cells bind; added:
    names only cells the learner added bind (see run_decisive)."""
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
                                      hide=names_not_run(data, gid), keep=keep, added=added)
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
    data = load(name)
    saved = _saved_notebook(ns)
    keep, added = _answer_and_added_names(data, saved) if saved else ((), ())
    report = check_namespace(name, ns, None, seed, keep=keep, added=added)
    if saved is None:
        report.notes.append("(Checked in this kernel, with whatever your other cells defined: `course-lib check "
                            "NOTEBOOK` in a terminal runs the notebook as the grader does.)")
    _open_walkthroughs(report)
    return report


def _saved_notebook(ns):
    """The notebook this kernel runs, as last saved, if the front end says which it is."""
    for key in ("__session__", "__vsc_ipynb_file__"):
        named = ns.get(key)
        if not named:
            continue
        for path in (Path(str(named)), Path.cwd() / Path(str(named)).name):
            try:
                nb = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(nb, dict) and isinstance(nb.get("cells"), list):
                    return nb
            except (OSError, ValueError):
                continue
    return None


def _answer_and_added_names(data, nb):
    """(names the learner's answer cells bind, names only the cells they added bind): an added
    cell is a code cell whose id and grade id are none of the release's."""
    ids = {c.get("id") for c in data["release"]["cells"]}
    gids = {grade_id(c) for c in data["release"]["cells"]} - {None}
    answers, added = set(), set()
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        names = bound_names(source(cell))
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if meta.get("solution"):
            answers |= names
        elif cell.get("id") not in ids and grade_id(cell) not in gids:
            added |= names
    return answers, added - answers


def _open_walkthroughs(report, folder=None):
    """A test passed in full opens the walkthroughs of its exercises (course_lib.guide) without
    the confirmation step: the learner has earned the worked solution. folder: the notebook's,
    where the pass is recorded (default: the kernel's working folder)."""
    from .. import guide
    passed = {r.grade_id: r.passed for r in report.results}
    for exercise, tests in exercise_tests(load(report.assignment)).items():
        if all(passed.get(gid, False) for gid in tests):
            guide.mark_passed(report.assignment, exercise, folder)


