"""Execute one notebook with its kernel in the jail: the notebook arrives on stdin, the executed
notebook leaves on stdout.

    python -m autograder.execute < request.json > executed.ipynb

The request holds the notebook, the jail command that wraps the kernel (autograder.jail up to its
`--`) and the time limits. This runner is not in the jail: it runs as the grader's user, in the
grader's PID namespace, which the kernel cannot see, let alone reach (no /proc entry, no
descriptor, no signal gets there). The kernel talks to it over ZeroMQ on Unix sockets in the
jail's working folder, which the runner reaches through /proc/<jail>/root, once, before any code of
the submission runs (no reconnection: a path in the kernel's folder is the kernel's to change);
nothing the kernel sends is trusted beyond the cell outputs, each capped, and messages beyond
MAX_MESSAGE are dropped.
"""
import json
import os
import re
import signal
import sys
import time
import traceback

# This runner starts once per submission. jsonschema (under nbformat) imports rfc3987_syntax where
# it is installed (JupyterLab brings it), which builds a grammar for a second at import, for two
# format checkers ("iri") that nbformat's validation never uses: left out, a second per submission.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
import zmq  # noqa: E402
import zmq.asyncio  # noqa: E402
from jupyter_client.asynchronous import AsyncKernelClient  # noqa: E402
from jupyter_client.kernelspec import KernelSpec  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellTimeoutError, DeadKernelError  # noqa: E402

MAX_CELL_OUTPUT = 200_000  # characters kept per cell; the rest is replaced by a note
MAX_OUTPUT = 10_000_000  # characters kept in the whole notebook
SAFE_MIME = {"text/plain", "image/png", "image/jpeg", "image/gif"}
BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
RUNAWAY_ESCAPE = re.compile(r"\x1b\[[0-9;]{32,}[A-Za-z]?")
MAX_MESSAGE = 64 * 1024 * 1024  # bytes per ZeroMQ message from the kernel
SEND_TIMEOUT_MS = 20_000
KERNEL_DIR = "/home/student/.kernel"  # inside the jail


class JailedKernelClient(AsyncKernelClient):
    """No heartbeat channel: after every missed beat it makes its socket again, resolving the
    socket's path again (see JailedKernelManager.client). The runner watches the kernel's process
    instead (nbclient polls the manager's is_alive)."""

    def start_channels(self, shell=True, iopub=True, stdin=True, hb=False, control=True):
        super().start_channels(shell=shell, iopub=iopub, stdin=stdin, hb=False, control=control)


class JailedKernelManager(AsyncKernelManager):
    """A kernel started by autograder.jail, on ipc sockets in its working folder."""

    def __init__(self, jail, **kwargs):
        super().__init__(transport="ipc", ip=f"{KERNEL_DIR}/k", client_factory=JailedKernelClient, **kwargs)
        inner = f"{KERNEL_DIR}/kernel.json"
        self._kernel_spec = KernelSpec(
            argv=[*jail, "--copy", f"{{connection_file}}={inner}", "--",
                  sys.executable, "-m", "ipykernel_launcher", "-f", inner],
            display_name="jailed python", language="python", interrupt_mode="signal")
        self.jail_pid = self.namespace_init = None

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        await super()._async_launch_kernel(kernel_cmd, **kw)  # the jail gives the kernel its environment
        self.jail_pid = self.provisioner.pid
        self.namespace_init = _first_child(self.jail_pid)

    def client(self, **kwargs):
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        # a kernel that wrecked its own sockets must not block a send of ours for ever
        context.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
        context.setsockopt(zmq.LINGER, 0)
        # Connected once, never again: the runner (outside the jail, as the grader's user) resolves
        # a socket's path only while no code of the submission has run. The folder is the
        # kernel's: a socket closed and replaced by a link to a host socket would otherwise send
        # ZeroMQ's reconnects there (a student-style attack did), resolved from the runner's root.
        context.setsockopt(zmq.RECONNECT_IVL, -1)
        ip = f"/proc/{self.jail_pid}/root{KERNEL_DIR}/k"
        process = getattr(self.provisioner, "process", None)
        _wait_for_sockets([f"{ip}-{getattr(self, f'{name}_port')}" for name in CHANNELS],
                          alive=lambda: process is None or process.poll() is None)
        return super().client(ip=ip, context=context, **kwargs)

    def _connect_control_socket(self):
        """Never: the manager's own control socket would be connected to the kernel's path as the
        host sees it (/home/student/..., outside the jail), retried for the whole run. Interrupts
        are signals and the shutdown is immediate, so nothing is sent on it."""

    def cleanup_ipc_files(self):
        """Never on the host: the sockets are in the jail's folder, which goes with the jail (this
        would delete /home/student/.kernel/k-* of the host)."""

    def kill_namespace(self):
        """SIGKILL the namespace's PID 1 (and so everything in it), whatever the kernel did to its
        parent-death signal."""
        if self.namespace_init is not None:
            try:
                signal.pidfd_send_signal(self.namespace_init, signal.SIGKILL)
            except OSError:
                pass
            os.close(self.namespace_init)
            self.namespace_init = None


