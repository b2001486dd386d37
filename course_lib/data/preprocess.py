"""Splitting and preprocessing shared by every dataset."""
import numpy as np


def split(X, y, num_train, num_val, num_test, num_dev=0, seed=0):
    """Disjoint random train/val/test subsets, plus a dev set drawn from the training part.

    Returns a dict X_train, y_train, X_val, y_val, X_test, y_test (and X_dev, y_dev if num_dev).
    """
    needed = num_train + num_val + num_test
    if needed > len(X):
        raise ValueError(f"split: asked for {num_train} + {num_val} + {num_test} = {needed} samples "
                         f"but only {len(X)} are available")
    if num_dev > num_train:
        raise ValueError(f"split: the dev set ({num_dev}) is drawn from the training set "
                         f"({num_train}) and cannot be larger")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    parts = {"train": order[:num_train], "val": order[num_train:num_train + num_val],
             "test": order[num_train + num_val:needed]}
    if num_dev:
        parts["dev"] = rng.choice(parts["train"], num_dev, replace=False)
    data = {}
    for name, idx in parts.items():
        data[f"X_{name}"], data[f"y_{name}"] = X[idx], y[idx]
    return data


def subtract_mean(data, keys=("X_train", "X_val", "X_test", "X_dev"), in_place=False):
    """Subtract the training mean (per feature/pixel) from every X_* set, in a new dict; the mean
    is returned under "mean" so new inputs can be shifted the same way. in_place=True shifts the
    arrays themselves (for sets the caller just made: no second copy of each)."""
    mean = data["X_train"].mean(axis=0)
    out = dict(data, mean=mean)
    for key in keys:
        if key in data:
            if in_place:
                data[key] -= mean
            else:
                out[key] = data[key] - mean
    return out


def as_rows(data):
    """The same splits with every image set X_* flattened to rows (N, D), in a new dict. D is
    spelled out: an empty set (no dev images) cannot infer it from -1."""
    return {k: v.reshape(len(v), int(np.prod(v.shape[1:]))) if k.startswith("X_") else v
            for k, v in data.items()}


def add_bias_column(X):
    """The bias trick: append a column of ones so that W's last row acts as the bias."""
    return np.hstack([X, np.ones((X.shape[0], 1), X.dtype)])
