"""Autograde a folder of submissions (one subfolder or zip per student) with N worker processes.

The main process prepares the nbgrader course (the gradebook knows the assignment), checks that
the instructor's own notebook earns full marks on the grader's inputs (which also warms the Numba
cache that every working copy starts from), then hands one submission at a time to each worker
(autograder.worker: a private working copy, the jail, the decisive checks). Only the main process
writes the gradebook, the autograded notebooks and <course>/results/<assignment>.json, the last
rewritten atomically after every student: an interrupted run loses no finished grade, and a rerun
grades only submissions that are new or changed (or all, with force). Grades do not depend on the
number of workers.
"""
import csv
import json
import os
import secrets
import shutil
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from course_lib.storage import write_atomically

from .course import NbgraderError, notebooks, prepare, run_nbgrader, tree_hash
from .submission import find_submissions
from .worker import grade_submission

FIRST_UID = 61000  # the jail runs each worker as its own uid when the grader runs as root


class ReferenceError(RuntimeError):
    """The instructor's notebook does not earn full marks on the grader's inputs."""


def _secret(course):
    """A per-course secret in the seeds of the grader's inputs, made once, readable by the grader
    alone (and hidden from submissions with the rest of the course directory)."""
    path = course / ".grader-secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(16))
    return path.read_text().strip()


def _save(results, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda f: json.dump(results, f, indent=1, sort_keys=True))


def load_results(course, assignment):
    path = Path(course) / "results" / f"{assignment}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _totals(tests):
    auto = [t for t in tests.values() if t[2] == "auto"]
    return {"score": sum(t[0] for t in tests.values()),
            "max_score": sum(t[1] for t in tests.values()),
            "auto_score": sum(t[0] for t in auto), "auto_max": sum(t[1] for t in auto)}


# ---------------------------------------------------------------- one worker's job
_slot = None


def _take_slot(counter):
    """Pool initializer: each worker process gets its own index (and so its own uid)."""
    global _slot
    with counter.get_lock():
        _slot = counter.value
        counter.value += 1


def _run(job):
    if job["uid"] is not None and _slot is not None:
        job = dict(job, uid=FIRST_UID + _slot)
    return job["student"], grade_submission(job)


def _jobs_base(course, assignment, solution_folder, submissions, limits):
    source = {p.name: p.read_text() for p in notebooks(course / "source" / assignment)}
    release = {p.name: p.read_text() for p in notebooks(course / "release" / assignment)}
    scratch = Path(tempfile.mkdtemp(prefix="course-grading-"))
    os.chmod(scratch, 0o711)  # workers' uids pass through to their own 0700 working copies
    root = os.geteuid() == 0
    hide = [str(p) for p in (course, Path(submissions).resolve(), Path(solution_folder).resolve(), scratch)]
    return scratch, dict(limits, assignment=assignment, source=source, release=release,
                         scratch=str(scratch), hide=hide, secret=_secret(course),
                         uid=FIRST_UID if root else None,
                         numba_cache=str(course / "numba-cache" / assignment))


def _check_reference(course, assignment, base):
    """Grade the instructor's own notebook like a submission: every autograded test must pass.
    Done once per version of the source; its Numba cache becomes every working copy's."""
    stamp = course / "numba-cache" / f".{assignment}.sha256"
    wanted = tree_hash(course / "source" / assignment)
    if stamp.exists() and stamp.read_text() == wanted:
        return
    cache = Path(base["numba_cache"])
    shutil.rmtree(cache, ignore_errors=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(base["scratch"]) / "reference-submission"
    folder.mkdir()
    for name, text in base["source"].items():
        (folder / name).write_text(text)
    record, _ = grade_submission(dict(base, student="instructor", submission=str(folder),
                                      numba_cache=None, keep_numba_cache=str(cache)))
    failures = {k: v for k, v in record["checks"].items() if v}
    if record["status"] != "graded" or failures:
        raise ReferenceError(f"the instructor's notebook of {assignment} does not pass on the "
                             f"grader's inputs ({record['status']} {record['message']}): {failures}")
    stamp.write_text(wanted)


# ---------------------------------------------------------------- gradebook and notebooks
def _record_in_gradebook(course, assignment, student, record, executed):
    """Write the scores where nbgrader's formgrader and feedback find them: the gradebook and
    autograded/<student>/<assignment>/. Only this process ever writes them."""
    from nbgrader.api import Gradebook, MissingEntry
    folder = course / "autograded" / student / assignment
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, text in executed.items():
        nb = nbformat.reads(text, as_version=4)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(_report(record), metadata={"grader_report": True}))
        nbformat.write(nb, folder / name)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes from inside nbgrader's API
        gb.update_or_create_student(student)
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:
            pass
        submission = gb.add_submission(assignment, student)
        for nb in submission.notebooks:
            for grade in nb.grades:
                key = f"{nb.name}:{grade.name}"
                if key in record["tests"] and record["tests"][key][2] == "auto":
                    grade.auto_score = record["tests"][key][0]
        gb.db.commit()


