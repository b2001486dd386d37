"""The adversarial corpus: submissions of assignment 02_svm (test-naive 3 points, test-vectorized 3,
test-train 2) that attack the grader, each with the autograded score it must get, its status, and
what the integrity report must say. The attacks are written into the answer cells (the only cells
the grader runs as the student wrote them) or into the notebook's structure.

Most attacks pair wrong (or missing) code with a trick meant to make it pass: the score is what the
honest part of the submission earns, never more. Some pair right code with an attack on the grader
itself (its files, processes, limits, feedback): the score must stay full and the damage nil.
"""
import copy
from dataclasses import dataclass, field

from notebook_tools import blank, grade_id, solved, source

NAME = "02_svm"


@dataclass
class Entry:
    student: str
    notebook: object  # a notebook dict, or raw text for a corrupted file
    score: float
    status: str = "graded"
    findings: list = field(default_factory=list)  # substrings of the integrity report
    failed: dict = field(default_factory=dict)  # test id -> substring of the reason it failed
    hangs: bool = False  # graded apart, with a short cell time limit: the hang is the point


def answer(nb, gid, code):
    """nb with the answer cell `gid` replaced by code."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if grade_id(cell) == gid and cell["cell_type"] == "code":
            cell["source"] = code
    return nb


def solution(gid):
    return next(source(c) for c in solved(NAME)["cells"] if grade_id(c) == gid)


def after(nb, gid, code):
    """nb with code appended to the answer cell gid (runs when the cell is defined)."""
    return answer(nb, gid, solution(gid) + "\n" + code)


def edit(nb, gid, change):
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if grade_id(cell) == gid:
            change(cell)
    return nb


def pasted_twice(nb, gid):
    """The release's stub of answer cell gid, then the solution in a copy of the same cell below."""
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb["cells"]):
        if grade_id(cell) == gid and cell["cell_type"] == "code":
            stub = copy.deepcopy(next(c for c in blank(NAME)["cells"] if grade_id(c) == gid))
            nb["cells"].insert(i, stub)
            return nb
    raise KeyError(gid)


def without(nb, gid):
    nb = copy.deepcopy(nb)
    nb["cells"] = [c for c in nb["cells"] if grade_id(c) != gid]
    return nb


# The naive loss, correct for tiny weights (so the visible checks on the initial loss pass) but
# with a zero gradient: wrong, whatever the kernel is told.
WRONG_NAIVE = '''
def svm_loss_naive(W, X, y, reg):
    scores = X @ W
    margins = np.maximum(0, scores - scores[np.arange(len(y)), y][:, None] + 1)
    margins[np.arange(len(y)), y] = 0
    return W.dtype.type(margins.sum() / len(y) + reg * np.sum(W * W)), np.zeros_like(W)
'''

MONKEYPATCH_CHECKS = WRONG_NAIVE + '''
checks.check_close = lambda *a, **k: print("ok")
checks.check_gradient = lambda *a, **k: print("gradient ok")
checks.check_shape = checks.check_dtype = lambda *a, **k: None
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
'''

# abs() is what the visible test of the initial loss uses; patching a builtin breaks whatever runs
# after it in the same interpreter, here the student's own train in its decisive run (the naive
# cell runs before it): an attack that can only cost its author points.
PATCHED_BUILTINS = WRONG_NAIVE + '''
import builtins
builtins.abs = lambda x: 0
'''

LYING_OBJECTS = '''
class Liar(float):
    """Equal to everything, smaller than everything, its own difference is zero."""
    shape = ()
    dtype = np.dtype(np.float64)
    def __eq__(self, other): return True
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __gt__(self, other): return False
    def __sub__(self, other): return 0.0
    __rsub__ = __sub__
    def __abs__(self): return 0.0
    def __array__(self, dtype=None, copy=None): return np.array([self], dtype=object)


def svm_loss_vectorized(W, X, y, reg):
    return Liar(0.0), Liar(0.0)
'''

INFINITE_LOOP = '''
def svm_loss_naive(W, X, y, reg):
    while True:
        pass
'''

SWALLOWED_INTERRUPT = '''
def train(loss_fn, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0):
    import time
    while True:
        try:
            time.sleep(0.1)
        except KeyboardInterrupt:
            pass


def predict(W, X):
    return np.argmax(X @ W, axis=1)
'''

KERNEL_KILL = '''
def train(loss_fn, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0):
    import os
    os._exit(3)


def predict(W, X):
    return np.argmax(X @ W, axis=1)
'''

