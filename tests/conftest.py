import os
import sys
import zlib

# The cuda backend's tests run on Numba's CUDA simulator unless told otherwise: set
# NUMBA_ENABLE_CUDASIM=0 on a machine with an NVIDIA GPU to run them on the hardware. This must
# happen before anything imports numba.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from course_lib import use_backend  # noqa: E402
from course_lib.gradcheck import relative_difference  # noqa: E402

CPU_BACKENDS = ("numpy", "numba")
# Agreement of a fast backend with the NumPy specification: max |a - b| relative to max |b|.
AGREEMENT_TOL = {np.float64: 1e-10, np.float32: 1e-5}


# The quick tier, `python -m pytest -m "not slow"`, leaves out what grades a class, drives a
# browser or runs whole notebooks: every test that uses one of these fixtures is slow, as is every
# test marked slow by hand.
SLOW_FIXTURES = {"warm_course", "lab", "cifar_cache"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def rng(request):
    """A generator seeded from the test's name: fresh inputs per test, reproducible per run."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    with use_backend(request.param):
        yield request.param


def assert_agree(actual, expected, dtype, what="", scale=0.0):
    """Agreement within AGREEMENT_TOL of max |expected|, or of `scale` where larger: the size of
    the values an output is a difference of (softmax's p - 1 on a confident row is a small
    number that float32 computes only to the precision of 1)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype}, expected {np.dtype(dtype)}"
    err, _ = relative_difference(actual, expected)
    if expected.size and scale:
        err *= float(np.max(np.abs(expected))) / max(float(np.max(np.abs(expected))), scale)
    assert err <= AGREEMENT_TOL[np.dtype(dtype).type], f"{what}: relative difference {err:.3g}"


@pytest.fixture(scope="session")
def digits():
    from course_lib.data import get_digits_data
    return get_digits_data()


def agree(fast, name, args, dtype, spec=None, scale=0.0):
    """Run kernel `name` of the fast backend module and of the NumPy specification on the same
    arguments; float outputs must agree within AGREEMENT_TOL (see assert_agree for `scale`, one
    for all outputs or a tuple of one per output), integer outputs exactly. Returns the fast backend's outputs as NumPy arrays (as a tuple)."""
    from course_lib.backend import kernels
    spec = spec or kernels("numpy")
    expected = getattr(spec, name)(*args)
    actual = getattr(fast, name)(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    actual = actual if isinstance(actual, tuple) else (actual,)
    assert len(actual) == len(expected), name
    for i, (a, e) in enumerate(zip(actual, expected)):
        if np.asarray(e).dtype.kind == "f":
            assert_agree(a, e, dtype, f"{name} output {i}", scale[i] if isinstance(scale, tuple) else scale)
        else:
            np.testing.assert_array_equal(a, e, err_msg=f"{name} output {i}")
    return actual


@pytest.fixture(scope="session")
def warm_course(tmp_path_factory):
    """warm_course(assignment, dest) -> dest: a course folder for grading the assignment whose
    grading editions, Numba caches and instructor check are done, copied from one made once per
    test run (each grading test would otherwise spend 20-60 s redoing them; the tests that are
    about that first run make their own course). Under xdist the workers share the templates: the
    first to need one makes it under a lock, the others wait for it. Copies share the course secret."""
    import fcntl
    import shutil

    from autograder import grading
    from notebook_tools import SOLUTIONS
    # the workers of one run share their base folder's parent; a run without workers keeps its own
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "warm-courses"
    shared.mkdir(exist_ok=True)

    def copy_to(assignment, dest):
        template, done = shared / assignment / "course", shared / assignment / ".done"
        with open(shared / f"{assignment}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                shutil.rmtree(template.parent, ignore_errors=True)  # a run that died half way
                grading.autograde(SOLUTIONS / assignment, None, template, progress=False, feedback=False,
                                  log=lambda *_: None)
                done.touch()
        shutil.copytree(template, dest, symlinks=True)  # copy2: mtimes kept, caches valid
        return dest
    return copy_to


@pytest.fixture(autouse=True)
def _process_state_kept():
    """course_lib.guide keeps the exercises whose check passed in a process-wide set; a test's
    passes must not open another test's walkthroughs. And IPython's shell (the mistakes corpus's
    and the self-check's kernels) makes its namespace sys.modules["__main__"]: put the real one
    back, or a later test's multiprocessing spawn (Dask's Nanny) fails for want of __spec__."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main
    guide = sys.modules.get("course_lib.guide")
    if guide is not None:
        guide._passed.clear()
