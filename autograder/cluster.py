"""Grading on a Dask distributed cluster: `course-grade autograde A --scheduler tcp://HOST:8786`.

The main process (autograder.grading) does all it does without a cluster: it collects the
submissions, makes each student's seed, and it alone writes the gradebook, the results, the CSV
files and the feedback. Workers get one task per submission, through the scheduler:

- the job: the instructor's and the release's notebooks, the limits and the student's seed (never
  the course's secret: see grading.seed);
- the notebooks taken out of the submission by the main process (autograder.submission's rules),
  at most 64 MB each (MAX_MEMBER_BYTES). Workers never read the course directory, so worker
  machines need no shared file system. At most IN_FLIGHT_PER_SLOT tasks per worker thread are
  out at once, so the scheduler holds a few submissions, not the class.

A worker grades in autograder.worker's jail, with the same limits, from a kit on its own disk
(COURSE_GRADE_WORKER_DIR, default ~/.cache/course-grade): the assignment's grading editions and
Numba caches, made once per version of the library and the notebooks (workers of one machine take
turns under a lock), after checking that the instructor's notebook earns full marks there too.
Every worker must run the grader and library the main process runs; the run stops before grading
if one does not.

Faults. A worker that dies holding a submission is the scheduler's to handle: it gives the task to
another worker, and each task's result comes back once, so no grade is lost or doubled. A task
that took `distributed.scheduler.allowed-failures` + 1 workers down with it (3 + 1 by default)
ends as an error for that student alone. The scheduler going away stops the run with ClusterError;
the grades recorded so far stay, and the same command grades the rest.
"""
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from .edition import fingerprint
from .model import Status
from .submission import extract_notebooks
from .worker import (UNREADABLE, InstructorNotebookError, all_zero, check_instructor, grade_submission,
                     new_record, prepare_editions, unreadable)

WORKER_DIR = "COURSE_GRADE_WORKER_DIR"
CONNECT_SECONDS = 30
WORKERS_SECONDS = 60  # for the first worker to join
IN_FLIGHT_PER_SLOT = 2


class ClusterError(RuntimeError):
    """The cluster cannot go on with this run (unreachable, no worker, a worker of another version,
    the scheduler gone). Grades recorded before it happened are kept."""


class WorkerMismatch(ClusterError):
    """A worker runs another version of the grader or the library."""


def version():
    """What grades depend on besides the notebooks: the library's files and the grader's code."""
    digest = hashlib.sha256(fingerprint(()).encode())
    for f in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- on a worker
_ready = set()  # kits this worker process has checked


def kit_folder():
    base = Path(os.environ.get(WORKER_DIR) or Path.home() / ".cache" / "course-grade")
    return base / version()[:16]


