"""Grading on a Dask distributed cluster: `course-grade autograde A --scheduler tcp://HOST:8786`.

The main process (autograder.grading) does all it does without a cluster: it collects the
submissions, makes each student's seed, and it alone writes the gradebook, the results, the CSV
files and the feedback. Workers get one task per submission, through the scheduler:

- the job: the instructor's and the release's notebooks, the limits and the student's seed (never
  the course's secret: see grading.seed);
- the notebooks taken out of the submission by the main process (autograder.submission's rules),
  at most 64 MB each (MAX_MEMBER_BYTES). Workers never read the course directory, so worker
  machines need no shared file system. One task per worker thread is out at a time (the next
  leaves as soon as one finishes, before it is recorded), so the scheduler holds a few
  submissions, not the class, and a worker holds only the submission it is grading.

A worker grades in autograder.worker's jail, with the same limits, from a kit on its own disk
(COURSE_GRADE_WORKER_DIR, default ~/.cache/course-grade): the assignment's grading editions and
Numba caches, made once per version of the library and the notebooks (workers of one machine take
turns under a lock), after checking that the instructor's notebook earns full marks there too.
Every worker must run the grader, library, Python, NumPy and Numba the main process runs: the run
stops before grading if a present worker does not, and when a worker that joins later takes its
first submission.

Faults. A worker that dies holding a submission is the scheduler's to handle: it gives the task to
another worker (or recomputes a result the dead worker held), and each task's result is recorded
once, so no grade is lost or doubled. A task that took `distributed.scheduler.allowed-failures` + 1
workers down with it (3 + 1 by default) comes back as KilledWorker; it is given one more round (it
may have only shared a worker with the culprit), then recorded as an error for that student alone.
The scheduler going away, or no worker for WORKERS_SECONDS, stops the run with ClusterError; the
grades recorded so far stay, and the same command grades the rest.

Trust, by construction: the grader speaks to a cluster only over Dask's mutual TLS, with the
certificates of a CA of the course's own (`course-grade cluster-certs`, autograder.certs). A peer
without a certificate of that CA cannot join as a worker (it would see submissions and seeds, and
return results this process unpickles), nor pose as the scheduler; a tcp:// address is refused.
`--scheduler local` runs its LocalCluster on 127.0.0.1 with a key made for the run, held in memory.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from asyncio import CancelledError
from dataclasses import replace
from functools import cache
from pathlib import Path

from .certs import CA_FILE
from .cgroups import available_cores
from .edition import fingerprint
from .sandbox import shown_host_paths
from .submission import extract_notebooks
from .worker import (UNREADABLE, check_instructor, grade_submission, grader_failed,
                     prepare_editions, unreadable, zero_record)

WORKER_DIR = "COURSE_GRADE_WORKER_DIR"
LOCAL = "local"  # --scheduler local: an embedded LocalCluster
TLS = "tls://"
GRADER_CERT, GRADER_KEY = "grader.pem", "grader.key"  # the grading machine's, in a cluster-certs folder
CONNECT_SECONDS = 30
WORKERS_SECONDS = 60  # for a worker to join, at the start or when none is left
POLL_SECONDS = 5
NEEDS_DASK = "grading on a cluster needs Dask: pip install 'course-lib[dask]'"
STOP = "stop"  # first item of a task's answer when its worker cannot grade (see _stopping)
IN_FLIGHT_PER_SLOT = 1  # a worker's death counts against every task it holds


class ClusterError(RuntimeError):
    """The cluster cannot go on with this run (unreachable, no worker, a worker of another version,
    the scheduler gone). Grades recorded before it happened are kept."""


class WorkerMismatch(ClusterError):
    """A worker runs another version of the grader or the library."""


@cache
def version():
    """What grades depend on besides the notebooks: the library's files, the grader's code, and the
    versions of Python, NumPy (its random numbers make the grader's inputs) and Numba. Taken once:
    a package upgraded under a running worker does not change the code it runs."""
    import numba
    import numpy
    digest = hashlib.sha256(fingerprint(()).encode())
    for f in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    digest.update(f"{platform.python_version()} {numpy.__version__} {numba.__version__}".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------- on a worker
_ready = set()  # kits this worker process has checked


def kit_folder():
    base = Path(os.environ.get(WORKER_DIR) or Path.home() / ".cache" / "course-grade")
    return base / version()[:16]


def _local(limits, kit):
    """The limits with this machine's share of cores per submission (BLAS and Numba threads, and
    the cgroup's CPU quota): its cores over this worker's threads. A LocalCluster's workers (kit
    given: the course directory) keep the grading machine's limits, which already share its cores
    among them."""
    if kit:
        return limits
    try:
        from distributed import get_worker
        slots = get_worker().state.nthreads
    except (ImportError, ValueError):
        slots = 1
    return replace(limits, threads=max(1, available_cores() // slots))


@cache  # once per worker process: its keys do not move
def _keys_out_of_jail():
    """Refuse to grade where a submission's jail would show this worker's TLS key (a host folder
    every jail shows: the system's, the Python installation's): with it, anyone could join."""
    try:
        from distributed import get_worker
        security = get_worker().security
    except (ImportError, ValueError):
        return
    shown = [os.path.realpath(p) for p in shown_host_paths()]
    for role in ("worker", "client", "scheduler"):
        for name in (f"tls_{role}_key", f"tls_{role}_cert"):  # a cert file may hold its key
            path = getattr(security, name, None)
            if not path or "\n" in path:  # none, or held in memory (a LocalCluster's)
                continue
            real = os.path.realpath(path)
            inside = next((p for p in shown if real == p or real.startswith(p.rstrip("/") + "/")), None)
            if inside:
                raise ClusterError(f"this Dask worker's TLS key or certificate {path} is inside {inside}, which "
                                   f"every submission's jail shows: move the keys elsewhere (the worker's home)")


def prepare_kit(instructor, expected, kit=None):
    """The folder of this machine's kit for the instructor job's assignment, made if needed.
    Raises WorkerMismatch if this worker's version is not `expected`, InstructorNotebookError if
    the instructor's notebook fails here."""
    mine = version()
    if mine != expected:
        raise WorkerMismatch(f"a Dask worker on {os.uname().nodename} runs another version of course-lib's "
                             f"grader, library, NumPy, Numba or Python ({mine[:12]}, the grading machine "
                             f"{expected[:12]}): install the same versions on every worker")
    _keys_out_of_jail()
    folder = Path(kit) if kit else kit_folder()  # a LocalCluster's kit: the course directory
    key = (instructor.assignment,
           hashlib.sha256(json.dumps([instructor.sources, instructor.releases], sort_keys=True).encode()).hexdigest())
    if key in _ready:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".course-grade-kit.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker of this machine may be making it
        scratch = tempfile.mkdtemp(prefix="course-grading-")
        try:
            prepare_editions(folder, instructor.assignment)
            check_instructor(folder, replace(instructor, scratch=scratch, limits=_local(instructor.limits, kit)))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    _ready.add(key)
    return folder


