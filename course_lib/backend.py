"""Which compute backend runs the layers: "numpy" (the readable specification), "numba" (fast
CPU) or "cuda" (NVIDIA GPUs through Numba CUDA; Numba's simulator with NUMBA_ENABLE_CUDASIM=1).

    import course_lib
    course_lib.use_backend("numpy")          # global setting
    with course_lib.use_backend("numba"):    # or only inside a block
        ...

The default is "numba", or the value of the environment variable COURSE_LIB_BACKEND. Every backend
module in course_lib.kernels exposes the same function names, so callers never branch on the name.
"""
import importlib
import os

_MODULES = {
    "numpy": "course_lib.kernels.numpy_kernels",
    "numba": "course_lib.kernels.numba_kernels",
    "cuda": "course_lib.kernels.cuda_kernels",
}
BACKENDS = tuple(_MODULES)


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run on this machine; the message says what to install."""


def _check_name(name):
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


_active = _check_name(os.environ.get("COURSE_LIB_BACKEND", "numba"))


def get_backend():
    """Name of the active backend."""
    return _active


def kernels(name=None):
    """The kernel module of backend `name` (default: the active one)."""
    name = _check_name(name or _active)
    try:
        module = importlib.import_module(_MODULES[name])
    except ImportError as err:
        raise BackendUnavailableError(f"backend {name!r} cannot be loaded: {err}") from err
    reason = getattr(module, "unavailable_reason", lambda: None)()
    if reason:
        raise BackendUnavailableError(f"backend {name!r} cannot run here: {reason}")
    return module


class use_backend:
    """Select a backend globally, or for a `with` block only (the previous one returns after it)."""

    def __init__(self, name):
        global _active
        kernels(name)  # fail now, with the reason, rather than at the first layer call
        self._previous, _active = _active, name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _active
        _active = self._previous
        return False

    def __repr__(self):
        return f"use_backend({_active!r})"
