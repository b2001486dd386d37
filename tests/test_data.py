import hashlib
import pickle

import numpy as np
import pytest

from course_lib.data import (DownloadError, add_bias_column, as_rows, download_cifar10, get_cifar10_data,
                             get_digits_data, load_cifar10, load_digits, load_sample_photos, split,
                             subtract_mean)
from course_lib.data import cifar10
import cifar_archive
from cifar_archive import Server


# ---------------------------------------------------------------- digits and preprocessing
def test_embedded_digits_are_scikit_learns():
    from sklearn.datasets import load_digits as sklearn_digits
    X, y = load_digits()
    reference = sklearn_digits()
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float64
    np.testing.assert_array_equal(X[:, 0], reference.images)
    np.testing.assert_array_equal(y, reference.target)


def test_digits_splits_are_disjoint_and_preprocessed():
    data = get_digits_data(flatten=True)
    assert data["X_train"].shape == (1257, 64) and data["X_test"].shape == (360, 64)
    np.testing.assert_allclose(data["X_train"].mean(axis=0), 0, atol=1e-12)
    raw = get_digits_data(flatten=True, mean_subtract=False, scale=False)
    assert raw["X_train"].max() == 16
    rows = lambda k: {r.tobytes() for r in raw[k]}  # noqa: E731
    # digits contains a few duplicate images, so compare sizes of index-based splits instead
    assert len(raw["y_train"]) + len(raw["y_val"]) + len(raw["y_test"]) == 1797
    assert rows("X_dev") <= rows("X_train")


def test_split_indices_are_disjoint():
    X = np.arange(100).reshape(100, 1).astype(float)
    data = split(X, np.arange(100), 60, 20, 15, num_dev=10, seed=3)
    parts = [set(data[f"X_{k}"].ravel()) for k in ("train", "val", "test")]
    assert sum(map(len, parts)) == 95 and len(set.union(*parts)) == 95
    assert set(data["X_dev"].ravel()) <= parts[0]
    with pytest.raises(ValueError, match="only 100 are available"):
        split(X, np.arange(100), 90, 20, 0)


def test_subtract_mean_in_place_shifts_the_given_arrays():
    X_train, X_val = np.array([[1.0, 2.0], [3.0, 6.0]]), np.array([[2.0, 4.0]])
    data = subtract_mean({"X_train": X_train, "X_val": X_val}, in_place=True)
    assert data["X_train"] is X_train and data["X_val"] is X_val
    np.testing.assert_array_equal(X_val, [[0.0, 0.0]])
    np.testing.assert_array_equal(data["mean"], [2.0, 4.0])


def test_subtract_mean_and_bias_trick():
    data = subtract_mean({"X_train": np.array([[1.0, 2.0], [3.0, 6.0]]), "X_val": np.array([[2.0, 4.0]])})
    np.testing.assert_array_equal(data["X_val"], [[0.0, 0.0]])
    np.testing.assert_array_equal(data["mean"], [2.0, 4.0])
    np.testing.assert_array_equal(add_bias_column(np.zeros((2, 3)))[:, -1], [1.0, 1.0])


def test_as_rows_flattens_the_image_sets_only():
    images = {"X_train": np.arange(24.0).reshape(2, 3, 2, 2), "y_train": np.array([0, 1]),
              "image_shape": (3, 2, 2), "X_val": np.zeros((1, 1, 8, 8), np.float32),
              "X_dev": np.zeros((0, 3, 2, 2))}  # 01 asks CIFAR-10 for no dev set
    rows = as_rows(images)
    assert rows["X_train"].shape == (2, 12) and rows["X_val"].shape == (1, 64)
    assert rows["X_dev"].shape == (0, 12)
    assert rows["X_val"].dtype == np.float32 and rows["X_train"][1, 0] == 12.0
    assert rows["y_train"] is images["y_train"] and rows["image_shape"] == (3, 2, 2)
    assert images["X_train"].ndim == 4  # a new dict: the images are still images


def test_sample_photos():
    photos = load_sample_photos(size=64)
    assert photos.shape == (2, 3, 64, 64) and 0 <= photos.min() and photos.max() <= 255
    assert photos[0].std() > 10  # real pictures, not blank


def test_the_shipped_photos_are_scikit_learns_pixel_for_pixel():
    """Shipped so that no jail needs scikit-learn; the same pictures as load_sample_images."""
    from sklearn.datasets import load_sample_images
    images = load_sample_images().images
    size = 213  # the largest size with the whole 427-pixel square, averaged over 2x2 blocks
    expected = np.stack([im[:426, 106:532].astype(np.float64).reshape(213, 2, 213, 2, 3).mean(axis=(1, 3))
                         .transpose(2, 0, 1) for im in images])
    np.testing.assert_array_equal(load_sample_photos(size=size), expected)


