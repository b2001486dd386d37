"""Every solution notebook, Run All with `DATASET = "cifar10"`, as a student switches it: on an
archive in CIFAR-10's exact format and at its full size (50,000 + 10,000 images), downloaded over
loopback into the cache the notebooks read, with the CS231n splits (49,000/1,000/1,000 and a dev
set of 500; 5,000/500 for kNN). COURSE_LIB_MAX_EPOCHS=1 shortens the training loops, never the data.

The notebooks run in order in one course folder, so 07 finds the ConvNet that 06 saved.
"""
import hashlib
import re
import sys
from pathlib import Path

import pytest

from course_lib.data import download_cifar10
import cifar_archive

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_notebooks import NAMES, printed, run_notebook  # noqa: E402

pytestmark = pytest.mark.slow
# The largest arrays are 0.6 GB (49,000 float32 images, or rows with the bias); the peak is the
# kernel's whole resident set while loading them: Python, Numba, the uint8 batches and two copies.
PEAK_BYTES = 2 * 2**30
TRAINING_ROWS = {"01_knn": "training rows (5000, 3072)", "02_svm": "train (49000, 3073)",
                 "03_softmax": "train (49000, 3073)", "04_fc_nets": "train (49000, 3072)",
                 "05_batchnorm_dropout": "train (49000, 3072)", "06_convnets": "train (49000, 3, 32, 32)",
                 "07_network_visualization": None, "08_image_features": "train (10000, 3, 32, 32)"}


@pytest.fixture(scope="module")
def cifar_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar-cache")
    payload, _ = cifar_archive.archive_bytes()
    server = cifar_archive.Server(payload)
    try:
        download_cifar10(root, url=server.url, md5=hashlib.md5(payload).hexdigest(), progress=False)
    finally:
        server.close()
    return root


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return tmp_path_factory.mktemp("course-cifar10")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_the_full_cifar10(name, cifar_cache, course, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_DATA", str(cifar_cache))  # the kernel inherits the environment
    monkeypatch.setenv("COURSE_LIB_MAX_EPOCHS", "1")
    seconds, peak, nb = run_notebook(name, "cifar10", course)
    text = printed(nb)
    assert "CIFAR-10 is not available" not in text
    if TRAINING_ROWS[name]:
        assert f"cifar10: {TRAINING_ROWS[name]}" in text, text[:300]
    assert re.search(r"(gradient|votes|relative difference \S+) ok", text), "no check printed ok"
    assert peak < PEAK_BYTES, f"{name} peaked at {peak / 2**30:.2f} GB"
    if name == "07_network_visualization":
        assert "your ConvNet from assignment 2.3" in text  # 06's, trained on CIFAR-10, was found
