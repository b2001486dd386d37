"""Input checks shared by the layers and classifiers.

Each check raises an error that names the argument, what was expected and what arrived, and says how
to fix it: students meet these messages far more often than they read docstrings.
"""
import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def is_device_array(a):
    """A GPU array of the cuda backend (or of Numba's simulator): it has copy_to_host."""
    return hasattr(a, "copy_to_host") and hasattr(a, "dtype") and hasattr(a, "shape")


def float_array(name, a, ndim=None, where=""):
    """Check that `a` is a float32/float64 array (NumPy, or on the GPU for the cuda backend), with
    `ndim` dimensions if given, and return it."""
    prefix = f"{where}: " if where else ""
    if not isinstance(a, np.ndarray) and not is_device_array(a):
        raise TypeError(f"{prefix}{name} must be a NumPy array, got {type(a).__name__}; "
                        f"wrap it with np.asarray(...)")
    if np.dtype(a.dtype).type not in FLOAT_DTYPES:
        raise TypeError(f"{prefix}{name} has dtype {a.dtype}; pass float32 or float64 "
                        f"(for example {name}.astype(np.float64))")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{prefix}{name} must have {ndim} dimensions, got shape {a.shape}")
    return a


def same_dtype(where, **arrays):
    """All arrays share one float dtype; mixing float32 and float64 silently upcasts, so refuse it."""
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n} is {d}" for n, d in dtypes.items())
        raise TypeError(f"{where}: inputs must share one dtype, but {listed}; cast them with "
                        f".astype(...) to the same dtype")


def shape_matches(where, what, name_a, shape_a, name_b, shape_b, part_a=None, part_b=None):
    """Raise when two sizes that must agree do not (the parts, if given, else the whole shapes);
    the message names both full shapes."""
    left = shape_a if part_a is None else part_a
    right = shape_b if part_b is None else part_b
    if tuple(left) != tuple(right):
        raise ValueError(f"{where}: {what} do not match: {name_a} has shape {tuple(shape_a)}, "
                         f"{name_b} has shape {tuple(shape_b)}")


def labels(y, num_samples, num_classes, where):
    """Integer class labels of shape (num_samples,) with values in [0, num_classes); with
    num_classes None, any non-negative integers."""
    if not isinstance(y, np.ndarray):
        y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{where}: labels y must be integers, got dtype {y.dtype}; "
                        f"use y.astype(np.int64)")
    if y.shape != (num_samples,):
        raise ValueError(f"{where}: labels y must have shape ({num_samples},) to match the "
                         f"{num_samples} samples, got shape {y.shape}")
    if y.size and y.min() < 0:
        raise ValueError(f"{where}: label {y.min()} is negative; labels are class indices 0, 1, ...")
    if y.size and num_classes is not None and y.max() >= num_classes:
        raise ValueError(f"{where}: label {y.max()} is out of range; with {num_classes} classes "
                         f"labels must lie in 0..{num_classes - 1}")
    return y.astype(np.intp, copy=False)