def _stopping(err):
    """A task's answer when the run cannot go on. Tasks never raise: Dask would log the failed
    task with its arguments (a submission, a seed) where its HTTP routes and logs show them."""
    return STOP, f"{type(err).__name__}: {err}"


def kit_on_worker(instructor, expected, kit=None):
    """prepare_kit as a task: None, or (STOP, why)."""
    try:
        prepare_kit(instructor, expected, kit)
    except Exception as err:  # noqa: BLE001 - every reason is the main process's to report
        return _stopping(err)
    return None


def grade_on_worker(job, notebooks, instructor, expected, kit=None):
    """Grade one submission, given as {notebook name: bytes}; returns grade_submission's answer,
    or (STOP, why) if this worker cannot grade. kit: the folder of a LocalCluster's shared kit,
    None on a cluster's own worker."""
    try:
        folder_of_kit = prepare_kit(instructor, expected, kit)
    except Exception as err:  # noqa: BLE001
        return _stopping(err)
    scratch = Path(tempfile.mkdtemp(prefix="course-grading-"))
    try:
        folder = scratch / "submission"
        folder.mkdir()
        for name in job.sources:  # the names are the instructor's, never the submission's
            if name in notebooks:
                (folder / name).write_bytes(notebooks[name])
        return grade_submission(replace(job, submission=str(folder), scratch=str(scratch), course=str(folder_of_kit),
                                        limits=_local(job.limits, kit)))
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
            return job, None, unreadable(zero_record(job), err)
        notebooks = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
    return replace(job, submission="", notes=job.notes + tuple(notes)), notebooks, None


class _Run:
    """One run's connection to the cluster: submitting, waiting with an eye on the workers."""

    def __init__(self, client, scheduler):
        self.client, self.scheduler, self.idle_since = client, scheduler, None

    def gone(self, left):
        return ClusterError(f"the Dask scheduler at {self.scheduler} went away with {left} submissions "
                            f"ungraded; the grades recorded so far are kept: run the same command again "
                            f"to grade the rest")

    def slots(self, left):
        """The worker threads now in the cluster (workers may join or leave during a run)."""
        try:
            return sum(self.client.nthreads().values())
        except (OSError, CancelledError):
            raise self.gone(left) from None

    def wait(self, running, left):
        """The futures of `running` (an as_completed) done within POLL_SECONDS; ClusterError once
        no worker has been there for WORKERS_SECONDS (a task without a worker would wait for ever)."""
        deadline = time.monotonic() + POLL_SECONDS
        while time.monotonic() < deadline:
            batch = running.next_batch(block=False)
            if batch:
                return batch
            time.sleep(0.1)
        if self.slots(left):
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = time.monotonic()
        elif time.monotonic() - self.idle_since > WORKERS_SECONDS:
            raise ClusterError(f"no Dask worker has been connected to {self.scheduler} for {WORKERS_SECONDS} s, "
                               f"with {left} submissions ungraded; the grades recorded so far are kept: start "
                               f"workers and run the same command again")
        return []

    def outcome(self, future, left):
        """(result, None) or (None, the task's exception); ClusterError if the scheduler went away.
        A result a dead worker held is recomputed by the scheduler: result() waits for it."""
        try:
            return future.result(), None
        except CancelledError:
            raise self.gone(left) from None
        except Exception as err:  # noqa: BLE001 - the task's own exception, or the connection's
            if future.status != "error":  # not the task's: the scheduler or the connection went
                raise self.gone(left) from None
            return None, err


