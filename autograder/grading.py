"""Autograde a folder of submissions: one subfolder or zip per student.

Each submission is graded by its own `nbgrader autograde` process, in a new process group, with a
wall-clock timeout and an address-space limit that its kernel inherits; a crash, a hang or a
malformed notebook is recorded for that student and the others go on. Results are kept in
<course>/results/<assignment>.json, rewritten atomically after every student, so an interrupted run
loses nothing and a rerun regrades only submissions that changed (or all, with force).
"""
import csv
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from . import integrity
from .course import NbgraderError, notebooks, prepare, run_nbgrader, tree_hash

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


# ---------------------------------------------------------------- submissions
def find_submissions(folder):
    """{student id: path} for every subfolder or .zip in folder; ids come from the names."""
    found = {}
    for path in sorted(Path(folder).iterdir()):
        if path.is_dir() or path.suffix == ".zip":
            found[path.stem if path.suffix == ".zip" else path.name] = path
    return found


def _extract_notebooks(submission, names, target):
    """Copy the expected notebooks out of a folder or zip into target; returns the missing names."""
    target.mkdir(parents=True, exist_ok=True)
    missing = []
    if submission.is_dir():
        for name in names:
            hits = [p for p in submission.rglob(name) if ".ipynb_checkpoints" not in p.parts]
            if hits:
                shutil.copyfile(hits[0], target / name)
            else:
                missing.append(name)
        return missing
    with zipfile.ZipFile(submission) as archive:  # read by member name: no paths are extracted
        members = {Path(m).name: m for m in archive.namelist()
                   if not m.endswith("/") and "__MACOSX" not in m and ".ipynb_checkpoints" not in m}
        for name in names:
            if name in members:
                (target / name).write_bytes(archive.read(members[name]))
            else:
                missing.append(name)
    return missing


# ---------------------------------------------------------------- one student
def _limits(memory_mb):
    def apply():
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def _autograde(course, assignment, student, timeout, memory_mb):
    """Run nbgrader autograde for one student; returns (status, message)."""
    cmd = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--student", student,
           "--create", "--force", f"--CourseDirectory.root={course}"]
    proc = subprocess.Popen(cmd, cwd=course, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=_limits(memory_mb))
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the kernel too: it is in the same process group
        proc.communicate()
        return "timeout", f"grading took longer than {timeout} s and was stopped"
    if proc.returncode or "There was an error processing assignment" in err:
        lines = [ln for ln in err.splitlines() if "ERROR" in ln or "Error" in ln]
        return "error", "; ".join(lines[-3:])[-500:] or f"nbgrader exited with {proc.returncode}"
    return "graded", ""


def _scores(course, assignment, student):
    """Per-cell scores from the gradebook: {notebook:cell: [score, max, "auto" | "manual"]}."""
    from nbgrader.api import Gradebook
    tests = {}
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        submission = gb.find_submission(assignment, student)
        for nb in submission.notebooks:
            for grade in nb.grades:
                kind = "auto" if grade.cell.cell_type == "code" else "manual"
                tests[f"{nb.name}:{grade.name}"] = [grade.score or 0.0, grade.max_score, kind]
    return tests


def _totals(tests):
    auto = [t for t in tests.values() if t[2] == "auto"]
    return {"score": sum(t[0] for t in tests.values()),
            "max_score": sum(t[1] for t in tests.values()),
            "auto_score": sum(t[0] for t in auto), "auto_max": sum(t[1] for t in auto)}


def grade_student(course, assignment, student, submission, expected, timeout, memory_mb):
    """Grade one submission and return its result record (never raises for the student's faults)."""
    record = {"status": "graded", "message": "", "integrity": [], "tests": {}, **_totals({})}
    if not STUDENT_ID.match(student):
        return dict(record, status="rejected", message=f"invalid student id {student!r}")
    target = course / "submitted" / student / assignment
    if target.exists():
        shutil.rmtree(target)
    try:
        missing = _extract_notebooks(submission, [p.name for p in expected], target)
    except (zipfile.BadZipFile, OSError) as err:
        return dict(record, status="malformed", message=f"cannot read the submission: {err}")
    if len(missing) == len(expected):
        return dict(record, status="missing", message=f"no {', '.join(missing)} in the submission")
    for path in expected:
        if path.name in missing:
            record["integrity"].append(f"{path.name}: notebook missing (scored 0)")
        else:
            record["integrity"] += [f"{path.name}: {f}" for f in integrity.check(path, target / path.name)]
    status, message = _autograde(course, assignment, student, timeout, memory_mb)
    if any("not valid JSON" in f for f in record["integrity"]):
        status, message = "malformed", ""  # the integrity finding says it more plainly
    record.update(status=status, message=message)
    try:
        record["tests"] = _scores(course, assignment, student)
    except Exception as err:  # noqa: BLE001 - no gradebook entry: nothing could be graded
        record["message"] = (record["message"] + f"; no grades recorded ({err})").strip("; ")
    record.update(_totals(record["tests"]))
    return record


