"""Grade one submission: the part of the pipeline that runs in a worker process.

Every notebook is graded in two kinds of jail (autograder.jail), both under the submission's own
uid and cgroup (autograder.sandbox):

1. The notebook: the instructor's notebook with the student's answer cells put in and every test
   cell as the students saw it (no hidden test is ever in this kernel), run by autograder.execute
   from outside the jail. Its outputs are the student's feedback, and a test cell that raised or
   wrote to stderr scores nothing.
2. The decisive answers, one jail per test (autograder.harness): the setup and answer cells before
   the test, then the test's hidden code, with a grading edition of course_lib (autograder.edition)
   in which what the test grades does not exist. Inputs are fresh (autograder.cases), answers come
   back over a pipe (autograder.handoff) and are compared with the reference here.

A test scores its points when its cell ran cleanly AND its answers match. Points, grade ids and
cell kinds come from the instructor's notebook only. Returns a plain record; the gradebook and the
results file are written by the grader's main process only.
"""
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import replace
from pathlib import Path

import nbformat
import numpy as np

from . import bounded, edition, handoff, integrity
from .cases import CASES, credit, decided, out_of_time
from .cgroups import Cgroup
from .harness import READY
from .model import AUTO, MANUAL, Job, Score, Status
from .sandbox import GRADER, LIB, MPLCONFIG, NUMBA_CACHE, Sandbox
from .submission import assemble, cell_passed, extract_notebooks, hidden_code, phase_cells
from .uids import Uid

JAIL_FAILED = 97
NOTEBOOK = "notebook"  # the notebook's library and Numba cache (test grade ids start with "test-")
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024
RUNNER_MEMORY = 4 << 30  # the notebook runner is outside the submission's cgroup: bounded on its own


def new_record():
    return {"status": Status.GRADED, "message": "", "integrity": [], "tests": {}, "checks": {}}


def case_rng(job, grade_id, content):
    """Fresh inputs per student, test and notebook content (the bytes graded, `content`), the same
    in every run of the same submission (parallel grading equals serial grading), unknown to
    students (the job's seed comes from the course's secret), and new for every changed notebook:
    inputs a student saw cannot be answered next time."""
    key = hashlib.sha256(f"{job.student}/{job.assignment}/{grade_id}/{content}".encode()).digest()
    return np.random.default_rng([int(job.seed, 16), int.from_bytes(key[:16], "little")])


def prepare_editions(course, assignment):
    """Build (or reuse) the grading edition of every test of the assignment; an edition that had
    to be rebuilt loses its Numba cache. Done by the main process before any worker starts."""
    _, rebuilt = edition.notebook_library(Path(course) / "editions" / assignment / NOTEBOOK)
    if rebuilt:
        shutil.rmtree(Path(course) / "numba-cache" / assignment / NOTEBOOK, ignore_errors=True)
    for gid, case in CASES.get(assignment, {}).items():
        _, rebuilt = edition.build(Path(course) / "editions" / assignment / gid, case.withhold)
        if rebuilt:
            shutil.rmtree(Path(course) / "numba-cache" / assignment / gid, ignore_errors=True)


class InstructorNotebookError(RuntimeError):
    """The instructor's notebook does not earn full marks on the grader's inputs."""


# what check_instructor's stamp also depends on: how the caches are seeded (a course warmed by an
# older grader, whose editions' caches held the withheld kernels, or whose notebook cache came from
# the checkout's and named its path, is warmed again)
CACHE_LAYOUT = ("3: an edition's cache holds no entry of a file it changes; "
                "the notebook's holds only entries compiled in its jail\n")


