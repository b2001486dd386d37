"""Autograde an assignment's submissions with N worker processes: those in the course's
submitted/ folder (where `nbgrader collect` puts them), after collecting any given folder of one
subfolder or zip per student into it (autograder.collect).

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
import hmac
import html
import json
import math
import os
import secrets
import shutil
import sys
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from course_lib.storage import write_atomically

from . import cluster, gradebook
from .course import NbgraderError, notebooks, prepare, run_nbgrader, tree_hash
from .model import AUTO, MANUAL, Job, Limits, Status
from .cgroups import available_cores
from .collect import SECRET, collect, collect_exchange, collected, copy_receipts, submission_time, submitted
from .submission import student_id, SubmissionError
from .execute import inert_outputs
from .worker import check_instructor, grade_submission, grader_failed, prepare_editions, zero_record


FEEDBACK_SECONDS = 60  # per student: rendering a notebook takes a second or two


def _secret(course):
    """A per-course secret in the seeds of the grader's inputs, made once, readable by the grader
    alone (and hidden from submissions with the rest of the course directory)."""
    path = course / ".grader-secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(16))
    return path.read_text().strip()


def seed(secret, student, assignment):
    """A student's part of the seed of the grader's inputs: all a worker is given of the secret."""
    return hmac.new(bytes.fromhex(secret), f"{assignment}/{student}".encode(), "sha256").hexdigest()


def _save(results, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda f: json.dump(results, f, indent=1, sort_keys=True))


def load_results(course, assignment):
    path = Path(course) / "results" / f"{assignment}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _totals(tests):
    auto = [t for t in tests.values() if t[2] == AUTO]
    return {"score": sum(t[0] for t in tests.values()),
            "max_score": sum(t[1] for t in tests.values()),
            "auto_score": sum(t[0] for t in auto), "auto_max": sum(t[1] for t in auto)}


def _held_to(tests, expected):
    """A worker's test scores held to the instructor's notebook (expected: zero_record's tests): its
    tests and points, each score within 0..points. A worker process or a cluster's worker never
    decides what a test is worth; a missing or malformed score is 0."""
    held = {}
    for test, zero in expected.items():
        try:  # a written answer's points are a person's to give
            score = tests.get(test, zero)[0]
            score = float(score) if (zero.kind != MANUAL and isinstance(score, (int, float))
                                     and not isinstance(score, bool) and math.isfinite(score)) else 0.0
        except Exception:  # noqa: BLE001 - anything a worker sent that is not a score
            score = 0.0
        held[test] = [min(max(score, 0.0), zero.max_score), zero.max_score, zero.kind]
    return held


# ---------------------------------------------------------------- gradebook and notebooks
def _record_in_gradebook(course, assignment, student, record, executed):
    """Write the scores where nbgrader's formgrader and feedback find them: the gradebook (manual
    grades and comments kept, see autograder.gradebook) and autograded/<student>/<assignment>/.
    Only this process ever writes them."""
    folder = course / "autograded" / student / assignment
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    copy_receipts(submitted(course, student, assignment), folder)
    for name, text in executed.items():
        nb = inert_outputs(nbformat.reads(text, as_version=4))  # again here: whoever ran it
        for cell in nb.cells:  # written answers are the student's Markdown: shown, never run as HTML
            if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = html.escape(cell.source, quote=False)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(_report(record), metadata={"grader_report": True}))
        nbformat.write(nb, folder / name)
    gradebook.record_scores(course, assignment, student, record["tests"],
                            submission_time(submitted(course, student, assignment)))


def _report(record):
    """The grader's report, as the first cell of the autograded notebook (and so of the feedback).
    Text that a submission could shape (grade ids, error messages) is escaped."""
    lines = ["## Grader's report", "", f"Status: **{record['status']}** {_md(record['message'])}".strip(), ""]
    for test, problems in sorted(record["checks"].items()):
        score, maximum, _ = record["tests"][test]
        lines.append(f"- `{_md(test)}`: {score:g} / {maximum:g}" + (f" ({_md('; '.join(problems))})" if problems else ""))
    if record["integrity"]:
        lines += ["", "Notes for review (they cost no points):"] + [f"- {_md(f)}" for f in record["integrity"]]
    return "\n".join(lines)


def _md(text):
    """Text for Markdown that stays text: no HTML, code spans or links of the submission's making."""
    return (html.escape(str(text)).replace("`", "&#96;").replace("[", "&#91;").replace("]", "&#93;")
            .replace("\n", " "))


