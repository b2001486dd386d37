"""Grade one submission: the part of the pipeline that runs in a worker process.

For each notebook: read it (never execute it as given), note what was done to its cells, assemble
the notebook to run (the instructor's, with the student's answers put in), make a private working
copy holding only the grader's fresh inputs, run it in autograder.jail with rlimits and no network,
then judge every test cell outside the kernel: it must have run without error, its answers on the
grader's inputs must match the reference (autograder.cases), and its answer cells must not call the
reference implementation. Returns a plain dict; the gradebook and the results file are written by
the grader's main process only.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import nbformat
import numpy as np

from . import integrity
from .cases import CASES
from .submission import STUDENT_ID, assemble, extract_notebooks

JAIL_FAILED = 97
ANSWERS = ".grading"


def new_record():
    return {"status": "graded", "message": "", "integrity": [], "tests": {}, "checks": {}}


def case_rng(secret, student, assignment, grade_id):
    """Fresh inputs per student and test, the same in every run (so parallel grading equals
    serial grading), and unknown to students: the course's secret is part of the seed."""
    return np.random.default_rng([int(secret, 16), zlib.crc32(f"{student}/{assignment}/{grade_id}".encode())])


def _write_inputs(folder, cases, job):
    folder.mkdir()
    inputs = {}
    for gid, case in cases.items():
        inputs[gid] = case.make(case_rng(job["secret"], job["student"], job["assignment"], gid))
        np.savez(folder / f"{gid}.in.npz", **inputs[gid])
    return inputs


MAX_ANSWERS_BYTES = 256 * 1024 * 1024  # unpacked; a compressed .npz could claim far more


def _read_answers(path):
    """The arrays a test cell saved, in order; None if there are none, they are not plain arrays
    (pickled objects are never loaded) or they would unpack to more than MAX_ANSWERS_BYTES."""
    try:
        with zipfile.ZipFile(path) as archive:
            if sum(member.file_size for member in archive.infolist()) > MAX_ANSWERS_BYTES:
                return None
        with np.load(path, allow_pickle=False) as f:
            return tuple(f[f"out{i}"] for i in range(len(f.files)))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def _give_to(path, uid):
    for folder, _, files in os.walk(path):
        os.chown(folder, uid, uid)
        for name in files:
            os.chown(os.path.join(folder, name), uid, uid)


def run_jailed(notebook, workdir, job):
    """Execute the notebook in the jail; returns (executed notebook or None, status, message)."""
    threads = str(job["threads"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "COURSE_"))}
    env.update(NUMBA_CACHE_DIR=str(workdir / "numba-cache"), MPLBACKEND="Agg", PYTHONNOUSERSITE="1",
               JUPYTER_RUNTIME_DIR=str(workdir / ".runtime"), IPYTHONDIR=str(workdir / ".ipython"),
               JUPYTER_PLATFORM_DIRS="1", OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads, NUMBA_NUM_THREADS=threads)
    uid = job["uid"]
    cmd = [sys.executable, "-m", "autograder.jail", "--workdir", str(workdir),
           "--cpu", str(job["cpu_seconds"]), "--memory-mb", str(job["memory_mb"]),
           "--processes", str(job["processes"]), "--file-mb", str(job["file_mb"])]
    cmd += [arg for path in job["hide"] for arg in ("--hide", path)]
    cmd += [arg for path in _runtime_paths() for arg in ("--expose", path)]
    cmd += ["--uid", str(uid)] if uid is not None else []
    cmd += ["--", sys.executable, "-m", "autograder.execute", "--cell-timeout", str(job["cell_timeout"])]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(nbformat.writes(notebook).encode(), timeout=job["timeout"])
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # the jail and its PID 1: the whole namespace goes with them
        proc.communicate()
        return None, "timeout", f"grading took longer than {job['timeout']} s and was stopped"
    if proc.returncode == JAIL_FAILED:
        return None, "error", err.decode(errors="replace").strip()[-500:]
    try:
        return nbformat.reads(out.decode(), as_version=4), "graded", ""
    except Exception:  # noqa: BLE001 - nothing usable came back
        return None, "error", (f"the notebook runner stopped (exit {proc.returncode}): "
                               f"{err.decode(errors='replace').strip()[-300:]}")


def _runtime_paths():
    """What the jailed notebook runner must be able to read: Python and the installed packages."""
    import autograder
    import course_lib
    return sorted({sys.prefix, sys.base_prefix, *(str(Path(m.__file__).parents[1])
                                                   for m in (autograder, course_lib, np, nbformat))})


def cell_passed(cell):
    """nbgrader's rule: a test cell fails if it raised or wrote anything to stderr; it must also
    have run at all (a dead kernel leaves the rest unexecuted)."""
    if cell.get("execution_count") is None:
        return False, "not run (the kernel died or time ran out before it)"
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error" and out.get("ename") == "KeyboardInterrupt":
            return False, "ran longer than the cell time limit and was interrupted"
        if out.get("output_type") == "error" and out.get("ename") in ("TimeoutError", "DeadKernelError"):
            return False, out.get("evalue")
        if out.get("output_type") == "error":
            return False, f"raised {out.get('ename')}: {str(out.get('evalue'))[:200]}"
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return False, "wrote to stderr"
    return True, ""