# ---------------------------------------------------------------- CIFAR-10 in its real format
PER_BATCH = 6


ARCHIVE, BATCHES = cifar_archive.archive_bytes(per_batch=PER_BATCH, compresslevel=9)
ARCHIVE_MD5 = hashlib.md5(ARCHIVE).hexdigest()


@pytest.fixture
def server():
    s = Server(ARCHIVE)
    yield s
    s.close()


def fetch(root, server, **kw):
    return download_cifar10(root, url=server.url, md5=ARCHIVE_MD5, progress=False, timeout=10, **kw)


def test_download_verify_extract_and_load(tmp_path, server):
    folder = fetch(tmp_path, server)
    assert folder == tmp_path / "cifar-10-batches-py"
    X_train, y_train, X_test, y_test = load_cifar10(folder)
    assert X_train.shape == (5 * PER_BATCH, 3, 32, 32) and X_train.dtype == np.uint8
    first = BATCHES["data_batch_1"][b"data"][0]
    np.testing.assert_array_equal(X_train[0, 0].ravel(), first[:1024])  # red plane first
    np.testing.assert_array_equal(X_train[0, 2].ravel(), first[2048:])
    np.testing.assert_array_equal(y_test, BATCHES["test_batch"][b"labels"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    fetch(tmp_path, server)
    assert len(server.requests) == 1  # a complete cache is not downloaded again


def test_the_notebooks_switch_loads_cifar10_from_its_cache(tmp_path, server):
    """DATASET = "cifar10" at the top of a notebook: get_dataset reads the cached batches (no
    network once they are there) with the sizes asked for, as images or as rows with a bias."""
    from course_lib.data import get_dataset
    fetch(tmp_path, server)
    data = get_dataset("cifar10", cifar_sizes=(20, 5, 6, 4), root=tmp_path)
    assert data["X_train"].shape == (20, 3, 32, 32) and data["X_val"].shape == (5, 3, 32, 32)
    assert data["X_test"].shape == (6, 3, 32, 32) and data["X_dev"].shape == (4, 3, 32, 32)
    assert data["image_shape"] == (3, 32, 32) and data["name"] == "cifar10"
    assert data["X_train"].dtype == np.float32  # 49,000 images: 0.6 GB, where float64 takes 1.2
    assert data["class_names"][:2] == ("plane", "car")  # CS231n's names
    np.testing.assert_array_equal(data["y_val"], load_cifar10(tmp_path / "cifar-10-batches-py")[1][20:25])
    rows = get_dataset("cifar10", bias=True, cifar_sizes=(20, 5, 6, 4), root=tmp_path, dtype=np.float64)
    assert rows["X_train"].shape == (20, 3073) and rows["X_train"].dtype == np.float64
    assert len(server.requests) == 1
    digits = get_dataset("digits")
    assert digits["name"] == "digits" and digits["X_train"].dtype == np.float64


def test_the_switch_falls_back_to_the_digits_and_says_so(monkeypatch, capsys):
    from course_lib.data import cifar10, get_dataset

    def offline(root):
        raise cifar10.DownloadError("could not download CIFAR-10 (no network)")

    monkeypatch.setattr(cifar10, "download_cifar10", offline)
    data = get_dataset("cifar10", cifar_sizes=(20, 5, 6, 4))
    assert data["name"] == "digits" and data["image_shape"] == (1, 8, 8)
    assert "CIFAR-10 is not available, so the digits are used instead" in capsys.readouterr().out


def test_interrupted_download_resumes(tmp_path, server):
    server.cut_after = 1000
    with pytest.raises(DownloadError, match="run again to resume"):
        fetch(tmp_path, server)
    assert (tmp_path / "cifar-10-python.tar.gz.part").stat().st_size == 1000
    assert not (tmp_path / "cifar-10-batches-py").exists()
    fetch(tmp_path, server)
    assert server.requests == [None, "bytes=1000-"]
    assert load_cifar10(tmp_path / "cifar-10-batches-py")[0].shape[0] == 5 * PER_BATCH


def test_a_server_that_ignores_the_range_restarts_cleanly(tmp_path, server):
    server.cut_after = 1000
    with pytest.raises(DownloadError):
        fetch(tmp_path, server)
    server.ignore_range = True
    fetch(tmp_path, server)
    assert (tmp_path / "cifar-10-python.tar.gz").read_bytes() == ARCHIVE


def test_corrupted_download_is_rejected_and_the_cache_kept(tmp_path, server):
    fetch(tmp_path, server)
    good_archive = (tmp_path / "cifar-10-python.tar.gz").read_bytes()
    server.payload = ARCHIVE[:-10] + b"0123456789"
    with pytest.raises(DownloadError, match="corrupted: its MD5 is"):
        fetch(tmp_path, server, force=True)
    assert (tmp_path / "cifar-10-python.tar.gz").read_bytes() == good_archive
    assert not list(tmp_path.glob("*.part"))
    assert load_cifar10(tmp_path / "cifar-10-batches-py")[1].shape == (5 * PER_BATCH,)


@pytest.mark.slow
def test_a_full_size_archive_loads_into_the_courses_splits(tmp_path):
    """The whole pipeline at CIFAR-10's real size (50,000 + 10,000 images, 279 MB): download over
    loopback, MD5, extraction, the CS231n splits as the notebooks ask for them, and class
    structure a linear classifier learns (so the notebooks have something to learn on it)."""
    from course_lib.classifiers import Softmax
    from course_lib.data import get_dataset
    payload, batches = cifar_archive.archive_bytes()
    full = Server(payload)
    try:
        download_cifar10(tmp_path, url=full.url, md5=hashlib.md5(payload).hexdigest(), progress=False)
    finally:
        full.close()
    data = get_dataset("cifar10", bias=True, root=tmp_path, dtype=np.float32)
    assert {k: v.shape for k, v in data.items() if k.startswith("X_")} == {
        "X_train": (49000, 3073), "X_val": (1000, 3073), "X_test": (1000, 3073), "X_dev": (500, 3073)}
    np.testing.assert_array_equal(data["y_val"], batches["data_batch_5"][b"labels"][9000:])
    first = batches["data_batch_1"][b"data"][0].astype(np.float32)
    np.testing.assert_allclose(data["X_train"][0, :3072] + data["mean"].ravel(), first, atol=1e-3)
    classifier = Softmax(seed=0)
    classifier.train(data["X_train"] / 255, data["y_train"], learning_rate=1e-1, reg=1e-4,
                     num_iters=200, batch_size=200)
    accuracy = np.mean(classifier.predict(data["X_val"] / 255) == data["y_val"])
    assert accuracy > 0.5, accuracy  # chance is 0.1


def test_a_bad_archive_in_the_cache_is_replaced(tmp_path, server):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"not the real thing")
    fetch(tmp_path, server)
    assert (tmp_path / "cifar-10-python.tar.gz").read_bytes() == ARCHIVE


def test_offline_error_names_the_manual_steps(tmp_path):
    import socket
    with socket.socket() as s:  # a port with nothing listening: connection refused, as offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError) as err:
        download_cifar10(tmp_path, url=f"http://127.0.0.1:{port}/c.tar.gz", progress=False, timeout=5)
    message = str(err.value)
    assert "To install it by hand" in message and str(tmp_path / "cifar-10-python.tar.gz") in message
    assert cifar10.CIFAR10_MD5 in message and "COURSE_LIB_DATA" in message


def test_real_download_constants():
    assert cifar10.CIFAR10_URL == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert cifar10.CIFAR10_MD5 == "c58f30108f718f92721af3b95e74349a"
    assert cifar10.CIFAR10_BYTES == 170_498_071


def test_course_splits_on_the_fixture(tmp_path, server):
    fetch(tmp_path, server)
    data = get_cifar10_data(tmp_path, num_training=20, num_validation=5, num_test=4, num_dev=3,
                            download=False, dtype=np.float32)
    assert data["X_train"].shape == (20, 3, 32, 32) and data["X_train"].dtype == np.float32
    assert data["X_val"].shape[0] == 5 and data["X_test"].shape[0] == 4 and data["X_dev"].shape[0] == 3
    np.testing.assert_allclose(data["X_train"].mean(axis=0), 0, atol=1e-4)
    with pytest.raises(ValueError, match="the data has 30 and 6"):
        get_cifar10_data(tmp_path, num_training=29, num_validation=5, download=False)


def test_loader_rejects_other_formats(tmp_path, server):
    folder = fetch(tmp_path, server)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match=r"expected b'data' as \(N, 3072\) uint8"):
        load_cifar10(folder)
    (folder / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="missing test_batch"):
        load_cifar10(folder)
