"""Every backend module defines the kernels of course_lib.kernels.API with the specification's
parameter names, and nothing public beyond them but the optional hooks; a kernel added to one
backend and forgotten in another fails here, before any result is compared."""
import importlib
import inspect

import pytest

from course_lib.backend import _MODULES, BACKENDS
from course_lib.kernels import API, OPTIONAL


def load(name):
    try:
        return importlib.import_module(_MODULES[name])
    except ImportError as err:  # numba without its CUDA target
        pytest.skip(f"backend {name!r} cannot be imported here: {err}")


def public(module):
    """The module's own public functions, re-exported kernels included (numba's affine is NumPy's)."""
    return {name for name, obj in vars(module).items()
            if not name.startswith("_") and callable(obj)
            and getattr(obj, "__module__", "").startswith("course_lib.kernels")}


def parameters(fn):
    return list(inspect.signature(getattr(fn, "py_func", fn)).parameters)


def test_the_specification_defines_exactly_the_api():
    assert public(load("numpy")) == set(API)


@pytest.mark.parametrize("name", BACKENDS)
def test_every_backend_defines_the_api_with_the_specifications_parameters(name):
    spec, module = load("numpy"), load(name)
    missing = [k for k in API if not callable(getattr(module, k, None))]
    assert not missing, f"{name} lacks {missing}"
    assert public(module) - set(API) <= set(OPTIONAL), f"{name} has public names outside the contract"
    for kernel in API:
        assert parameters(getattr(module, kernel)) == parameters(getattr(spec, kernel)), (name, kernel)


def test_a_kernel_missing_from_a_backend_is_named(monkeypatch):
    module = load("numba")
    monkeypatch.delattr(module, "max_pool_backward")
    with pytest.raises(AssertionError, match="max_pool_backward"):
        test_every_backend_defines_the_api_with_the_specifications_parameters("numba")