def _feedback(course, assignment, results):
    """Feedback for every student with an autograded notebook, in one nbgrader run at the end
    (one run per student would cost a Python start-up each). If that run fails, each student's
    feedback is made on its own, so that one notebook can cost only its own feedback."""
    graded = [s for s in results if (course / "autograded" / s / assignment).is_dir()]
    try:
        run_nbgrader(course, "generate_feedback", assignment, "--force",
                     timeout=FEEDBACK_SECONDS * (1 + len(graded)))
        failed = {}
    except (NbgraderError, subprocess.TimeoutExpired):
        failed = {}
        for student in graded:
            try:
                run_nbgrader(course, "generate_feedback", assignment, "--force", f"--student={student}",
                             timeout=FEEDBACK_SECONDS)
            except (NbgraderError, subprocess.TimeoutExpired) as err:
                failed[student] = f"feedback failed: {str(err)[-300:]}"
    for student in graded:
        results[student]["feedback"] = failed.get(student) or str(course / "feedback" / student / assignment)


# ---------------------------------------------------------------- the whole class
def autograde(solution_folder, submissions=None, course="course", workers=1, timeout=600, memory_mb=4096,
              cpu_seconds=None, processes=256, file_mb=64, disk_mb=1024, cell_timeout=30, force=False,
              feedback=True, progress=True, log=tqdm.write, scheduler=None, tls=None, exchange=False):
    """Grade every submission of the assignment in solution_folder (those in <course>/submitted/,
    after collecting the folder `submissions` into it, if given: one subfolder or zip per student,
    or with exchange=True nbgrader's exchange inbound folder; exchange="shared-account": every
    student submits through one account, see collect_exchange) with `workers` processes, or on
    the Dask cluster whose scheduler is at `scheduler` (autograder.cluster; "local": an embedded
    LocalCluster of `workers` processes; tls: the folder of the cluster's keys, see cluster.client_security).
    Returns {student: record}; records of unchanged submissions are kept. Raises
    cluster.ClusterError if the cluster cannot go on; the grades recorded until then are kept."""
    # a cluster without TLS is refused before anything is done
    security = cluster.client_security(scheduler, tls) if scheduler not in (None, cluster.LOCAL) else None
    solution_folder = Path(solution_folder)
    assignment = solution_folder.name
    course = prepare(course, solution_folder)
    results_path = course / "results" / f"{assignment}.json"
    results = load_results(course, assignment)
    limits = Limits(timeout=timeout, cell_timeout=cell_timeout, cpu_seconds=cpu_seconds, memory_mb=memory_mb,
                    disk_mb=disk_mb, processes=processes, file_mb=file_mb,
                    threads=max(1, available_cores() // workers))
    scratch = Path(tempfile.mkdtemp(prefix="course-grading-"))
    secret = _secret(course)
    base = Job(assignment=assignment, student="", submission="", digest="", seed="",
               sources={p.name: p.read_text() for p in notebooks(course / "source" / assignment)},
               releases={p.name: p.read_text() for p in notebooks(course / "release" / assignment)},
               scratch=str(scratch), course=str(course), limits=limits)
    try:
        prepare_editions(course, assignment)
        instructor = replace(base, student="instructor", seed=seed(secret, "instructor", assignment))
        check_instructor(course, instructor)
        refused, unreadable, notes = {}, {}, {}
        if submissions is not None:
            refused, unreadable, notes = (
                collect_exchange(submissions, course, assignment, list(base.sources), exchange == SHARED_ACCOUNT)
                if exchange else collect(submissions, course, assignment, list(base.sources)))
        students, refused_here = collected(course, assignment)
        refused.update(refused_here)
        for student, reason in refused.items():
            students.pop(student, None)
            results[student] = _refused(base, reason)
            _add_to_gradebook(course, student)
            log(f"{student}: refused: {reason}")
        for student, reason in unreadable.items():
            students.pop(student, None)
            results[student] = _refused(base, reason, Status.MALFORMED)
            _add_to_gradebook(course, student)
            log(f"{student}: {reason}")
        todo, source = [], tree_hash(course / "source" / assignment)
        for student, path in students.items():
            digest = tree_hash(path, ignore=(SECRET,))  # a secret made at collection is no change
            old = results.get(student, {})
            if force or old.get("hash") != digest or old.get("source") != source \
                    or old.get("status") in (Status.TIMEOUT, Status.ERROR):
                todo.append(replace(base, student=student, submission=str(path), digest=digest,
                                    seed=seed(secret, student, assignment),
                                    notes=tuple(notes.get(student, ()))))
        _save(results, results_path)
        log(f"{assignment}: {len(todo)} submissions to grade, {len(students) - len(todo)} unchanged, "
            f"{len(refused)} refused")
        expected = zero_record(base)["tests"]
        with tqdm(total=len(todo), desc=f"grading {assignment}", unit="student", disable=not progress) as bar:
            finished = (_graded(todo, workers) if scheduler is None
                        else cluster.graded(todo, scheduler, instructor, log, workers, security))
            for job, (record, executed) in finished:
                record["tests"] = _held_to(record.get("tests") or {}, expected)
                record.update(_totals(record["tests"]), hash=job.digest, source=source)
                record = json.loads(json.dumps(record))  # as the results file holds it: plain lists
                if executed and submission_time(submitted(course, job.student, assignment)) is None:
                    record["integrity"].append(NO_TIME)
                try:
                    if executed:
                        _record_in_gradebook(course, assignment, job.student, record, executed)
                except Exception as err:  # noqa: BLE001 - this student's gradebook entry alone
                    record.update(status=Status.ERROR, message="the grade could not be recorded")
                    record.setdefault("notes", []).append(f"gradebook: {type(err).__name__}: {err}")
                results[job.student] = record
                _save(results, results_path)  # after every student: an interruption loses nothing
                bar.update(1)
                if record["status"] != Status.GRADED or record.get("notes"):
                    log(f"{job.student}: {record['status']} {record['message']} "
                        f"{' '.join(record.get('notes', []))[-600:]}".strip())
        if feedback:
            _feedback(course, assignment, results)
            _save(results, results_path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


SHARED_ACCOUNT = "shared-account"
NO_TIME = ("no readable submission time (timestamp.txt missing, not a plain file, or unparsable): "
           "no late penalty can apply; for review")


def _refused(base, reason, status=Status.REJECTED):
    record = dict(zero_record(base), status=status, message=reason)
    record.update(_totals(record["tests"]))
    return record


def _add_to_gradebook(course, name):
    """A refused student with a usable id goes into the gradebook without a submission, so that
    nbgrader's own export lists them (at 0) too."""
    try:
        gradebook.add_student(course, student_id(name))
    except SubmissionError:
        pass


def _graded(jobs, workers, grade=grade_submission):
    """(job, (record, executed)) for every job, as they finish. A worker process that dies (the
    machine killed it, say) breaks the pool, and every submission it had not finished fails with
    it: those are retried, each alone in a fresh process, so that a submission that kills its
    worker again is recorded as an error of its own and costs no one else anything."""
    retry = []
    for job, outcome in _in_pool(jobs, workers, grade):
        if isinstance(outcome, Exception):
            retry.append(job)
        else:
            yield job, outcome
    for job in retry:
        for _, outcome in _in_pool([job], 1, grade):
            yield job, ((grader_failed(job, f"worker: {type(outcome).__name__}: {outcome}"), {})
                        if isinstance(outcome, Exception) else outcome)


# Workers are forked from a server process that imported the worker's modules once (nbformat's
# validator alone takes a second: spawning paid it again for every worker of every run). The
# server starts with the first run; each worker then takes this process's environment, folder and
# import path as they are at its own run, as a spawned worker would.
_WORKERS = get_context("forkserver")
_WORKERS.set_forkserver_preload(["autograder.worker"])


def _as_the_grader_is(environ, cwd, path):
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    sys.path[:] = path
    tempfile.tempdir = None  # TMPDIR read again


def _in_pool(jobs, workers, grade):
    """(job, grade_submission's answer or the exception that stopped it), as they finish."""
    with ProcessPoolExecutor(max_workers=workers, mp_context=_WORKERS, initializer=_as_the_grader_is,
                             initargs=(dict(os.environ), os.getcwd(), list(sys.path))) as pool:
        futures = {pool.submit(grade, job): job for job in jobs}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as err:  # noqa: BLE001 - a dead worker, not the student's fault
                yield futures[future], err


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
            writer.writerow([_cell(student), f"{r['auto_score']:g}", f"{r['auto_max']:g}", f"{r['score']:g}",
                             f"{r['max_score']:g}", r["status"], _cell(r["message"]),
                             _cell(" | ".join(r["integrity"])), _cell(" | ".join(failed))]
                            + [f"{r['tests'][t][0]:g}" if t in r["tests"] else "" for t in tests])

    return Path(write_atomically(path, write, newline=""))


# The final-grade export: one row per student, the columns an LMS gradebook import maps.
FINAL_COLUMNS = ["student_id", "score", "max_score", "autograded", "manual", "extra_credit",
                 "late_penalty", "submitted_at", "status", "needs_manual_grade", "comment"]


def export_final(course, assignment, results, path):
    """Final grades of every student (the gradebook's, where a teaching assistant's manual grade
    overrides the autograder's; refused or missing submissions at 0 with the reason), then every
    question's score. Late penalties are brought up to date first (nbgrader's rule, the course's
    options), so that manual grades given since autograding count. Returns the path."""
    gradebook.assign_late_penalties(Path(course), assignment)
    final = gradebook.final_grades(Path(course), assignment)
    questions = sorted({q for row in final.values() for q in row["questions"]}
                       | {t for r in results.values() for t in r["tests"]})
    maxima = {q: _max(results, q) for q in questions if any(q in r["tests"] for r in results.values())}

    def write(f):
        writer = csv.writer(f)
        writer.writerow(FINAL_COLUMNS + [f"{q} ({maxima.get(q, 0):g})" for q in questions])
        for student in sorted(set(results) | set(final)):
            r, row = results.get(student, {}), final.get(student)
            if row is None:  # never in the gradebook: refused, missing, malformed...
                row = {"score": 0.0, "max_score": r.get("max_score", 0.0), "auto": 0.0, "manual": 0.0,
                       "extra_credit": 0.0, "late_penalty": 0.0, "timestamp": None,
                       "needs_manual_grade": False, "questions": {}}
            comment = r.get("message", "") if r.get("status", Status.GRADED) != Status.GRADED else ""
            when = (row["timestamp"].strftime("%Y-%m-%d %H:%M:%S UTC") if row["timestamp"]
                    else "unknown" if student in final else "")
            writer.writerow([_cell(student), f"{row['score']:g}", f"{row['max_score']:g}", f"{row['auto']:g}",
                             f"{row['manual']:g}", f"{row['extra_credit']:g}", f"{row['late_penalty']:g}",
                             when, r.get("status", Status.GRADED),
                             "yes" if row["needs_manual_grade"] else "no", _cell(comment)]
                            + [f"{row['questions'][q]:g}" if q in row["questions"] else "" for q in questions])

    return Path(write_atomically(path, write, newline=""))


def export_nbgrader(course, assignment):
    """nbgrader's own export (its CSV columns: raw score, late penalty, score...) of this
    assignment, as <course>/<assignment>-nbgrader.csv; refused students are in it at 0, since the
    grader puts them in the gradebook. Returns the path."""
    path = Path(course).resolve() / f"{assignment}-nbgrader.csv"
    run_nbgrader(Path(course).resolve(), "export", f"--assignment={assignment}", f"--to={path}", timeout=300)
    return path


def _cell(text):
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


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