def _local(limits):
    """The limits with this machine's share of cores per submission as BLAS and Numba threads."""
    try:
        from distributed import get_worker
        slots = get_worker().state.nthreads
    except (ImportError, ValueError):
        slots = 1
    return replace(limits, threads=max(1, (os.cpu_count() or 1) // slots))


def prepare_kit(instructor, expected):
    """The folder of this machine's kit for the instructor job's assignment, made if needed.
    Raises WorkerMismatch if this worker's version is not `expected`, InstructorNotebookError if
    the instructor's notebook fails here."""
    mine = version()
    if mine != expected:
        raise WorkerMismatch(f"a worker on {os.uname().nodename} runs "
                             f"another version of course-lib's grader or library ({mine[:12]}, the main "
                             f"process {expected[:12]}): install the same version on every worker")
    folder = kit_folder()
    key = (instructor.assignment, hashlib.sha256(json.dumps(instructor.sources, sort_keys=True).encode()).hexdigest())
    if key in _ready:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker of this machine may be making it
        scratch = tempfile.mkdtemp(prefix="course-grading-")
        try:
            prepare_editions(folder, instructor.assignment)
            check_instructor(folder, replace(instructor, scratch=scratch, limits=_local(instructor.limits)))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    _ready.add(key)
    return folder


def grade_on_worker(job, notebooks, instructor, expected):
    """Grade one submission, given as {notebook name: bytes}; returns grade_submission's answer."""
    kit = prepare_kit(instructor, expected)
    scratch = Path(tempfile.mkdtemp(prefix="course-grading-"))
    try:
        folder = scratch / "submission"
        folder.mkdir()
        for name in job.sources:  # the names are the instructor's, never the submission's
            if name in notebooks:
                (folder / name).write_bytes(notebooks[name])
        return grade_submission(replace(job, submission=str(folder), scratch=str(scratch), course=str(kit),
                                        limits=_local(job.limits)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------- in the main process
def ship(job):
    """(the job as a worker gets it, {notebook name: bytes}, None), or (job, None, record) for a
    submission that cannot be read (the record grade_submission would make)."""
    with tempfile.TemporaryDirectory(dir=job.scratch) as tmp:
        try:
            missing, notes = extract_notebooks(Path(job.submission), list(job.sources), Path(tmp))
        except UNREADABLE as err:
            return job, None, unreadable(_zero_record(job), err)
        notebooks = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
    return replace(job, submission="", notes=job.notes + tuple(notes)), notebooks, None


def _zero_record(job):
    return dict(new_record(), tests=all_zero({n: json.loads(t) for n, t in job.sources.items()}))


def _error(job, note):
    return dict(_zero_record(job), status=Status.ERROR, notes=[note],
                message="the grader failed on this submission; the instructor has the details"), {}


def graded(jobs, scheduler, instructor, log=print):
    """(job, (record, executed)) for every job, as they finish on the cluster at `scheduler`."""
    try:
        from distributed import Client, as_completed
        from distributed.scheduler import KilledWorker
    except ImportError:
        raise ClusterError("grading on a cluster needs Dask: pip install 'course-lib[dask]'") from None
    try:
        client = Client(scheduler, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    expected = version()
    gone = ("the Dask scheduler at {} went away with {} submissions ungraded; the grades recorded so "
            "far are kept: run the same command again to grade the rest")
    with client:
        slots = _ready_workers(client, scheduler, instructor, expected, log)
        pending, futures = list(jobs), {}
        running = as_completed(loop=client.loop)

        def submit_more():
            while pending and len(futures) < IN_FLIGHT_PER_SLOT * slots:
                job = pending.pop(0)
                shipped, notebooks, record = ship(job)
                if record is not None:
                    return job, (record, {})
                future = client.submit(grade_on_worker, shipped, notebooks, instructor, expected, pure=False,
                                       key=f"grade-{job.assignment}-{os.urandom(6).hex()}")
                futures[future] = job
                running.add(future)
            return None

        while pending or futures:
            unread = submit_more()
            if unread is not None:
                yield unread
                continue
            future = next(running)
            job = futures.pop(future)
            if future.status == "finished":
                yield job, future.result()
                continue
            if future.status == "cancelled":
                raise ClusterError(gone.format(scheduler, len(pending) + len(futures) + 1))
            err = future.exception()
            if isinstance(err, (ClusterError, InstructorNotebookError)):
                raise ClusterError(str(err))
            if isinstance(err, KilledWorker):
                yield job, _error(job, f"cluster: every Dask worker that took this submission died ({err})")
            else:  # the grader's own fault outside grade_submission: this student alone
                yield job, _error(job, f"cluster: {type(err).__name__}: {err}")


def _ready_workers(client, scheduler, instructor, expected, log):
    """Wait for a worker, make every present worker's kit; returns the workers' threads in all."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_SECONDS)
    except TimeoutError:
        raise ClusterError(f"no Dask worker joined {scheduler} in {WORKERS_SECONDS} s: start one with "
                           f"`dask worker {scheduler} --nthreads N` on each worker machine") from None
    workers = client.scheduler_info(n_workers=-1)["workers"]
    log(f"{len(workers)} Dask workers at {scheduler}; making their kits for {instructor.assignment}")
    kits = [client.submit(prepare_kit, instructor, expected, workers=[address], allow_other_workers=True,
                          pure=False, key=f"kit-{instructor.assignment}-{os.urandom(6).hex()}")
            for address in workers]
    for future in kits:
        try:
            future.result()
        except (ClusterError, InstructorNotebookError) as err:
            raise ClusterError(str(err)) from None
    return sum(w["nthreads"] for w in workers.values())
