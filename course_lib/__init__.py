"""course_lib: reference implementations for a deep-learning-for-vision course.

Readable NumPy kernels are the specification; Numba kernels run the same maths fast on the CPU, and
Numba CUDA kernels on NVIDIA GPUs (or on Numba's CUDA simulator). Pick one with
`course_lib.use_backend("numpy" | "numba" | "cuda")`; docs/architecture.md shows how it fits together.
"""
import os

# Numba's OpenMP workers and OpenBLAS's workers take turns (im2col, then a GEMM, then col2im).
# OpenMP's default is to spin after each parallel region, which starves BLAS on a 2-core machine:
# measured 10-100x slowdowns on small convolutions. Sleeping workers avoid that. Set before Numba
# first loads its OpenMP runtime; an explicit setting by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .backend import BACKENDS, BackendUnavailableError, get_backend, use_backend  # noqa: E402

__version__ = "0.1.0"
__all__ = ["BACKENDS", "BackendUnavailableError", "get_backend", "use_backend", "__version__"]