def _security(**fields):
    try:
        from distributed.security import Security
    except ImportError:
        raise ClusterError(NEEDS_DASK) from None
    return Security(**fields)


def client_security(scheduler, tls=None):
    """The Security this process connects to `scheduler` with: mutual TLS, nothing else. tls: a
    folder made by `course-grade cluster-certs` (its ca.pem, grader.pem and grader.key), else
    Dask's configuration (distributed.comm.tls.ca-file, .client.cert, .client.key)."""
    if not scheduler.startswith(TLS):
        raise ClusterError(f"refusing to grade on {scheduler}: a Dask cluster without TLS lets anyone who reaches "
                           f"it join as a worker, see submissions and return grades. Make keys with `course-grade "
                           f"cluster-certs DIR`, start the scheduler and workers with them (see the README), and "
                           f"pass --scheduler tls://HOST:PORT --tls DIR")
    if tls:
        files = {"tls_ca_file": Path(tls) / CA_FILE, "tls_client_cert": Path(tls) / GRADER_CERT,
                 "tls_client_key": Path(tls) / GRADER_KEY}
        missing = [str(f) for f in files.values() if not f.is_file()]
        if missing:
            raise ClusterError(f"no {', '.join(missing)}: --tls takes a folder made by `course-grade cluster-certs`")
        security = _security(require_encryption=True, **{k: str(f) for k, f in files.items()})
    else:
        security = _security(require_encryption=True)
    if not (security.tls_ca_file and security.tls_client_cert):
        raise ClusterError(f"no TLS keys to connect to {scheduler} with: pass --tls DIR (a folder made by "
                           f"`course-grade cluster-certs`) or set distributed.comm.tls.ca-file, .client.cert "
                           f"and .client.key in the Dask configuration")
    ca = security.tls_ca_file if "\n" in security.tls_ca_file else Path(security.tls_ca_file).read_text()
    if ca.count("BEGIN CERTIFICATE") != 1:
        raise ClusterError(f"the cluster's CA file {security.tls_ca_file} holds {ca.count('BEGIN CERTIFICATE')} "
                           f"certificates: it must be one CA of the course's own (`course-grade cluster-certs`), "
                           f"never a bundle, or whatever those CAs signed could join")
    return security


@contextlib.contextmanager
def local_cluster(workers, directory):
    """An embedded LocalCluster of `workers` single-thread processes on 127.0.0.1: mutual TLS with a
    key made for it and held in memory, no HTTP routes (a dashboard or /info page would show
    any local user the workers and their logs), its files in `directory` (private to this run)."""
    import dask
    from distributed import LocalCluster
    quiet = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}
    try:
        with dask.config.set(quiet), LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                  host="127.0.0.1", dashboard_address=None, security=True,
                                                  local_directory=str(directory)) as local:
            yield local
    except ImportError as err:  # Security.temporary needs cryptography
        raise ClusterError(f"--scheduler local needs {err.name or 'cryptography'}: "
                           f"pip install 'course-lib[dask]'") from None