CHANNELS = ("shell", "iopub", "stdin", "control", "hb")
SOCKETS_WAIT = 120.0  # seconds for a kernel to bind its sockets (it starts in a jail, on a busy machine)


def _wait_for_sockets(paths, wait=SOCKETS_WAIT, alive=lambda: True):
    """Until every path is a Unix socket (not a link): the kernel has bound them all, so that the
    one connection of each channel, made right after, finds its socket. A jail that ended (the
    kernel could not start) ends the wait; its client then fails as a dead kernel's does."""
    import stat
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and alive():
        try:
            if all(stat.S_ISSOCK(os.lstat(p).st_mode) for p in paths):
                return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def _first_child(pid, wait=10.0):
    """A pidfd of the jail's first child (PID 1 of its namespace), taken while the jail lives."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = f.read().split()
            if children:
                return os.pidfd_open(int(children[0]))
        except OSError:
            return None
        time.sleep(0.01)
    return None


def _size(output):
    """Characters an output holds: text, data, or an error's name, value and traceback."""
    if "text" in output:
        return len(output["text"])
    if output.get("output_type") == "error":
        return sum(len(str(output.get(k, ""))) for k in ("ename", "evalue")) + \
            sum(len(str(line)) for line in output.get("traceback", []))
    return len(str(output.get("data", "")))


def _inert(output):
    """Keep only what renders as text or a picture: HTML, JavaScript, SVG, Markdown and widget
    outputs could run script in the instructor's formgrader or the student's feedback page. Their
    metadata goes too (nbconvert writes an image's width and height into the tag unquoted, and its
    filenames as its source), and a picture must be base64 (it is written into the tag as is)."""
    output["data"] = {k: v for k, v in output["data"].items()
                      if k in SAFE_MIME and (k == "text/plain" or BASE64.fullmatch(str(v)))}
    output["metadata"] = {}
    return bool(output["data"])


def _clean(output):
    """Drop runaway ANSI escape sequences (converting one with thousands of parameters to HTML
    takes nbconvert quadratic time)."""
    if "text" in output:
        output["text"] = RUNAWAY_ESCAPE.sub("", output["text"])
    if output.get("output_type") == "error":
        output["traceback"] = [RUNAWAY_ESCAPE.sub("", str(line)) for line in output.get("traceback", [])]
        output["evalue"] = RUNAWAY_ESCAPE.sub("", str(output.get("evalue", "")))


def _count(value):
    """An execution count as nbformat allows it (a kernel may send anything in its place)."""
    return value if type(value) is int and 0 <= value < 2**31 else None


def _text(value):
    """A text field as a string (nbformat's multi-line lists joined)."""
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    return value if isinstance(value, str) else str(value)


def _canonical(output):
    """The output rebuilt from its allowed fields only, each of its schema's type: a kernel chooses
    every field of what it sends, and one off-schema value (a string for a count, a dict in a
    traceback) makes nbconvert refuse the notebook, so the student's feedback and the class's
    feedback run fail. None for an output of no known type."""
    kind = output.get("output_type")
    if kind == "stream":
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return nbformat.v4.new_output("stream", name=name, text=_text(output.get("text", "")))
    if kind == "error":
        traceback = output.get("traceback")
        return nbformat.v4.new_output("error", ename=str(output.get("ename", "")), evalue=str(output.get("evalue", "")),
                                      traceback=[str(line) for line in traceback] if isinstance(traceback, list) else [])
    if kind in ("display_data", "execute_result"):
        data = output.get("data")
        data = {str(k): _text(v) for k, v in data.items()} if isinstance(data, dict) else {}
        fields = {"execution_count": _count(output.get("execution_count"))} if kind == "execute_result" else {}
        return nbformat.v4.new_output(kind, data=data, metadata={}, **fields)
    return None


def inert_outputs(nb):
    """nb with every output rebuilt to its schema, cleaned and made inert, as GraderClient keeps
    them, and every cell's execution count an integer or None (the main process applies it again
    to what a worker sends back)."""
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        cell["execution_count"] = _count(cell.get("execution_count"))
        kept = []
        for out in cell.get("outputs", []):
            out = _canonical(out) if isinstance(out, dict) else None
            if out is None:
                continue
            _clean(out)
            if "data" in out and not _inert(out):
                continue
            kept.append(out)
        cell["outputs"] = kept
    return nb