SIGKILL = '''
def train(loss_fn, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0):
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)


def predict(W, X):
    return np.argmax(X @ W, axis=1)
'''

MEMORY_BOMB = '''
_hoard = []
def svm_loss_naive(W, X, y, reg):
    while True:
        _hoard.append(np.ones(10 ** 8))
'''

HUGE_OUTPUT = '''
for _ in range(200):
    print("x" * 100_000)
'''

FORK_BOMB = '''
import os, time
_children = 0
try:
    for _ in range(2000):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        _children += 1
except OSError:
    pass
print(f"forks stopped after {_children} children")
'''

# Reads that must all fail; if any works, the naive loss is computed correctly, as a student who
# found the solutions would. The paths come from the test (the course, the other submissions, the
# instructor's folder, and the grader's secret).
SNOOP = '''
def _snoop(paths):
    found = []
    for path in paths:
        try:
            import os
            found.append(open(path, "rb").read(100) if os.path.isfile(path) else os.listdir(path))
        except OSError:
            pass
    return found


if _snoop({paths!r}):
''' + "".join("    " + line + "\n" for line in solution("naive").splitlines()) + '''else:
    def svm_loss_naive(W, X, y, reg):
        raise NotImplementedError("nothing to copy")
'''

VANDAL = '''
import os, shutil
for _path in {paths!r}:
    for _action in (lambda p: open(p, "w").write("vandalised"), os.remove, shutil.rmtree):
        try:
            _action(_path)
        except Exception:
            pass
'''

NETWORK = '''
def _online(port):
    import socket, urllib.request
    for target in (("1.1.1.1", 80), ("127.0.0.1", port)):
        try:
            socket.create_connection(target, timeout=2).close()
            return True
        except OSError:
            pass
    try:
        urllib.request.urlopen("http://example.com", timeout=2)
        return True
    except Exception:
        return False


if _online({port}):
''' + "".join("    " + line + "\n" for line in solution("naive").splitlines()) + '''else:
    def svm_loss_naive(W, X, y, reg):
        raise NotImplementedError("no network")
'''

REFERENCE = '''
from course_lib.classifiers.linear import svm_loss_vectorized
'''

# ---------------------------------------------------------------- round 2: the interpreter is theirs
# Wrong code, then a trick in the same interpreter that is meant to make the grader accept it.
SETTRACE = WRONG_NAIVE + '''
import sys
def _swap(frame, event, arg):
    """On every return of the student's loss, try to hand back the library's answer instead."""
    if event == "return" and frame.f_code.co_name == "svm_loss_naive":
        try:
            import course_lib.classifiers.linear as lin
            W, X, y, reg = (frame.f_locals[k] for k in ("W", "X", "y", "reg"))
            frame.f_locals["_real"] = lin.svm_loss_naive(W, X, y, reg)
        except Exception:
            pass
    return _swap
sys.settrace(_swap)
sys.setprofile(lambda *a: None)
'''

TRANSFORMER = WRONG_NAIVE + '''
def _no_checks(lines):
    """Every later cell that checks anything becomes `pass`: the visible tests and the grader's."""
    return ["pass\\n"] if any("checks." in line for line in lines) else lines
get_ipython().input_transformers_post.append(_no_checks)
'''

CUSTOM_EXC = '''
def svm_loss_naive(W, X, y, reg):
    raise NotImplementedError("not done")
get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
'''

SYS_MODULES = '''
import importlib, sys
_lin = sys.modules.get("course_lib.classifiers.linear") or importlib.import_module("course_lib.classifiers.linear")
svm_loss_naive = _lin.svm_loss_naive
sys.modules["course_lib.checks"].check_close = lambda *a, **k: print("ok")
'''

GC_OBJECTS = '''
import gc
def svm_loss_vectorized(W, X, y, reg):
    for obj in gc.get_objects():
        if callable(obj) and getattr(obj, "__module__", "").startswith("course_lib") \\
                and getattr(obj, "__name__", "") == "svm_loss_vectorized":
            return obj(W, X, y, reg)
    import course_lib.classifiers.linear  # not loaded yet: load it, then look again
    return svm_loss_vectorized(W, X, y, reg)
'''

GLOBALS_REFERENCE = '''
_imp = checks.check_close.__globals__["__builtins__"]["__import__"]
def svm_loss_naive(W, X, y, reg, _mod=_imp("course_lib.classifiers.linear", fromlist=["x"])):
    return _mod.svm_loss_naive(W, X, y, reg)
'''

