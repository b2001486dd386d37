"""Saving files so that an interrupted write never destroys what was there before."""
import os
import pickle
import tempfile


def write_atomically(path, write, mode="w", **open_args):
    """Call write(f) on a temporary file in path's folder, then rename it over path: readers see
    the old file or the new one, never a torn one; if write fails, the old file stays and the
    temporary one is removed. The file gets the permissions a plain open() would give it (the
    temporary file's own are private)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, mode, **open_args) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def save_pickle(obj, path):
    """Pickle obj to path atomically."""
    return write_atomically(path, lambda f: pickle.dump(obj, f), "wb")


def load_pickle(path):
    with open(path, "rb") as f:
        return pickle.load(f)
