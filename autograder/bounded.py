"""Run a command whose output is untrusted: stdout is read up to a limit (past it, or past the
timeout, the command is stopped), stderr keeps only its end. Nothing it prints can exhaust the
grader's memory or hang it."""
import os
import resource
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

STDERR_TAIL = 4000


@dataclass
class Outcome:
    returncode: int | None  # None: stopped (timeout or too much output)
    stdout: bytes
    stderr: str
    timed_out: bool = False
    overflow: bool = False


def run(cmd, data=b"", timeout=60, limit=256 * 1024 * 1024, grace=5, memory_bytes=None,
        then=None, on_ready=None, deadline=None):
    """Run cmd in a session of its own with `data` on stdin. On a timeout or an overflow it gets
    SIGTERM, then SIGKILL after `grace` seconds. memory_bytes bounds its address space.

    then=(more, seconds): a two-step exchange. The command gets `timeout` seconds to write its
    first byte of stdout (it is ready; it stays in stdout); then on_ready() is called, `more` is
    written and stdin closed, and the command gets min(seconds, deadline - now) seconds more
    (deadline: time.monotonic()'s clock). So nothing in `more` reaches it before its second clock
    starts. Stdin is written by a thread of its own: a command that never reads blocks nobody."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    if memory_bytes:
        try:
            resource.prlimit(proc.pid, resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        except (ProcessLookupError, PermissionError):
            pass
    chunks, tail, state = [], bytearray(), {"size": 0, "overflow": False, "more": None}
    first = threading.Event()  # stdout's first byte, or its end
    go = threading.Event()  # the writer may send state["more"] (None: nothing) and close

    def read_stdout():
        try:
            while chunk := proc.stdout.read1(1 << 16):
                state["size"] += len(chunk)
                if state["size"] > limit:
                    state["overflow"] = True
                    _stop(proc, grace)
                    break
                chunks.append(chunk)
                first.set()
            proc.stdout.close()
        finally:
            first.set()

    def read_stderr():
        while chunk := proc.stderr.read1(1 << 16):
            tail.extend(chunk)
            del tail[:-STDERR_TAIL]
        proc.stderr.close()

    def write_stdin():
        try:
            proc.stdin.write(data)
            if then is not None:
                proc.stdin.flush()
                go.wait()
                if state["more"] is not None:
                    proc.stdin.write(state["more"])
            proc.stdin.close()
        except (OSError, ValueError):  # it stopped reading, or ended
            pass

    threads = [threading.Thread(target=f, daemon=True) for f in (read_stdout, read_stderr, write_stdin)]
    for t in threads:
        t.start()
    timed_out, started = False, time.monotonic()
    try:
        if then is None:
            proc.wait(timeout)
        elif _first_byte(proc, first, timeout) and chunks and not state["overflow"]:
            if on_ready is not None:
                on_ready()
            more, seconds = then
            state["more"] = more
            go.set()
            if deadline is not None:
                seconds = min(seconds, deadline - time.monotonic())
            proc.wait(max(0, seconds))
        else:  # it ended (or closed stdout) without a byte: what is left of `timeout` to end
            go.set()
            proc.wait(max(0, started + timeout - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop(proc, grace)
    except BaseException:  # on_ready failed: the command does not go on without it
        _stop(proc, grace)
        raise
    finally:
        go.set()  # a writer still waiting ends (its pipe is closed or broken by now)
    for t in threads[:2]:
        t.join(grace + 1)
    code = None if timed_out or state["overflow"] else proc.returncode
    return Outcome(code, b"".join(chunks), tail.decode(errors="replace"), timed_out, state["overflow"])


def _first_byte(proc, first, timeout):
    """Whether stdout gave its first byte (or ended), or the command ended, within timeout."""
    end = time.monotonic() + timeout
    while not first.wait(max(0, min(0.05, end - time.monotonic()))):
        if proc.poll() is not None:
            return True
        if time.monotonic() >= end:
            return False
    return True


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