FAKE_TRAIN = '''
def train(loss_fn, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0):
    """No SGD: least squares on one-hot targets and a made-up, falling loss curve."""
    W = np.linalg.lstsq(X, np.eye(int(np.max(y)) + 1)[y], rcond=None)[0].astype(X.dtype)
    return W, list(np.linspace(1.0, 0.01, num_iters))


def predict(W, X):
    return np.argmax(X @ W, axis=1)
'''

# The answers travel on a pipe the student's process holds: flood it, lie in it, close it.
ANSWER_STREAM = WRONG_NAIVE + '''
import os, struct
for _fd in range(3, 64):
    try:
        os.set_blocking(_fd, False)  # spoil, do not hang: a full pipe would only stop this run
        os.write(_fd, b"CGH1" + struct.pack("<Q", 10 ** 12) + b"{" * 1000)
        os.write(_fd, b"\\x93NUMPY" + b"\\x01\\x00" + b"x" * 100_000)
    except OSError:
        pass
'''

OLD_ANSWER_FILES = '''
import os
os.makedirs(".grading", exist_ok=True)
for _name in ("test-naive.out.npz", "test-vectorized.out.npz", "test-train.out.npz"):
    try:
        os.mkfifo(os.path.join(".grading", "fifo-" + _name))
        os.symlink("/dev/zero", os.path.join(".grading", _name))
    except OSError:
        pass
'''

# ---------------------------------------------------------------- round 2: the grader's processes and files
FORGE = WRONG_NAIVE + '''
import json, os, signal
_forged = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
_seen = []
for _pid in os.listdir("/proc"):
    if not _pid.isdigit() or int(_pid) == os.getpid():
        continue
    _seen.append(int(_pid))
    try:
        _pidfd = os.pidfd_open(int(_pid))
        for _fd in range(0, 32):
            try:
                import ctypes
                _got = ctypes.CDLL(None, use_errno=True).syscall(438, _pidfd, _fd, 0)  # pidfd_getfd
                if _got >= 0:
                    os.write(_got, _forged.encode())
            except Exception:
                pass
    except OSError:
        pass
    for _fd in range(0, 32):
        try:
            with open(f"/proc/{_pid}/fd/{_fd}", "w") as _f:
                _f.write(_forged)
        except OSError:
            pass
print("other processes seen:", sorted(_seen))
'''

PROC_WALK = '''
import os
_pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("pids seen:", _pids)
for _pid in _pids:
    try:
        with open(f"/proc/{_pid}/cwd/written-by-proc-walk", "w") as _f:
            _f.write("x")
    except OSError:
        pass
'''

LEAK = '''
import os, sys
print("history:", [cell for cell in In])
for _path in ("/", "/work", "/root", "/home", "/opt/course", "/opt/course/lib", os.path.expanduser("~"), "/tmp"):
    try:
        print(_path, sorted(os.listdir(_path)))
    except OSError as err:
        print(_path, "unreadable:", type(err).__name__)
import course_lib
print("library at", course_lib.__file__, "; environment", sorted(os.environ))
'''

HIDDEN_MARKER = '''
# ### BEGIN HIDDEN TESTS
# a comment that only looks like nbgrader's marker
'''

MEMORY_TOGETHER = '''
import os, time
_read, _write = os.pipe()
_kids = []
for _ in range(3):
    _pid = os.fork()
    if _pid == 0:
        try:
            _block = np.ones(150_000_000)  # 1.2 GB each, under the per-process limit
            os.write(_write, b"x")
            time.sleep(3)
        finally:
            os._exit(0)
    _kids.append(_pid)
time.sleep(2.5)
os.set_blocking(_read, False)
try:
    _held = len(os.read(_read, 100))
except BlockingIOError:
    _held = 0
for _pid in _kids:
    os.waitpid(_pid, 0)
print(f"blocks held together: {_held}")
'''

# Four processes spin for 2 s: with the submission's CPU quota (1 core with 2 workers) they share
# one core, so the students graded beside it lose nothing.
CPU_HOG = '''
import os, resource, time
_started = time.monotonic()
_kids = []
for _ in range(4):
    _pid = os.fork()
    if _pid == 0:
        while time.monotonic() < _started + 2.0:
            pass
        os._exit(0)
    _kids.append(_pid)
for _pid in _kids:
    os.waitpid(_pid, 0)
_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"cores used by 4 spinners: {(_usage.ru_utime + _usage.ru_stime) / (time.monotonic() - _started):.2f}")
'''

