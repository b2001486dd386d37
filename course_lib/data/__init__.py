"""Datasets: scikit-learn's handwritten digits embedded in the package (the default, no network),
CIFAR-10 downloaded to a cache, sample photos for convolution demos, and preprocessing."""
from .cifar10 import (CIFAR10_MD5, CIFAR10_URL, DownloadError, download_cifar10, get_cifar10_data,
                      load_cifar10)
from .digits import get_digits_data, load_digits
from .course import get_dataset
from .photos import load_sample_photos
from .preprocess import add_bias_column, as_rows, split, subtract_mean

__all__ = ["get_dataset", "CIFAR10_MD5", "CIFAR10_URL", "DownloadError", "download_cifar10", "get_cifar10_data",
           "load_cifar10", "get_digits_data", "load_digits", "load_sample_photos", "add_bias_column",
           "as_rows", "split", "subtract_mean"]