# ---------------------------------------------------------------- the whole class
def _save(results, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def load_results(course, assignment):
    path = Path(course) / "results" / f"{assignment}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def autograde(solution_folder, submissions, course, timeout=600, memory_mb=4096, cell_timeout=30,
              force=False, feedback=True, progress=True, log=tqdm.write):
    """Grade every submission in `submissions` against the assignment in solution_folder.

    Returns the results dict {student: record}; earlier records of unchanged submissions are kept.
    """
    solution_folder = Path(solution_folder)
    assignment = solution_folder.name
    course = prepare(course, solution_folder, cell_timeout)
    expected = notebooks(course / "release" / assignment)
    results_path = course / "results" / f"{assignment}.json"
    results = load_results(course, assignment)
    students = find_submissions(submissions)
    for student, path in tqdm(students.items(), desc=f"grading {assignment}", unit="student",
                              disable=not progress):
        digest = tree_hash(path)
        if not force and results.get(student, {}).get("hash") == digest \
                and results[student]["status"] != "timeout":
            continue  # already graded, unchanged
        record = grade_student(course, assignment, student, path, expected, timeout, memory_mb)
        record["hash"] = digest
        if feedback and record["status"] == "graded":
            record["feedback"] = _feedback(course, assignment, student)
        results[student] = record
        _save(results, results_path)  # after every student: an interruption loses nothing
        if record["status"] != "graded" or record["integrity"]:
            log(f"{student}: {record['status']} {record['message']} {'; '.join(record['integrity'])}".strip())
    return results


def _feedback(course, assignment, student):
    try:
        run_nbgrader(course, "generate_feedback", assignment, "--student", student, "--force")
    except NbgraderError as err:
        return f"feedback failed: {str(err)[-300:]}"
    return str(course / "feedback" / student / assignment)


# ---------------------------------------------------------------- reports
def export_csv(results, path):
    """One row per student: total, status, integrity findings, then every test's score."""
    tests = sorted({t for r in results.values() for t in r["tests"]})
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", suffix=".part")
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "auto_score", "auto_max", "score", "max_score", "status",
                         "message", "integrity"] + [f"{t} ({_max(results, t):g})" for t in tests])
        for student in sorted(results):
            r = results[student]
            writer.writerow([student, f"{r['auto_score']:g}", f"{r['auto_max']:g}", f"{r['score']:g}",
                             f"{r['max_score']:g}", r["status"], r["message"], " | ".join(r["integrity"])]
                            + [f"{r['tests'][t][0]:g}" if t in r["tests"] else "" for t in tests])
    os.replace(tmp, path)
    return path


def _max(results, test):
    return max(r["tests"][test][1] for r in results.values() if test in r["tests"])


def summary(results):
    lines = [f"{'student':<20}{'autograded':>14}{'manual':>9}  {'status':<10}notes"]
    for student in sorted(results):
        r = results[student]
        notes = "; ".join(([r["message"]] if r["message"] else []) + r["integrity"])
        manual = r["max_score"] - r["auto_max"]
        lines.append(f"{student:<20}{r['auto_score']:>7g} / {r['auto_max']:<4g}{manual:>7g} pt  "
                     f"{r['status']:<10}{notes}")
    graded = [r for r in results.values() if r["status"] == "graded"]
    if graded:
        mean = sum(r["auto_score"] for r in graded) / len(graded)
        lines.append(f"{len(results)} submissions, {len(graded)} graded, mean autograded score "
                     f"{mean:.2f}; manual points await grading in nbgrader's formgrader")
    return "\n".join(lines)