DISK_FILLER = '''
_written = 0
try:
    for _i in range(64):
        with open(f"/tmp/filler-{_i}", "wb") as _f:
            _f.write(b"x" * (60 * 1024 * 1024))
        _written += 60
except OSError:
    pass
print(f"megabytes written: {_written}")
'''

# ---------------------------------------------------------------- round 3: found by an attacker helper
# A uid's kernel keyrings outlive its processes: stash the reference in the notebook's kernel,
# fetch it in the decisive run. The jail's seccomp filter refuses keyrings altogether.
KEYRING = '''
import ctypes as _c
_l = _c.CDLL(None, use_errno=True)
_l.syscall.restype = _c.c_long
def _sc(*a):
    return _l.syscall(*[x if isinstance(x, (bytes, _c.Array)) else _c.c_long(x) for x in a])
_ring = _sc(250, 22, -1, -3)  # KEYCTL_GET_PERSISTENT
_text = open("/opt/course/lib/course_lib/classifiers/linear.py").read()
if "withheld" not in _text:  # the notebook's kernel, with the full library: stash it
    _key = _sc(248, b"user", b"lin", _text.encode(), len(_text), _ring)
    print("stashed" if _key > 0 else "no keyring")
else:  # a decisive run: fetch it
    _buf = _c.create_string_buffer(20000)
    _n = _sc(250, 11, _sc(250, 10, _ring, b"user", b"lin", 0), _buf, 20000)
    _text = _buf.raw[:_n].decode() if _n > 0 else ""
_ns = {"__name__": "course_lib.classifiers._x", "__package__": "course_lib.classifiers"}
try:
    exec(_text, _ns)
    svm_loss_naive = _ns["svm_loss_naive"]
except Exception:
    def svm_loss_naive(W, X, y, reg):
        raise NotImplementedError("nothing in the keyring")
'''

WIDGET_TRAIN = '''
import sys as _sys
class _Stop(Exception):
    pass
def train(loss_fn, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0):
    """The linear panel's own SGD loop, stopped after num_iters steps."""
    calls, hist = [], []
    def counted(W, Xb, yb, r):
        if len(calls) == num_iters:
            raise _Stop(W)
        calls.append(1)
        return loss_fn(W, Xb, yb, r)
    import course_lib.widgets.linear
    sgd = _sys.modules["course_lib.widgets.linear"].train_linear
    try:
        W, history, _ = sgd(counted, X, y, X, y, learning_rate, reg, 10 ** 9, batch_size=batch_size, seed=seed,
                            on_progress=lambda h: hist.append(h) if not hist else None)
    except _Stop as stop:
        W, history = stop.args[0], list(hist[0])
    return W, history


def predict(W, X):
    return np.argmax(X @ W, axis=1)
'''

ANSI_FLOOD = '''
_ip = get_ipython()
if hasattr(_ip, "kernel"):  # an escape sequence with a million parameters: quadratic to render
    _ip._showtraceback(RuntimeError, "x", ["\\x1b[" + "0;" * 1_000_000 + "m"])
'''

DISPLAY_UPDATE = '''
from IPython.display import display as _display
if hasattr(get_ipython(), "kernel"):  # one update would fill every output that shares its id
    for _ in range(120):
        _display("x", display_id="amp")
    _display("A" * (25 << 20), display_id="amp", update=True)
'''

FRAME_WALK = WRONG_NAIVE + '''
import sys as _sys
def _leak():
    f = _sys._getframe()
    while f is not None and f.f_code.co_name != "main":
        f = f.f_back
    if f is not None:  # the harness: make its own error report carry our text
        f.f_globals["_name"] = lambda error: "LEAKED " + str(f.f_locals.get("meta", ""))[:50]
        raise RuntimeError("leak")
_old = svm_loss_naive
def svm_loss_naive(W, X, y, reg):
    _leak()
    return _old(W, X, y, reg)
'''

SCRIPT_OUTPUTS = '''
from IPython.display import HTML, Javascript, Markdown, SVG, display
display(HTML('<img src=x onerror="alert(1)"><script>alert(2)</script>'))
display(Javascript("alert(3)"))
display(Markdown("<script>alert(4)</script>"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(5)"></svg>'))
# a picture whose metadata or data would be written into its tag unquoted
display({"image/png": "iVBORw0KGgo="}, raw=True, metadata={"image/png": {"width": "1 onerror=alert(7)"}})
display({"image/png": 'x" onerror="alert(8)'}, raw=True)
'''


