"""Uids for submissions, one per submission being graded, never shared by two grading runs on the
same machine: a uid is taken by holding an exclusive lock on its file in a machine-wide folder (the
lock goes with the process that held it, whatever way it ends) and only while no process runs as it.
"""
import fcntl
import os
from pathlib import Path

FIRST_UID, COUNT = 61000, 4000
LOCKS = Path(os.environ.get("COURSE_GRADE_UID_LOCKS", "/run/course-grade/uids"))


class UidsExhausted(RuntimeError):
    """Every uid of the range is held by a grading run or still runs a process."""


def _in_use(uid):
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                return True
        except OSError:
            continue
    return False


class Uid:
    """A uid held until close(); use as a context manager."""

    def __init__(self, start=None):
        LOCKS.mkdir(parents=True, exist_ok=True, mode=0o700)
        offset = (start if start is not None else os.getpid()) % COUNT
        for i in range(COUNT):
            uid = FIRST_UID + (offset + i) % COUNT
            fd = os.open(LOCKS / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if _in_use(uid):  # left over from a run that was killed: not ours to reuse yet
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise UidsExhausted(f"all uids {FIRST_UID}..{FIRST_UID + COUNT - 1} are in use")

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.uid

    def __exit__(self, *exc):
        self.close()
