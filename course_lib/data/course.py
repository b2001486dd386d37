"""The one switch at the top of every notebook: digits (default, offline) or CIFAR-10."""
import numpy as np

from .cifar10 import DownloadError, get_cifar10_data
from .digits import get_digits_data
from .preprocess import add_bias_column, as_rows

DATASETS = ("digits", "cifar10")


def get_dataset(name="digits", rows=False, bias=False, cifar_sizes=(49000, 1000, 1000, 500),
                dtype=None, root=None):
    """Train/val/test/dev splits ready for the assignments, plus "image_shape", "class_names" and
    "name", the dataset actually loaded (the digits when CIFAR-10 could not be).

    rows: flatten images to (N, D); bias: append the bias column (implies rows). For "cifar10",
    cifar_sizes are (train, val, test, dev) and root the folder of its cache (default: the
    COURSE_LIB_DATA environment variable, else ~/.cache/course_lib); if it cannot be downloaded,
    the reason is printed and the digits are used instead, so a notebook always runs.
    dtype: by default float64 for the digits and float32 for CIFAR-10, whose 49,000 training
    images take 0.6 GB in float32 (1.2 GB in float64).
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    data = None
    if name == "cifar10":
        try:
            num_training, num_validation, num_test, num_dev = cifar_sizes
            data = get_cifar10_data(root, num_training, num_validation, num_test, num_dev,
                                    dtype=dtype or np.float32)
            data["name"] = "cifar10"
        except DownloadError as err:
            print(f"CIFAR-10 is not available, so the digits are used instead.\n{err}")
    if data is None:
        data = get_digits_data(dtype=dtype or np.float64)
        data["name"] = "digits"
    data["image_shape"] = data["X_train"].shape[1:]
    if rows or bias:
        data = as_rows(data)
    if bias:
        data = {k: add_bias_column(v) if k.startswith("X_") else v for k, v in data.items()}
    return data
