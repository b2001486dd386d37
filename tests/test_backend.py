import os
import subprocess
import sys

import numpy as np
import pytest

import course_lib
from course_lib import layers
from course_lib.backend import kernels


def test_default_is_numba_and_context_manager_restores():
    assert course_lib.get_backend() == "numba"
    with course_lib.use_backend("numpy"):
        assert course_lib.get_backend() == "numpy"
    assert course_lib.get_backend() == "numba"


def test_global_setter():
    try:
        course_lib.use_backend("numpy")
        assert course_lib.get_backend() == "numpy"
    finally:
        course_lib.use_backend("numba")


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="choose one of numpy, numba, cuda"):
        course_lib.use_backend("tensorflow")
    assert course_lib.get_backend() == "numba"


def test_environment_variable_sets_the_default():
    code = "import course_lib; print(course_lib.get_backend())"
    env = dict(os.environ, COURSE_LIB_BACKEND="numpy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "numpy", out.stderr


def test_explicit_backend_argument_and_cache_remembers_it(monkeypatch, rng):
    calls = []
    spec = kernels("numpy")
    monkeypatch.setattr(spec, "relu_backward",
                        lambda dout, x: calls.append("numpy") or dout * (x > 0))
    x = rng.standard_normal((3, 4))
    out, cache = layers.relu_forward(x, backend="numpy")
    assert cache[0] == "numpy"
    layers.relu_backward(np.ones_like(x), cache)  # the active backend is numba, the cache says numpy
    assert calls == ["numpy"]
