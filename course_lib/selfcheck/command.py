"""`course-lib check NOTEBOOK`: the notebook run as the grader runs it, in a fresh kernel (in its
own folder), then the checks in that kernel (selfcheck.kernel); and `course-lib notebooks
FOLDER`: the course's student notebooks, for a learner who installed the package alone."""
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from .data import SelfCheckError, assignments, bound_names, grade_id, identify, load, release_text, source
from .kernel import MARK, _open_walkthroughs
from .report import Report, Result

_DATASET = re.compile(r"""^DATASET\s*=\s*(["'])(\w+)\1""", re.M)


def notebook_to_run(data, learner_nb):
    """What the grader runs (autograder.submission.assemble): the release's code cells in their
    order, the learner's answer cells put in by grade id, the test cells as released; cells the
    learner added are not run. DATASET is the learner's choice, as their notebook sets it."""
    from autograder.submission import assemble
    nb = assemble(data["release"], data["release"], learner_nb)
    chosen = next((m for c in learner_nb.get("cells", []) if c.get("cell_type") == "code"
                   for m in [_DATASET.search(source(c))] if m), None)
    for cell in nb["cells"]:
        if chosen and _DATASET.search(source(cell)):
            cell["source"] = _DATASET.sub(f'DATASET = "{chosen.group(2)}"', source(cell), count=1)
    return nb



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
    visible_cells = {grade_id(c): i for i, c in enumerate(nb.cells) if grade_id(c) in
                     {t["grade_id"] for t in data["tests"]}}
    keep = sorted({n for c in nb.cells if (c.get("metadata", {}).get("nbgrader") or {}).get("solution")
                   for n in bound_names(source(c))})
    call = (f"from course_lib.selfcheck import kernel as __selfcheck\n"
            f"print(__selfcheck.kernel_report({assignment!r}, __selfcheck.json.loads({{visible!r}}), {seed!r}, "
            f"{keep!r}))")
    if log:
        log(f"{path.name} is {assignment}: running it in a fresh kernel (in {path.resolve().parent}), then its checks")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name or data["kernelspec"].get("name", "python3"),
                            allow_errors=True, resources={"metadata": {"path": str(path.resolve().parent)}})
    started, seconds, died = time.perf_counter(), {}, None
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
    _blame_answer_cells(report, data, nb)
    _open_walkthroughs(report, path.resolve().parent)  # the notebook's guides open at once, from now on
    return report


def _blame_answer_cells(report, data, nb):
    """A failing test whose answer cell itself raised (a SyntaxError, say) gets that as its note:
    what follows from it (a NameError in the test cell) is not where to look."""
    raised = {grade_id(c): f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells
              if ((c.get("metadata") or {}).get("nbgrader") or {}).get("solution")
              for o in c.get("outputs", []) if o.get("output_type") == "error"}
    answers = {t["grade_id"]: t["answers"] for t in data["tests"]}
    for result in report.results:
        blamed = [f"your answer cell {g} raised {raised[g]}" for g in answers.get(result.grade_id, []) if g in raised]
        if blamed and not result.passed:
            result.note = ("; ".join(blamed)[:300] + ": fix that first, the functions it defines do not exist "
                           "until it runs")


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
    parser.add_argument("--verbose", "-v", action="store_true", help="every problem of every failing test, in full")
    args = parser.parse_args(argv)
    try:
        report = check_notebook(args.notebook, args.seed, args.timeout, args.kernel,
                                log=lambda s: print(s, flush=True))
    except (SelfCheckError, RuntimeError) as err:
        print(f"course-lib check: {err}", file=sys.stderr)
        return 1
    print(report.text(verbose=args.verbose))
    return 0 if report.passed else 1


def write_notebooks(folder, names=None, log=None):
    """Write the student notebooks of `names` (default: all) as folder/<name>/<name>.ipynb, the
    layout the notebooks expect (07 finds the ConvNet that 06 saves beside it). A notebook that is
    already there is the learner's work: it is kept, never overwritten. Returns the paths written."""
    names = list(names or assignments())
    unknown = [n for n in names if n not in assignments()]
    if unknown:
        raise SelfCheckError(f"no assignment {', '.join(map(repr, unknown))}; the course's assignments are "
                             f"{', '.join(assignments())}")
    written = []
    for name in names:
        path = Path(folder) / name / load(name)["notebook"]
        if path.exists():
            if log:
                log(f"kept {path}: it is there already (your work is never overwritten; to start afresh, "
                    f"rename it and run this again)")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(release_text(name), encoding="utf-8")
        partial.replace(path)  # whole or not at all
        written.append(path)
        if log:
            log(f"wrote {path}")
    return written


def notebooks_main(argv=None):
    """course-lib notebooks FOLDER [NAME ...]: the student notebooks, out of the installed package."""
    import argparse
    parser = argparse.ArgumentParser(prog="course-lib notebooks", description=(
        "Write the course's student notebooks into FOLDER, one folder per assignment, for working through "
        "them in JupyterLab. Notebooks already there are kept, never overwritten."))
    parser.add_argument("folder", help="where to put them, e.g. my-course")
    parser.add_argument("names", nargs="*", help=f"only these assignments (default: all of {', '.join(assignments())})")
    args = parser.parse_args(argv)
    try:
        write_notebooks(args.folder, args.names, log=print)
    except (SelfCheckError, OSError) as err:
        print(f"course-lib notebooks: {err}", file=sys.stderr)
        return 1
    print(f"\nNext: jupyter lab {args.folder}   (then, in a terminal: course-lib check "
          f"{Path(args.folder) / assignments()[0] / (assignments()[0] + '.ipynb')})")
    return 0
