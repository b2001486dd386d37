"""A Dask worker preload for the cluster tests (`dask worker --preload tests/dask_announce.py`):
before grading a submission, the worker process leaves the file <COURSE_TEST_ANNOUNCE>/<student>.<pid>,
so that a test can kill the very process that holds a given student's submission."""
import os
from pathlib import Path

from autograder import cluster

# a worker may run its preload more than once: wrap the grader's function, never the wrapper
_grade_on_worker = cluster.__dict__.setdefault("unannounced_grade_on_worker", cluster.grade_on_worker)


def announced(job, *args):
    Path(os.environ["COURSE_TEST_ANNOUNCE"], f"{job.student}.{os.getpid()}").touch()
    return _grade_on_worker(job, *args)


cluster.grade_on_worker = announced  # tasks name the function; this process now finds this one
