"""Run a command whose output is untrusted: stdout is read up to a limit (past it, or past the
timeout, the command is stopped), stderr keeps only its end. Nothing it prints can exhaust the
grader's memory or hang it."""
import os
import resource
import signal
import subprocess
import threading
from dataclasses import dataclass

STDERR_TAIL = 4000


@dataclass
class Outcome:
    returncode: int | None  # None: stopped (timeout or too much output)
    stdout: bytes
    stderr: str
    timed_out: bool = False
    overflow: bool = False


def run(cmd, data=b"", timeout=60, limit=256 * 1024 * 1024, grace=5, memory_bytes=None):
    """Run cmd in a session of its own with `data` on stdin. On a timeout or an overflow it gets
    SIGTERM, then SIGKILL after `grace` seconds. memory_bytes bounds its address space."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    if memory_bytes:
        try:
            resource.prlimit(proc.pid, resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        except (ProcessLookupError, PermissionError):
            pass
    chunks, tail, state = [], bytearray(), {"size": 0, "overflow": False}

    def read_stdout():
        while chunk := proc.stdout.read1(1 << 16):
            state["size"] += len(chunk)
            if state["size"] > limit:
                state["overflow"] = True
                _stop(proc, grace)
                break
            chunks.append(chunk)
        proc.stdout.close()

    def read_stderr():
        while chunk := proc.stderr.read1(1 << 16):
            tail.extend(chunk)
            del tail[:-STDERR_TAIL]
        proc.stderr.close()

    readers = [threading.Thread(target=f, daemon=True) for f in (read_stdout, read_stderr)]
    for r in readers:
        r.start()
    try:
        proc.stdin.write(data)
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    timed_out = False
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop(proc, grace)
    for r in readers:
        r.join(grace + 1)
    code = None if timed_out or state["overflow"] else proc.returncode
    return Outcome(code, b"".join(chunks), tail.decode(errors="replace"), timed_out, state["overflow"])


def _stop(proc, grace):
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
