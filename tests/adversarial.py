"""The adversarial corpus: submissions of assignment 02_svm (test-naive 3 points, test-vectorized 3,
test-train 2) that attack the grader, each with the autograded score it must get, its status, and
what the integrity report must say. The attacks are written into the answer cells (the only cells
the grader runs as the student wrote them) or into the notebook's structure.
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

# abs() is what the visible test of the initial loss uses; patching a builtin breaks the kernel for
# everything after it (Numba, compiling the reference the later tests call, trips over it): an
# attack that can only cost its author points.
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
def svm_loss_vectorized(W, X, y, reg):
    return reference.svm_loss_vectorized(W, X, y, reg)
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
              findings=["answer cell naive changes the course library (checks.check_close"],
              failed={"test-naive": "dW: relative difference"}),
        Entry("patched-builtins", answer(good, "naive", PATCHED_BUILTINS), 0,
              failed={"test-naive": "gradient disagrees"}),
        Entry("lying-objects", answer(good, "vectorized", LYING_OBJECTS), 5,
              failed={"test-vectorized": "no answers on the grader's inputs"}),
        Entry("infinite-loop", answer(good, "naive", INFINITE_LOOP), 5,
              failed={"test-naive": "interrupted"}),
        Entry("swallowed-interrupt", answer(good, "train", SWALLOWED_INTERRUPT), 6,
              failed={"test-train": "interrupted"}),
        Entry("os-exit", answer(good, "train", KERNEL_KILL), 6, failed={"test-train": "kernel died"}),
        Entry("sigkill", answer(good, "train", SIGKILL), 6, failed={"test-train": "kernel died"}),
        Entry("memory-bomb", answer(good, "naive", MEMORY_BOMB), 5, failed={"test-naive": "MemoryError"}),
        Entry("huge-output", after(good, "naive", HUGE_OUTPUT), 8),
        Entry("fork-bomb", after(good, "naive", FORK_BOMB), 8),
        Entry("snoop", answer(good, "naive", SNOOP.format(paths=paths["read"])), 5,
              failed={"test-naive": "nothing to copy"}),
        Entry("vandal", after(good, "naive", VANDAL.format(paths=paths["write"])), 8),
        Entry("network", answer(good, "naive", NETWORK.format(port=port)), 5,
              failed={"test-naive": "no network"}),
        Entry("calls-reference", answer(good, "vectorized", REFERENCE), 5,
              findings=["answer cell vectorized uses the reference implementation (reference.svm_loss_vectorized)"],
              failed={"test-vectorized": "reference implementation"}),
        Entry("dynamic-reference", answer(good, "naive", DYNAMIC_REFERENCE), 5,
              findings=["answer cell naive uses the reference implementation (dynamic code: __import__)"]),
        Entry("corrupted", '{"cells": [ this is not json', 0, status="malformed",
              findings=["not a readable notebook"]),
        Entry("wrong-assignment", other, 0, status="wrong assignment",
              findings=["belongs to another assignment"]),
    ]