def check_instructor(course, job):
    """Grade the instructor's own notebook (job: student "instructor") like a submission: every
    autograded test must pass. Done once per version of the notebooks and the library; it fills
    the Numba caches (of the notebook and of every grading edition) that the students' jails
    start from. `course` is where the editions and caches live: the course directory, or a
    cluster worker's own kit (autograder.cluster)."""
    course = Path(course)
    stamp = course / "numba-cache" / f".{job.assignment}.sha256"
    editions = "".join(edition.fingerprint(case.withhold) for case in CASES.get(job.assignment, {}).values())
    notebooks = json.dumps([job.sources, job.releases], sort_keys=True)
    wanted = hashlib.sha256((CACHE_LAYOUT + notebooks + edition.fingerprint(()) + editions).encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    shutil.rmtree(course / "numba-cache" / job.assignment, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(dir=job.scratch, prefix="instructor-"))
    try:
        for name, text in job.sources.items():
            (folder / name).write_text(text)
        record, _ = grade_submission(replace(job, course=str(course), submission=str(folder),
                                             digest="instructor", warm_up=True))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    failures = {k: v for k, v in record["checks"].items() if v}
    if record["status"] != Status.GRADED or failures:
        raise InstructorNotebookError(
            f"the instructor's notebook of {job.assignment} does not pass on the grader's inputs "
            f"({record['status']} {record['message']} {record.get('notes', '')}): {failures}")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(wanted)


def library_folders(job, gid=None):
    """(the course_lib folder a jail gets, its Numba cache folder on the host). The notebook runs
    with the full library but the learners' guide data (edition.notebook_library, made by
    prepare_editions); a decisive test with its grading edition."""
    course = Path(job.course)
    if gid is None:
        lib, rebuilt = edition.notebook_library(course / "editions" / job.assignment / NOTEBOOK)
        cache = _notebook_cache(job)
        if rebuilt:  # not prepared (a lone grade_submission): its cache was for another copy
            shutil.rmtree(cache, ignore_errors=True)
        return lib, cache
    return (course / "editions" / job.assignment / gid / "course_lib",
            course / "numba-cache" / job.assignment / gid)


def _notebook_cache(job):
    return Path(job.course) / "numba-cache" / job.assignment / NOTEBOOK


def _notebook_library(job):
    return Path(job.course) / "editions" / job.assignment / NOTEBOOK / "course_lib"


def _seed_cache(cache, library, notebook):
    """Start an edition's Numba cache from entries compiled already, instead of compiling the
    library's kernels again in the jail (minutes for a convolution network, inside the cell time
    limit). Numba keys a cache folder on the source file's path and names each entry after the
    file, so entries are copied file by file, to where the jail's copy of that file looks.

    Only entries compiled in a jail: the notebook's cache is filled by the instructor's run, in
    its jail, from nothing. The host library's own cache was compiled from the checkout, and its
    entries name the checkout's path (LLVM's comments; a student-style attack read it in the
    jail). An edition's (notebook: (the notebook's library, its cache)) starts from the notebook's
    entries of the files it shares with the notebook's library, byte for byte, and from nothing of
    a file it changes:
    the entries of the full file hold the compiled kernels that the edition withholds, and Numba's
    refusing them (their source hash differs) would not stop a submission from loading them by
    hand. Numba checks each index against a hash of its source file, so a copied entry can only
    save time, never change a result."""
    from numba.core.caching import UserProvidedCacheLocator
    library = Path(library)
    for source in sorted(library.rglob("*.py")):
        relative = source.relative_to(library)
        twin = notebook[0] / relative
        if not twin.is_file() or twin.read_bytes() != source.read_bytes():
            continue  # a file the edition changes: none of its compiled code
        entries = notebook[1] / UserProvidedCacheLocator.get_suitable_cache_subpath(
            f"{LIB}/course_lib/{relative}")
        target = cache / UserProvidedCacheLocator.get_suitable_cache_subpath(f"{LIB}/course_lib/{relative}")
        for entry in [*entries.glob(f"{source.stem}.*.nbi"), *entries.glob(f"{source.stem}.*.nbc")]:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(entry, target / entry.name)


def _jail_library(job, sandbox, gid=None, harness=False):
    lib, cache = library_folders(job, gid)
    fonts = [(font_list(job.course), MPLCONFIG)]
    if job.warm_up:  # the instructor's run fills the cache in place
        if not cache.exists() and gid is not None:
            _seed_cache(cache, lib, (_notebook_library(job), _notebook_cache(job)))
        cache.mkdir(parents=True, exist_ok=True)
        if sandbox.uid is not None:
            _give_to(cache, sandbox.uid)
        cmd = sandbox.command(lib, copies=fonts, harness=harness)
        return cmd + [f"--rw={cache}={NUMBA_CACHE}"]
    copies = [(cache, NUMBA_CACHE)] if cache.is_dir() else []
    return sandbox.command(lib, copies=copies + fonts, harness=harness)


# Matplotlib lists the fonts it can find the first time it is imported, in its config folder. A
# jail's is new every time, and that scan cost every jail 0.15-0.2 s (the notebook's and each
# decisive run's). So the course keeps the list, made once, of the fonts that ship with Matplotlib
# (a jail shows no system font, and the list must not name host folders), and every jail starts
# with a copy of it.
FONT_LIST = """
import sys
from pathlib import Path
import matplotlib.font_manager as fm
found = fm.findSystemFonts
fm.findSystemFonts = lambda fontpaths=None, fontext="ttf": found(fontpaths, fontext) if fontpaths else []
fm.json_dump(fm.FontManager(), Path(sys.argv[1]) / f"fontlist-v{fm.FontManager.__version__}.json")
"""


def font_list(course):
    """The course's folder holding Matplotlib's font list for the jails, made if missing."""
    folder = Path(course) / "matplotlib"
    if not folder.is_dir():
        staging = Path(tempfile.mkdtemp(dir=course, prefix=".matplotlib-"))
        try:
            # its own config folder: importing Matplotlib there lists the host's fonts, replaced after
            subprocess.run([sys.executable, "-c", FONT_LIST, str(staging)], check=True, capture_output=True,
                           env=dict(os.environ, MPLCONFIGDIR=str(staging), MPLBACKEND="Agg"), timeout=300)
            for extra in staging.iterdir():
                if not extra.name.startswith("fontlist-"):
                    shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
            staging.chmod(0o755)
            os.replace(staging, folder)
        except OSError:  # another worker made it first
            pass
        finally:  # whatever stopped it: no staging folder left in the course
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def _give_to(path, uid):
    for folder, dirs, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, uid, uid)