def judge(executed, inputs, answers_dir, cases, tainted, nb_name):
    """Scores and reasons per graded cell of one executed notebook."""
    tests, checks = {}, {}
    for cell in executed["cells"]:
        meta = integrity.nbgrader_meta(cell)
        if not meta.get("grade"):
            continue
        gid, points = meta["grade_id"], float(meta.get("points", 0))
        key = f"{Path(nb_name).stem}:{gid}"
        if not integrity.is_test(cell):
            tests[key] = [0.0, points, "manual"]
            continue
        problems = []
        ran, why = cell_passed(cell)
        if not ran:
            problems.append(f"test cell {why}")
        if gid in cases:
            answers = _read_answers(answers_dir / f"{gid}.out.npz")
            if answers is None:
                problems.append("no answers on the grader's inputs were recorded")
            else:
                problems += cases[gid].check(inputs[gid], answers)
        if gid in tainted:
            problems.append(f"answer cells use or change the reference implementation: "
                            f"{', '.join(u.removeprefix(integrity.SETS) for u in tainted[gid])}")
        tests[key] = [0.0 if problems else points, points, "auto"]
        checks[key] = problems
    return tests, checks


def grade_notebook(job, name, source_nb, release_nb, submitted_nb, record, scratch):
    if integrity.belongs_elsewhere(release_nb, submitted_nb):
        record["integrity"].append(f"{name}: this notebook belongs to another assignment: none of "
                                   f"its graded cells is one of {job['assignment']}'s (scored 0)")
        return None
    record["integrity"] += [f"{name}: {f}" for f in integrity.structure(release_nb, submitted_nb)]
    flagged = integrity.reference_use(source_nb, submitted_nb)
    for gid, uses in flagged.items():
        calls = [u for u in uses if not u.startswith(integrity.SETS)]
        changes = [u.removeprefix(integrity.SETS) for u in uses if u.startswith(integrity.SETS)]
        if calls:
            record["integrity"].append(f"{name}: answer cell {gid} uses the reference implementation "
                                       f"({', '.join(calls)}); its test scores 0")
        if changes:
            record["integrity"].append(f"{name}: answer cell {gid} changes the course library "
                                       f"({', '.join(changes)}); its test scores 0")
    groups = integrity.answer_groups(source_nb)
    tainted = {test: sorted({u for a in answers for u in flagged.get(a, [])})
               for test, answers in groups.items() if any(a in flagged for a in answers)}
    notebook = nbformat.from_dict(assemble(source_nb, release_nb, submitted_nb))

    workdir = Path(tempfile.mkdtemp(dir=scratch, prefix="work-"))
    cases = CASES.get(job["assignment"], {})
    inputs = _write_inputs(workdir / ANSWERS, cases, job)
    if job["numba_cache"] and Path(job["numba_cache"]).is_dir():
        shutil.copytree(job["numba_cache"], workdir / "numba-cache")
    if job["uid"] is not None:
        _give_to(workdir, job["uid"])
    executed, status, message = run_jailed(notebook, workdir, job)
    if executed is None:
        executed = notebook  # nothing ran: every test fails as "not run"
    tests, checks = judge(executed, inputs, workdir / ANSWERS, cases, tainted, name)
    record["tests"].update(tests)
    record["checks"].update(checks)
    if status != "graded":
        record["status"], record["message"] = status, message
    elif "grader_error" in executed.metadata:
        record["message"] = f"the run stopped early: {executed.metadata['grader_error'][:300]}"
    if job.get("keep_numba_cache") and (workdir / "numba-cache").is_dir():
        shutil.copytree(workdir / "numba-cache", job["keep_numba_cache"], dirs_exist_ok=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return executed


def zero_scores(source_nb, name):
    """Every graded cell of a notebook at 0: what a notebook that cannot be run earns."""
    return {f"{Path(name).stem}:{integrity.nbgrader_meta(c)['grade_id']}":
            [0.0, float(integrity.nbgrader_meta(c).get("points", 0)),
             "auto" if integrity.is_test(c) else "manual"]
            for c in source_nb["cells"] if integrity.nbgrader_meta(c).get("grade")}


def grade_submission(job):
    """Grade one student's submission. Never raises for the student's faults; returns
    (record, {notebook name: executed notebook as JSON text})."""
    record, executed = new_record(), {}
    student, names = job["student"], list(job["source"])
    sources = {name: json.loads(job["source"][name]) for name in names}
    if not STUDENT_ID.match(student):
        return dict(record, status="rejected", message=f"invalid student id {student!r}"), executed
    scratch = Path(tempfile.mkdtemp(dir=job["scratch"], prefix=f"{student}-"))
    try:
        try:
            missing = extract_notebooks(Path(job["submission"]), names, scratch / "in")
        except (OSError, zipfile.BadZipFile) as err:
            record.update(status="malformed", message=f"cannot read the submission: {err}")
            missing = names
        if len(missing) == len(names) and record["status"] == "graded":
            record.update(status="missing", message=f"no {', '.join(missing)} in the submission")
        for name in names:
            record["tests"].update(zero_scores(sources[name], name))
            if name in missing:
                if record["status"] == "graded":
                    record["integrity"].append(f"{name}: notebook missing (scored 0)")
                continue
            try:
                submitted = json.loads((scratch / "in" / name).read_text(encoding="utf-8"))
                if not isinstance(submitted, dict) or not isinstance(submitted.get("cells"), list):
                    raise ValueError("no list of cells")
            except (ValueError, UnicodeDecodeError) as err:
                record["integrity"].append(f"{name}: not a readable notebook ({err}); nothing could be graded")
                record["status"] = "malformed"
                continue
            result = grade_notebook(job, name, sources[name], json.loads(job["release"][name]),
                                    submitted, record, scratch)
            if result is not None:
                executed[name] = nbformat.writes(result)
        if record["status"] == "graded" and not executed:
            record["status"] = "wrong assignment"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return record, executed
