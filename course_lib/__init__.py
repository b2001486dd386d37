"""course_lib: reference implementations for a deep-learning-for-vision course.

Readable NumPy kernels are the specification; Numba kernels run the same maths fast on the CPU.
Pick one with `course_lib.use_backend("numpy" | "numba")`.
"""
from .backend import BACKENDS, BackendUnavailableError, get_backend, use_backend

__version__ = "0.1.0"
__all__ = ["BACKENDS", "BackendUnavailableError", "get_backend", "use_backend", "__version__"]
