"""CIFAR-10: download once into a cache folder, verify, extract, load.

The download resumes a partial file, checks the archive's MD5 before it replaces anything, and
renames files into place only when they are complete: a failed or corrupted download never damages
a cache that already works. Without a network the error says how to install the archive by hand.
"""
import hashlib
import http.client
import os
import pickle
import shutil
import tarfile
import tempfile
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import numpy as np
from tqdm.auto import tqdm

from .preprocess import subtract_mean

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_BYTES = 170_498_071
ARCHIVE_NAME = "cifar-10-python.tar.gz"
FOLDER_NAME = "cifar-10-batches-py"
BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CLASS_NAMES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """The dataset could not be downloaded or verified; the message says what to do."""


def default_root():
    """$COURSE_LIB_DATA if set, else ~/.cache/course_lib."""
    return Path(os.environ.get("COURSE_LIB_DATA", Path.home() / ".cache" / "course_lib"))


def _is_complete(folder):
    return all((folder / name).is_file() for name in BATCHES)


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _manual_steps(url, archive, reason):
    return (f"could not download CIFAR-10 from {url} ({reason}).\n"
            f"To install it by hand:\n"
            f"  1. on a machine with internet access, download {url} ({CIFAR10_BYTES:,} bytes);\n"
            f"  2. copy the file to {archive};\n"
            f"  3. run download_cifar10() again: it checks the MD5 ({CIFAR10_MD5}) and extracts it.\n"
            f"Or set COURSE_LIB_DATA to a folder that already holds {FOLDER_NAME}/.\n"
            f"The digits dataset (course_lib.data.get_digits_data) needs no download.")


def _fetch(url, part, progress, timeout):
    """Append the rest of url to `part`, resuming from its current size when the server allows."""
    offset = part.stat().st_size if part.exists() else 0
    request = Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urlopen(request, timeout=timeout)
    except HTTPError as err:
        if err.code == 416 and offset:  # nothing left to send: the partial file is already whole
            return
        raise
    with response:
        if offset and response.status != 206:  # the server ignored the range: start again
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        with open(part, "ab" if offset else "wb") as f, \
                tqdm(total=total, initial=offset, unit="B", unit_scale=True, disable=not progress,
                     desc="CIFAR-10") as bar:
            for block in iter(lambda: response.read(_CHUNK), b""):
                f.write(block)
                bar.update(len(block))
            received = f.tell()
    if total is not None and received < total:  # urllib returns a short body without complaint
        raise ConnectionError(f"the connection closed after {received:,} of {total:,} bytes")


def _download(url, archive, md5, progress, timeout):
    part = archive.with_name(archive.name + ".part")
    try:
        _fetch(url, part, progress, timeout)
    except (URLError, OSError, http.client.HTTPException) as err:  # cut connections, timeouts
        kept = f"; {part.stat().st_size:,} bytes kept in {part}, run again to resume" \
            if part.exists() and part.stat().st_size else ""
        raise DownloadError(_manual_steps(url, archive, f"{err}{kept}")) from err
    got = _md5(part)
    if got != md5:
        part.unlink()
        raise DownloadError(f"the downloaded file is corrupted: its MD5 is {got}, expected {md5}. "
                            f"It was deleted; any earlier copy in {archive.parent} is untouched. "
                            f"Run download_cifar10() again.")
    os.replace(part, archive)


def _extract(archive, folder):
    """Extract into a temporary folder beside the target, check it, then rename it into place."""
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".extract-") as tmp:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(tmp, filter="data")  # refuses absolute paths and links out of tmp
        extracted = Path(tmp) / FOLDER_NAME
        if not _is_complete(extracted):
            raise DownloadError(f"{archive} does not contain {FOLDER_NAME}/ with {', '.join(BATCHES)}")
        if folder.exists():
            shutil.rmtree(folder)  # an incomplete earlier extraction
        os.replace(extracted, folder)


def download_cifar10(root=None, url=CIFAR10_URL, md5=CIFAR10_MD5, force=False, progress=True,
                     timeout=60):
    """Make sure CIFAR-10 is in root (default: default_root()) and return its batches folder.

    Nothing is downloaded when the folder is complete, unless force=True; even then a failed or
    corrupted download leaves the earlier archive and folder as they were.
    """
    root = Path(root) if root is not None else default_root()
    root.mkdir(parents=True, exist_ok=True)
    folder, archive = root / FOLDER_NAME, root / ARCHIVE_NAME
    if _is_complete(folder) and not force:
        return folder
    if force or not archive.exists() or _md5(archive) != md5:
        target = archive if not archive.exists() else root / (ARCHIVE_NAME + ".new")
        _download(url, target, md5, progress, timeout)
        os.replace(target, archive)
    _extract(archive, folder)
    return folder


def _load_batch(path):
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"{path}: expected b'data' as (N, 3072) uint8 and N labels, got "
                         f"{data.shape} {data.dtype} and {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels  # rows are channel-major: R plane, G plane, B plane


def load_cifar10(folder):
    """(X_train, y_train, X_test, y_test) from the python-pickle batches; X as (N, 3, 32, 32) uint8."""
    folder = Path(folder)
    if not _is_complete(folder):
        missing = [b for b in BATCHES if not (folder / b).is_file()]
        raise FileNotFoundError(f"{folder} is missing {', '.join(missing)}; run download_cifar10()")
    train = [_load_batch(folder / name) for name in BATCHES[:5]]
    X_test, y_test = _load_batch(folder / "test_batch")
    return (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]),
            X_test, y_test)


def get_cifar10_data(root=None, num_training=49000, num_validation=1000, num_test=1000,
                     num_dev=500, mean_subtract=True, dtype=np.float64, download=True, seed=0):
    """The course's splits: the first num_training training images for training, the next
    num_validation for validation, the first num_test test images, and a random dev subset of the
    training set. Images as (N, 3, 32, 32) in dtype."""
    folder = download_cifar10(root) if download else (Path(root or default_root()) / FOLDER_NAME)
    X_train, y_train, X_test, y_test = load_cifar10(folder)
    if num_training + num_validation > len(X_train) or num_test > len(X_test):
        raise ValueError(f"asked for {num_training} + {num_validation} training/validation and "
                         f"{num_test} test images; the data has {len(X_train)} and {len(X_test)}")
    dev = np.random.default_rng(seed).choice(num_training, num_dev, replace=False)
    data = {
        "X_train": X_train[:num_training].astype(dtype), "y_train": y_train[:num_training],
        "X_val": X_train[num_training:num_training + num_validation].astype(dtype),
        "y_val": y_train[num_training:num_training + num_validation],
        "X_test": X_test[:num_test].astype(dtype), "y_test": y_test[:num_test],
        "X_dev": X_train[dev].astype(dtype), "y_dev": y_train[dev],
    }
    if mean_subtract:  # in place: the sets above are fresh copies, and a second 0.6 GB is avoidable
        data = subtract_mean(data, in_place=True)
    data["class_names"] = CLASS_NAMES
    return data