def _error(name, text):
    return nbformat.v4.new_output("error", ename=name, evalue=text, traceback=[])


class GraderClient(NotebookClient):
    """nbclient with three changes. Each cell keeps at most MAX_CELL_OUTPUT characters of output.
    A cell that runs out of time is interrupted, recorded as an error, and the run goes on; but if
    the next cell times out as well (the interrupt was swallowed, so the kernel never came back),
    the run stops there: the cells not run score nothing, the earlier ones keep theirs. A cell
    during which the kernel died says so."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.truncated = set()  # indices of cells whose output reached the cap
        self.total = 0  # characters of output kept in the whole notebook
        self.timeouts_in_a_row = 0

    def output(self, outs, msg, display_id, cell_index):
        if cell_index in self.truncated or self.total > MAX_OUTPUT:
            return None  # over the cap already: drop the rest
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return None
        _clean(out)
        if "data" in out and not _inert(out):
            outs.remove(out)
            return None
        budget = MAX_CELL_OUTPUT - sum(_size(o) for o in outs if o is not out)
        size = _size(out)
        if size > budget:
            if "text" in out:
                out["text"] = out["text"][:max(budget, 0)]
            elif out.get("output_type") == "error":
                out["evalue"], out["traceback"] = str(out.get("evalue"))[:1000], []
            else:
                outs.remove(out)
            outs.append(nbformat.v4.new_output("stream", name="stdout", text=(
                f"\n[output truncated by the grader after {MAX_CELL_OUTPUT:,} characters]\n")))
            self.truncated.add(cell_index)
        self.total += min(size, max(budget, 0))
        return out

    def _update_display_id(self, display_id, msg):
        """An update replaces the data of every output shown under its id: it counts like that
        many new outputs, and one over the caps is dropped."""
        if not set(msg.get("content", {}).get("data", {})) <= SAFE_MIME:
            msg["content"]["data"] = {k: v for k, v in msg["content"]["data"].items() if k in SAFE_MIME}
        shown = sum(len(v) for v in self._display_id_map.get(display_id, {}).values())
        size = len(str(msg.get("content", {}).get("data", ""))) * max(shown, 1)
        if size > MAX_CELL_OUTPUT or self.total + size > MAX_OUTPUT:
            return
        self.total += size
        super()._update_display_id(display_id, msg)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        timeouts = self.timeouts_in_a_row
        try:
            result = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            cell.outputs.append(_error("DeadKernelError", "the kernel died while running this cell"))
            raise
        if self.timeouts_in_a_row == timeouts:
            self.timeouts_in_a_row = 0  # this cell finished in time
        return result

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timeouts_in_a_row += 1
        if cell is not None:
            cell.outputs.append(_error("TimeoutError", (
                f"the cell ran longer than {timeout} s and was interrupted"
                if self.timeouts_in_a_row == 1 else "not run: the kernel ignored the interrupt "
                "of the cell before, so the run stopped")))
        if self.timeouts_in_a_row > 1:
            raise CellTimeoutError.error_from_timeout_and_cell(
                "the kernel did not come back after an interrupt", timeout, cell)
        return await super()._async_handle_timeout(timeout, cell)


def main():
    request = json.loads(sys.stdin.read())
    notebook = nbformat.reads(json.dumps(request["notebook"]), as_version=4)
    result = os.fdopen(os.dup(1), "w")  # private: the kernel and its jail get /dev/null instead
    sys.stderr = os.fdopen(os.dup(2), "w")
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(quiet, fd)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that `finally` kills the namespace
    km = JailedKernelManager(request["jail"])
    if request.get("connection_file"):
        km.connection_file = request["connection_file"]
    client = GraderClient(notebook, km=km, timeout=request["cell_timeout"],
                          startup_timeout=request.get("startup_timeout", 120),
                          kernel_name="python3", allow_errors=True, record_timing=False,
                          interrupt_on_timeout=True,
                          error_on_timeout={"ename": "TimeoutError", "evalue": "interrupted",
                                            "traceback": []},
                          shutdown_kernel="immediate")
    try:
        client.execute()
    except Exception as err:  # noqa: BLE001 - a dead kernel or a swallowed interrupt: keep what ran
        notebook.metadata["grader_error"] = f"{type(err).__name__}: {str(err)[-500:]}"
        traceback.print_exc(limit=3)
    finally:
        km.kill_namespace()
    result.write(nbformat.writes(inert_outputs(notebook)))
    result.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
