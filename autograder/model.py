"""The grader's data: the limits of a grading run, one submission's job, a test's score, statuses."""
from dataclasses import dataclass, field
from typing import NamedTuple


class Status:
    """What happened to a submission as a whole (a record's "status")."""
    GRADED = "graded"
    REJECTED = "rejected"  # not graded at all: an invalid id, a linked folder, a folder/zip collision
    MISSING = "missing"  # none of the assignment's notebooks was found
    MALFORMED = "malformed"  # a notebook that cannot be read
    WRONG_ASSIGNMENT = "wrong assignment"
    TIMEOUT = "timeout"
    ERROR = "error"  # the grader could not finish this submission; the others are unaffected


AUTO, MANUAL = "auto", "manual"


class Score(NamedTuple):
    """One graded cell's score; stored in the results JSON as [score, max_score, kind]."""
    score: float
    max_score: float
    kind: str  # AUTO or MANUAL


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Memory and processes hold for the submission as a whole where
    cgroups are available (autograder.cgroups), else per process (rlimits)."""
    timeout: int = 600  # wall-clock seconds for the whole submission
    cell_timeout: int = 30
    cpu_seconds: int | None = None  # per process; default: the timeout
    memory_mb: int = 4096
    disk_mb: int = 1024  # everything the submission writes, /tmp included
    processes: int = 256
    file_mb: int = 64  # the largest single file
    threads: int = 1  # cores of a submission: its BLAS and Numba threads and (cgroups) its CPU quota

    @property
    def cpu(self):
        return self.cpu_seconds or self.timeout


@dataclass(frozen=True)
class Job:
    """One submission to grade, as a worker process receives it."""
    assignment: str
    student: str
    submission: str  # a folder or a zip
    digest: str  # of the submission's files: what changed, not when
    seed: str = field(repr=False)  # this student's part of the seed of the grader's inputs, made from the course's
    # secret by the main process: the secret itself never reaches a worker (autograder.grading.seed)
    sources: dict = field(repr=False)  # {notebook name: the instructor's notebook as JSON text}
    releases: dict = field(repr=False)  # {notebook name: the student release as JSON text}
    scratch: str  # a private folder of the grading run
    course: str  # the course directory (editions and Numba caches live there)
    limits: Limits = Limits()
    notes: tuple = ()  # from collecting the submission: which copy of a duplicated notebook was taken
    warm_up: bool = False  # the instructor's run: fill the Numba caches the students' runs reuse