def _report(record):
    """The grader's report, as the first cell of the autograded notebook (and so of the feedback)."""
    lines = ["## Grader's report", "", f"Status: **{record['status']}** {record['message']}".strip(), ""]
    for test, problems in sorted(record["checks"].items()):
        score, maximum, _ = record["tests"][test]
        lines.append(f"- `{test}`: {score:g} / {maximum:g}" + (f" ({'; '.join(problems)})" if problems else ""))
    if record["integrity"]:
        lines += ["", "Integrity:"] + [f"- {finding}" for finding in record["integrity"]]
    return "\n".join(lines)


def _feedback(course, assignment, results):
    """Feedback for every student with an autograded notebook, in one nbgrader run at the end
    (one run per student would cost a Python start-up each, in the main process)."""
    try:
        run_nbgrader(course, "generate_feedback", assignment, "--force")
        error = None
    except NbgraderError as err:
        error = f"feedback failed: {str(err)[-300:]}"
    for student, record in results.items():
        folder = course / "feedback" / student / assignment
        if (course / "autograded" / student / assignment).is_dir():
            record["feedback"] = error or str(folder)


# ---------------------------------------------------------------- the whole class
def autograde(solution_folder, submissions, course, workers=1, timeout=600, memory_mb=4096,
              cpu_seconds=None, processes=256, file_mb=64, cell_timeout=30, force=False,
              feedback=True, progress=True, log=tqdm.write):
    """Grade every submission in `submissions` against the assignment in solution_folder with
    `workers` processes. Returns {student: record}; records of unchanged submissions are kept."""
    solution_folder = Path(solution_folder)
    assignment = solution_folder.name
    course = prepare(course, solution_folder)
    results_path = course / "results" / f"{assignment}.json"
    results = load_results(course, assignment)
    limits = {"timeout": timeout, "memory_mb": memory_mb, "cpu_seconds": cpu_seconds or timeout,
              "processes": processes, "file_mb": file_mb, "cell_timeout": cell_timeout,
              "threads": max(1, (os.cpu_count() or 1) // workers)}
    scratch, base = _jobs_base(course, assignment, solution_folder, submissions, limits)
    try:
        _check_reference(course, assignment, base)
        todo, students = [], find_submissions(submissions)
        for student, path in students.items():
            digest = tree_hash(path)
            old = results.get(student, {})
            if force or old.get("hash") != digest or old.get("status") == "timeout":
                todo.append(dict(base, student=student, submission=str(path), hash=digest))
        log(f"{assignment}: {len(todo)} submissions to grade, {len(students) - len(todo)} unchanged")
        bar = tqdm(total=len(todo), desc=f"grading {assignment}", unit="student", disable=not progress)
        counter = get_context("spawn").Value("i", 0)
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                 initializer=_take_slot, initargs=(counter,)) as pool:
            futures = {pool.submit(_run, job): job for job in todo}
            for future in as_completed(futures):
                job = futures[future]
                student, (record, executed) = future.result()
                record.update(_totals(record["tests"]), hash=job["hash"])
                if executed:
                    _record_in_gradebook(course, assignment, student, record, executed)
                results[student] = record
                _save(results, results_path)  # after every student: an interruption loses nothing
                bar.update(1)
                if record["status"] != "graded" or record["integrity"]:
                    log(f"{student}: {record['status']} {record['message']} "
                        f"{'; '.join(record['integrity'])}".strip())
        bar.close()
        if feedback:
            _feedback(course, assignment, results)
            _save(results, results_path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


# ---------------------------------------------------------------- reports
def export_csv(results, path):
    """One row per student: totals, status, integrity findings, then every test's score."""
    tests = sorted({t for r in results.values() for t in r["tests"]})

    def write(f):
        writer = csv.writer(f)
        writer.writerow(["student", "auto_score", "auto_max", "score", "max_score", "status",
                         "message", "integrity", "failed checks"]
                        + [f"{t} ({_max(results, t):g})" for t in tests])
        for student in sorted(results):
            r = results[student]
            failed = [f"{t}: {'; '.join(p)}" for t, p in sorted(r.get("checks", {}).items()) if p]
            writer.writerow([student, f"{r['auto_score']:g}", f"{r['auto_max']:g}", f"{r['score']:g}",
                             f"{r['max_score']:g}", r["status"], r["message"], " | ".join(r["integrity"]),
                             " | ".join(failed)]
                            + [f"{r['tests'][t][0]:g}" if t in r["tests"] else "" for t in tests])

    return Path(write_atomically(path, write, newline=""))


def _max(results, test):
    return max(r["tests"][test][1] for r in results.values() if test in r["tests"])


def summary(results):
    lines = [f"{'student':<20}{'autograded':>14}{'manual':>9}  {'status':<17}notes"]
    for student in sorted(results):
        r = results[student]
        notes = "; ".join(([r["message"]] if r["message"] else []) + r["integrity"])
        manual = r["max_score"] - r["auto_max"]
        lines.append(f"{student:<20}{r['auto_score']:>7g} / {r['auto_max']:<4g}{manual:>7g} pt  "
                     f"{r['status']:<17}{notes}")
    graded = [r for r in results.values() if r["status"] == "graded"]
    if graded:
        mean = sum(r["auto_score"] for r in graded) / len(graded)
        lines.append(f"{len(results)} submissions, {len(graded)} graded, mean autograded score "
                     f"{mean:.2f}; manual points await grading in nbgrader's formgrader")
    return "\n".join(lines)
