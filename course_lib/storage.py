"""Saving Python objects so that an interrupted write never destroys what was there before."""
import os
import pickle
import tempfile


def save_pickle(obj, path):
    """Pickle obj to a temporary file in the same folder, then rename it over path: readers see
    the old file or the new one, never a torn one."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(obj, f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_pickle(path):
    with open(path, "rb") as f:
        return pickle.load(f)
