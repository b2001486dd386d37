"""scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), shipped inside this package so
the course runs with no network. Pixel values are whole numbers 0..16."""
from importlib import resources

import numpy as np

from .preprocess import as_rows, split, subtract_mean

CLASS_NAMES = tuple(str(d) for d in range(10))


def load_digits(dtype=np.float64):
    """All images as (1797, 1, 8, 8) in dtype, labels as (1797,) int64."""
    with resources.files(__package__).joinpath("digits.npz").open("rb") as f:
        archive = np.load(f)
        images, labels = archive["images"], archive["labels"]
    return images[:, None].astype(dtype), labels.astype(np.int64)


def get_digits_data(num_train=1257, num_val=180, num_test=360, num_dev=100, seed=0,
                    dtype=np.float64, flatten=False, scale=True, mean_subtract=True):
    """Train/val/test/dev splits of the digits, ready for the classifiers.

    scale divides pixels by 16 (to [0, 1]); mean_subtract removes the training mean image; flatten
    gives rows of 64 features instead of (1, 8, 8) images. Also returns "class_names".
    """
    X, y = load_digits(dtype)
    if scale:
        X = X / dtype(16)
    data = split(X, y, num_train, num_val, num_test, num_dev, seed)
    if flatten:
        data = as_rows(data)
    if mean_subtract:
        data = subtract_mean(data)
    data["class_names"] = CLASS_NAMES
    return data