# ---------------------------------------------------------------- 1. the notebook
# What the instructor's run may add to each cell's time: it compiles whatever kernels no cache
# held (a convolution's take about 7 s per dtype on 2 cores; more on a busy machine), which the
# students' runs then find cached. Its answers are the instructor's, so a longer limit gains no one.
WARM_UP_SECONDS = 240


def _cell_seconds(job):
    return job.limits.cell_timeout + (WARM_UP_SECONDS if job.warm_up else 0)


def run_notebook(notebook, job, sandbox, seconds):
    """(executed notebook or None, status, message for the student, note for the instructor)."""
    # the kernel's connection file goes into this submission's scratch, which is removed whatever
    # happens to the runner (jupyter_client would leave one in /tmp per killed run)
    request = {"notebook": notebook, "jail": _jail_library(job, sandbox),
               "cell_timeout": _cell_seconds(job),
               "connection_file": str(Path(tempfile.mkdtemp(dir=sandbox.scratch, prefix="runner-")) / "kernel.json")}
    outcome = bounded.run([sys.executable, "-m", "autograder.execute"], json.dumps(request).encode(),
                          timeout=seconds, limit=MAX_NOTEBOOK_BYTES, memory_bytes=RUNNER_MEMORY)
    if outcome.timed_out:
        return None, Status.TIMEOUT, f"grading took longer than {job.limits.timeout} s and was stopped", ""
    try:
        if outcome.returncode != 0:
            raise ValueError(f"exit {outcome.returncode}")
        # the runner (the grader's code, outside the jail) wrote it through inert_outputs already
        return nbformat.reads(outcome.stdout.decode(), as_version=4), Status.GRADED, "", ""
    except Exception as err:  # noqa: BLE001 - nothing usable came back
        return None, Status.ERROR, "the notebook could not be run", f"runner: {err}: {outcome.stderr[-1500:]}"


# ---------------------------------------------------------------- 2. the decisive answers
# The checks run in the grader's own process, so what a reply may hold is bounded well below the
# hand-off format's own limit: the largest honest reply, 04's affine test with its large set (dx
# and dw in float64 and float32), is 28 MB; most are kilobytes.
DECISIVE_REPLY_BYTES = 32 * 1024 * 1024
# The cores a decisive run's answers get, whatever the submission's share of the machine: the large
# inputs that stop a numerical gradient in the answers' time are sized for 2 cores.
DECISIVE_CORES = 2