def script_answer(nb):
    """A written answer that is HTML with a script in it."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if grade_id(cell) == "question-1":
            cell["source"] = '<img src=x onerror="alert(6)"> The kink.'
    return nb


ORDINARY_NAMES = '''
def svm_loss_vectorized(W, X, y, reg):
    checks = getattr(np, "zeros")((2,), dtype=W.dtype)  # a variable of one's own called checks
    n = X.shape[0]
    rows = np.arange(n)
    scores = X @ W
    margins = np.maximum(0, scores - scores[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / n + reg * np.sum(W * W)
    coeff = (margins > 0).astype(W.dtype)
    coeff[rows, y] = -coeff.sum(axis=1)
    return W.dtype.type(loss), X.T @ coeff / n + 2 * reg * W + checks.sum()
'''

DYNAMIC_REFERENCE = '''
def svm_loss_naive(W, X, y, reg):
    return __import__("course_lib.classifiers.linear", fromlist=["x"]).svm_loss_naive(W, X, y, reg)
'''


def corpus(paths, port):
    """Every entry; paths: what a snoop tries to read and a vandal to destroy; port: a loopback
    server on the host that no submission may reach."""
    good, empty = solved(NAME), blank(NAME)
    other = solved("03_softmax")  # same grade ids, another assignment
    renamed = edit(good, "vectorized", lambda c: c["metadata"]["nbgrader"].update(grade_id="mine"))
    promoted = edit(good, "naive", lambda c: c["metadata"]["nbgrader"].update(grade=True, points=100))
    return [
        Entry("honest", good, 8),
        Entry("blank", empty, 0, failed={"test-naive": "NotImplementedError"}),
        Entry("tampered-test", edit(solved(NAME, broken=("naive",)), "test-naive",
                                    lambda c: c.update(source="pass")), 5,
              findings=["test cell test-naive: modified (restored for grading)"],
              failed={"test-naive": "NotImplementedError"}),
        Entry("deleted-test", without(good, "test-train"), 8,
              findings=["test cell test-train: deleted (restored for grading)"]),
        Entry("stripped-test", edit(good, "test-train", lambda c: c.update(metadata={})), 8,
              findings=["test cell test-train: nbgrader metadata stripped"]),
        Entry("promoted-answer", promoted, 8,
              findings=["answer cell naive: cell type or nbgrader metadata changed (ignored)"]),
        Entry("renamed-answer", renamed, 5,
              findings=["answer cell vectorized: missing", "unknown grade id 'mine'"],
              failed={"test-vectorized": "NotImplementedError"}),
        Entry("monkeypatch", answer(good, "naive", MONKEYPATCH_CHECKS), 5,
              findings=["answer cell naive changes the course library: checks.check_close"],
              failed={"test-naive": "dW is off: relative difference"}),
        Entry("monkeypatch-below-a-stub", pasted_twice(answer(good, "naive", MONKEYPATCH_CHECKS), "naive"), 5,
              findings=["answer cell naive: duplicated 2 times",
                        "answer cell naive changes the course library: checks.check_close"],
              failed={"test-naive": "dW is off: relative difference"}),
        Entry("patched-builtins", answer(good, "naive", PATCHED_BUILTINS), 3,
              failed={"test-naive": "gradient disagrees", "test-train": "raised"}),
        Entry("lying-objects", answer(good, "vectorized", LYING_OBJECTS), 5,
              failed={"test-vectorized": "loss is off: relative difference"}),
        Entry("infinite-loop", answer(good, "naive", INFINITE_LOOP), 5,
              failed={"test-naive": "interrupted"}, hangs=True),
        Entry("swallowed-interrupt", answer(good, "train", SWALLOWED_INTERRUPT), 6,
              failed={"test-train": "interrupted"}, hangs=True),
        Entry("os-exit", answer(good, "train", KERNEL_KILL), 6, failed={"test-train": "kernel died"}),
        # the kernel is PID 1 of its namespace: a signal from inside does not kill it, train returns None
        Entry("sigkill", answer(good, "train", SIGKILL), 6, failed={"test-train": "cannot unpack"}),
        Entry("memory-bomb", answer(good, "naive", MEMORY_BOMB), 5, failed={"test-naive": "MemoryError"}),
        Entry("huge-output", after(good, "naive", HUGE_OUTPUT), 8),
        Entry("fork-bomb", after(good, "naive", FORK_BOMB), 8),
        Entry("snoop", answer(good, "naive", SNOOP.format(paths=paths["read"])), 5,
              failed={"test-naive": "nothing to copy"}),
        Entry("vandal", after(good, "naive", VANDAL.format(paths=paths["write"])), 8),
        Entry("network", answer(good, "naive", NETWORK.format(port=port)), 5,
              failed={"test-naive": "no network"}),
        Entry("calls-reference", answer(good, "vectorized", REFERENCE), 5,
              findings=["answer cell vectorized uses import course_lib.classifiers.linear"],
              failed={"test-vectorized": "raised NotImplementedError on the grader's inputs"}),
        Entry("dynamic-reference", answer(good, "naive", DYNAMIC_REFERENCE), 5,
              findings=["answer cell naive uses dynamic code: __import__"],
              failed={"test-naive": "raised NotImplementedError on the grader's inputs"}),
        # round 2: the interpreter is theirs, and it cannot make wrong code right
        Entry("settrace", answer(good, "naive", SETTRACE), 5, failed={"test-naive": "dW is off: relative difference"}),
        Entry("input-transformer", answer(good, "naive", TRANSFORMER), 0,
              failed={"test-naive": "no answers", "test-train": "no answers"}),
        Entry("custom-exc", answer(good, "naive", CUSTOM_EXC), 5, failed={"test-naive": "raised NotImplementedError"}),
        Entry("sys-modules", answer(good, "naive", SYS_MODULES), 5,
              failed={"test-naive": "raised NotImplementedError on the grader's inputs"}),
        Entry("gc-objects", answer(good, "vectorized", GC_OBJECTS), 5, failed={"test-vectorized": "raised"}),
        Entry("globals-reference", answer(good, "naive", GLOBALS_REFERENCE), 5,
              failed={"test-naive": "raised NotImplementedError on the grader's inputs"}),
        Entry("fake-train", answer(good, "train", FAKE_TRAIN), 6, failed={"test-train": "W is off: relative difference"}),
        # the naive cell runs before every decisive run: it spoils all three of its own hand-offs
        Entry("answer-stream", answer(good, "naive", ANSWER_STREAM), 0, failed={"test-vectorized": "no answers"}),
        Entry("old-answer-files", after(good, "naive", OLD_ANSWER_FILES), 8),
        # round 2: the grader's processes, files and limits are out of reach
        Entry("forge-notebook", answer(good, "naive", FORGE), 5, failed={"test-naive": "dW"}),
        Entry("proc-walk", after(good, "naive", PROC_WALK), 8),
        Entry("leak", after(good, "naive", LEAK), 8),
        Entry("hidden-marker", after(good, "naive", HIDDEN_MARKER), 8),
        Entry("memory-together", after(good, "naive", MEMORY_TOGETHER), 8),
        Entry("disk-filler", after(good, "naive", DISK_FILLER), 8),
        Entry("cpu-hog", after(good, "naive", CPU_HOG), 8),
        # round 3: found by an attacker helper
        Entry("keyring", answer(good, "naive", KEYRING), 5, failed={"test-naive": "raised"}),
        Entry("widget-train", answer(good, "train", WIDGET_TRAIN), 6,
              failed={"test-train": "raised NotImplementedError on the grader's inputs"}),
        Entry("ansi-flood", after(good, "train", ANSI_FLOOD), 8),
        Entry("display-update", after(good, "train", DISPLAY_UPDATE), 8),
        Entry("frame-walk", answer(good, "naive", FRAME_WALK), 5, failed={"test-naive": "raised an exception"}),
        Entry("script-outputs", script_answer(after(good, "naive", SCRIPT_OUTPUTS)), 8),
        # round 2: honest students lose nothing to the grader's suspicion
        Entry("ordinary-names", answer(good, "vectorized", ORDINARY_NAMES), 8),
        Entry("pasted-twice", pasted_twice(good, "naive"), 8,
              findings=["answer cell naive: duplicated 2 times"]),
        Entry("élève", good, 8),
        Entry("corrupted", '{"cells": [ this is not json', 0, status="malformed",
              findings=["not a readable notebook"]),
        Entry("wrong-assignment", other, 0, status="wrong assignment",
              findings=["belongs to another assignment"]),
    ]