def graded(jobs, scheduler, instructor, log=print, workers=1, security=None):
    """(job, (record, executed)) for every job, as they finish on the cluster at `scheduler` (over
    mutual TLS with `security`, from client_security), or on an embedded LocalCluster of `workers`
    single-thread processes if scheduler is LOCAL (its workers share this machine's disk: their kit
    is the course directory, already made; its key is made for the run and kept in memory)."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError(NEEDS_DASK) from None
    kit = None
    with contextlib.ExitStack() as stack:
        if scheduler == LOCAL:
            local = stack.enter_context(local_cluster(workers, Path(instructor.scratch)))
            scheduler, kit, security = local.scheduler_address, instructor.course, local.security
        elif security is None:  # never without TLS, whoever calls
            security = client_security(scheduler)
        try:
            client = stack.enter_context(Client(scheduler, timeout=CONNECT_SECONDS, security=security,
                                                set_as_default=False))
        except Exception as err:  # noqa: BLE001 - refused, timed out, or a TLS handshake that failed
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} over TLS with these keys: "
                               f"{type(err).__name__}: {err}") from None
        yield from _graded_with(client, scheduler, jobs, instructor, kit, log)


def _graded_with(client, scheduler, jobs, instructor, kit, log):
    from distributed import as_completed
    from distributed.scheduler import KilledWorker
    expected = version()
    run = _Run(client, scheduler)
    _ready_workers(run, instructor, expected, log, kit)
    pending, futures, deaths = list(jobs), {}, {}
    running = as_completed(loop=client.loop)

    def submit(job, shipped, notebooks):
        future = client.submit(grade_on_worker, shipped, notebooks, instructor, expected, kit, pure=False,
                               key=f"grade-{job.assignment}-{os.urandom(6).hex()}")
        futures[future] = job, shipped, notebooks
        running.add(future)

    def refill(left):
        """Ship submissions until every worker thread holds one; returns those that need no
        worker (unreadable: their records)."""
        ready = []
        room = IN_FLIGHT_PER_SLOT * max(1, run.slots(left)) - len(futures)
        while pending and room > 0:
            job = pending.pop(0)
            try:
                shipped, notebooks, record = ship(job)
            except Exception as err:  # noqa: BLE001 - as grade_submission would: this student alone
                ready.append((job, (grader_failed(job, f"cluster: reading the submission: {type(err).__name__}: {err}"), {})))
                continue
            if record is not None:
                ready.append((job, (record, {})))
            else:
                submit(job, shipped, notebooks)
                room -= 1
        return ready

    def settle(future, left):
        """(job, (record, executed)) of a finished task, or None when it was given another round."""
        job, shipped, notebooks = futures.pop(future)
        result, err = run.outcome(future, left)
        if err is None and result[0] == STOP:
            raise ClusterError(f"a Dask worker cannot grade: {result[1]}")
        if err is None:
            return job, result
        if isinstance(err, ImportError):
            raise ClusterError(f"a Dask worker cannot load the grader ({err}): install course-lib[dask], "
                               f"the same version, on every worker")
        if isinstance(err, KilledWorker) and job.student not in deaths:
            deaths[job.student] = err  # it may only have shared a dying worker with the culprit
            submit(job, shipped, notebooks)
            return None
        if isinstance(err, KilledWorker):
            return job, (grader_failed(job, f"cluster: every Dask worker that took this submission died, twice "
                                            f"over ({err})"), {})
        return job, (grader_failed(job, f"cluster: {type(err).__name__}: {err}"), {})  # the grader's own fault

    yield from refill(len(pending))
    while futures or pending:
        left = len(pending) + len(futures)
        ready, stop = [], None
        try:
            for future in run.wait(running, left) if futures else ():
                item = settle(future, left)
                if item is not None:
                    ready.append(item)
            ready += refill(left)  # the next submissions go out before these are recorded
        except ClusterError as err:
            stop = err
        yield from ready  # what finished is recorded, even when the run stops here
        if stop is not None:
            raise stop


def _ready_workers(run, instructor, expected, log, kit=None):
    """Wait for a worker, check every present worker's version, make their kits."""
    client, scheduler = run.client, run.scheduler
    try:
        client.wait_for_workers(1, timeout=WORKERS_SECONDS)
    except TimeoutError:
        raise ClusterError(f"no Dask worker joined {scheduler} in {WORKERS_SECONDS} s: start one with "
                           f"`dask worker {scheduler} --nthreads N` on each worker machine") from None
    try:
        versions = client.run(version)
    except Exception as err:  # noqa: BLE001 - a worker without the package, say
        raise ClusterError(f"a Dask worker cannot run the grader ({type(err).__name__}: {err}): install "
                           f"course-lib[dask], the same version, on every worker") from None
    others = sorted(address for address, v in versions.items() if v != expected)
    if others:
        raise WorkerMismatch(f"Dask workers {', '.join(others)} run another version of course-lib's grader, "
                             f"library, NumPy, Numba or Python than this machine: install the same versions "
                             f"on every worker")
    log(f"{len(versions)} Dask workers at {scheduler}; making their kits for {instructor.assignment}")
    from distributed import as_completed
    kits = as_completed([client.submit(kit_on_worker, instructor, expected, kit, workers=[address], pure=False,
                                       allow_other_workers=True, key=f"kit-{instructor.assignment}-{os.urandom(6).hex()}")
                         for address in versions], loop=client.loop)
    while not kits.is_empty():
        for future in run.wait(kits, 0):
            answer, err = run.outcome(future, 0)
            if err is not None or answer is not None:
                why = answer[1] if err is None else f"{type(err).__name__}: {err}"
                raise ClusterError(f"a Dask worker could not make its kit for {instructor.assignment}: {why}")