def decide(job, sandbox, notebook, index, gid, hidden, seconds, content):
    """Problems with test gid's answers on the grader's inputs (empty: they match), every
    configuration of the case (one per branch of the function) computed in one jail.

    Two steps (autograder.harness): the cells above the test run first, each with the notebook's
    per-cell limit, knowing no input; at the harness's READY byte the inputs are sent and the
    answers get their own clock (and at most DECISIVE_CORES), so time the cells did not use, or
    cores, cannot go into computing on the inputs. `seconds`: what is left of the submission's."""
    deadline = time.monotonic() + max(5, seconds)
    case = CASES[job.assignment][gid]
    configurations = case.configurations(case_rng(job, gid, content))
    inputs = {f"c{j}.{name}": value for j, config in enumerate(configurations) for name, value in config.items()}
    cells, cell_seconds = phase_cells(notebook, index), _cell_seconds(job)
    message = handoff.encode({"grade_id": gid, "cells": cells, "hidden": hidden, "float32": case.float32,
                              "configurations": len(configurations), "blocks": list(case.blocks),
                              "cell_seconds": cell_seconds}, {})
    cmd = _jail_library(job, sandbox, gid, harness=True) + ["--", sys.executable, f"{GRADER}/harness.py"]
    # each cell its limit, and one more for starting; the answers take a moment once the cells ran:
    # a loop must not eat the submission's time
    cells_seconds = max(5, min(seconds, cell_seconds * (len(cells) + 1)))
    cgroup = Cgroup([Path(f) for f in sandbox.cgroup_folders]) if sandbox.cgroup_folders else None
    own = cgroup.cpu_quota() if cgroup else None

    def fewer_cores():
        if cgroup:
            cgroup.set_cpu_quota(min(own or DECISIVE_CORES, DECISIVE_CORES))

    try:
        outcome = bounded.run(cmd, message, timeout=cells_seconds, limit=DECISIVE_REPLY_BYTES,
                              then=(handoff.encode({}, inputs), cell_seconds + 30), on_ready=fewer_cores,
                              deadline=deadline)
    finally:
        if cgroup:
            cgroup.set_cpu_quota(own)
    if outcome.timed_out:
        return [out_of_time(case, cells=outcome.stdout[:1] != READY)]
    if outcome.returncode == JAIL_FAILED:
        raise RuntimeError(f"the jail could not be built: {outcome.stderr[-500:]}")
    try:
        if outcome.stdout[:1] != READY:
            raise handoff.HandoffError("no READY byte")
        reply, arrays = handoff.decode(outcome.stdout[1:])
    except handoff.HandoffError:
        return ["no answers on the grader's inputs were recorded (the run stopped or its output was unreadable)"]
    return decided(case, configurations, reply, arrays)


# ---------------------------------------------------------------- one notebook
def grade_notebook(job, name, source_nb, release_nb, submitted_nb, record, sandbox, deadline, content):
    if integrity.belongs_elsewhere(release_nb, submitted_nb):
        record["integrity"].append(f"{name}: this notebook belongs to another assignment: none of "
                                   f"its graded cells is one of {job.assignment}'s (scored 0)")
        return None
    record["integrity"] += [f"{name}: {f}" for f in integrity.structure(release_nb, submitted_nb)]
    assembled = assemble(source_nb, release_nb, submitted_nb)
    # judged on the notebook that runs: the copy of each answer cell that is graded, not the first
    for gid, uses in integrity.reference_use(source_nb, assembled).items():
        calls = [u for u in uses if not u.startswith(integrity.SETS)]
        changes = [u.removeprefix(integrity.SETS) for u in uses if u.startswith(integrity.SETS)]
        for verb, what in (("uses", calls), ("changes the course library:", changes)):
            if what:
                record["integrity"].append(f"{name}: answer cell {gid} {verb} {', '.join(what)} (for review; "
                                           f"the grade comes from what the code computes)")
    notebook = nbformat.reads(json.dumps(assembled), as_version=4)
    executed, status, message, note = run_notebook(notebook, job, sandbox, deadline - time.monotonic())
    if status != Status.GRADED:
        record["status"], record["message"] = status, message
        if note:
            record.setdefault("notes", []).append(note)
    elif "grader_error" in executed.metadata:
        record["message"] = "the run stopped early (the kernel died or ignored an interrupt)"
    ran = executed["cells"] if executed is not None and len(executed["cells"]) == len(notebook.cells) else None
    cases = CASES.get(job.assignment, {})
    for index, cell in enumerate(notebook.cells):  # the instructor's cells: points, ids and kinds
        meta = integrity.nbgrader_meta(cell)
        if not meta.get("grade"):
            continue
        gid, points = meta["grade_id"], float(meta.get("points", 0))
        key = f"{Path(name).stem}:{gid}"
        if not integrity.is_test(cell):
            record["tests"][key] = Score(0.0, points, MANUAL)
            continue
        passed, why = cell_passed(ran[index]) if ran is not None else (False, "not run")
        problems = [] if passed else [f"test cell {why}"]
        if gid in cases and status != Status.TIMEOUT:
            remaining = deadline - time.monotonic()
            problems += (decide(job, sandbox, notebook, index, gid, hidden_code(source_nb, gid), remaining, content)
                         if remaining > 1 else ["not checked: the submission's time ran out"])
        record["tests"][key] = Score(credit(points, problems), points, AUTO)
        record["checks"][key] = problems
    if executed is None:
        return notebook
    for index, cell in enumerate(notebook.cells):  # outputs from the run, everything else ours
        if ran is not None and cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = ran[index].get("outputs", []), ran[index].get("execution_count")
    return notebook


def zero_scores(source_nb, name):
    """Every graded cell of a notebook at 0: what a notebook that cannot be run earns."""
    return {f"{Path(name).stem}:{integrity.nbgrader_meta(c)['grade_id']}":
            Score(0.0, float(integrity.nbgrader_meta(c).get("points", 0)), AUTO if integrity.is_test(c) else MANUAL)
            for c in source_nb["cells"] if integrity.nbgrader_meta(c).get("grade")}


def _read_notebook(path):
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
    nb = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("no list of cells")
    return nb


@contextlib.contextmanager
def _sandbox(job, scratch):
    """The submission's uid (as root) and cgroup, released whatever happens."""
    limits = job.limits
    with (Uid() if os.geteuid() == 0 else contextlib.nullcontext()) as uid:
        cgroup = Cgroup.create(f"course-grade-{uid or os.getpid()}-{os.urandom(4).hex()}",
                               limits.memory_mb * 1024 * 1024, limits.processes, cpus=limits.threads)
        try:
            yield Sandbox(scratch, limits, uid, tuple(str(f) for f in cgroup.folders) if cgroup else ())
        finally:
            if cgroup:
                cgroup.close()


UNREADABLE = (OSError, zipfile.BadZipFile, ValueError)  # what reading a submission may raise


def unreadable(record, err):
    return dict(record, status=Status.MALFORMED, message=f"cannot read the submission: {err}")


def grade_submission(job: Job):
    """Grade one student's submission. Never raises: a fault of the grader's own becomes an
    "error" record for this student alone. Returns (record, {notebook name: executed notebook as
    JSON text})."""
    names = list(job.sources)
    sources = {name: json.loads(job.sources[name]) for name in names}
    record, executed = dict(new_record(), tests=all_zero(sources)), {}
    scratch = Path(tempfile.mkdtemp(dir=job.scratch, prefix="student-"))
    deadline = time.monotonic() + job.limits.timeout
    try:
        try:
            missing, notes = extract_notebooks(Path(job.submission), names, scratch / "in")
        except UNREADABLE as err:
            return unreadable(record, err), executed
        record["integrity"] += list(job.notes) + notes
        if len(missing) == len(names):
            return dict(record, status=Status.MISSING, message=f"no {', '.join(missing)} in the submission"), executed
        with _sandbox(job, scratch) as sandbox:
            for name in names:
                if name in missing:
                    record["integrity"].append(f"{name}: notebook missing (scored 0)")
                    continue
                try:
                    content = hashlib.sha256((scratch / "in" / name).read_bytes()).hexdigest()
                    submitted = _read_notebook(scratch / "in" / name)
                except (ValueError, UnicodeDecodeError, OSError) as err:
                    record["integrity"].append(f"{name}: not a readable notebook ({err}); nothing could be graded")
                    record["status"] = Status.MALFORMED
                    continue
                result = grade_notebook(job, name, sources[name], json.loads(job.releases[name]),
                                        submitted, record, sandbox, deadline, content)
                if result is not None:
                    executed[name] = nbformat.writes(result)
        if record["status"] == Status.GRADED and not executed:
            record["status"] = Status.WRONG_ASSIGNMENT
    except Exception as err:  # noqa: BLE001 - the grader's own fault: this student alone is affected
        record = grader_failed(job, f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=5)}")
        executed = {}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return record, executed


def zero_record(job):
    """A record with every graded cell of the job's notebooks at 0: what a submission starts from."""
    return dict(new_record(), tests=all_zero({n: json.loads(t) for n, t in job.sources.items()}))


def grader_failed(job, note):
    """The record of a submission the grader itself failed on: this student alone, zero points."""
    return dict(zero_record(job), status=Status.ERROR, notes=[note],
                message="the grader failed on this submission; the instructor has the details")


def all_zero(sources):
    """{test: Score 0} of every graded cell of every notebook: what a submission starts from."""
    return {k: v for name, nb in sources.items() for k, v in zero_scores(nb, name).items()}
