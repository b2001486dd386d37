"""On the digits split, the course's classifiers reach scikit-learn's accuracy to within 2 points."""
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC

from course_lib import demo

PEERS = {
    "run_knn": KNeighborsClassifier(),
    "run_softmax": LogisticRegression(max_iter=5000),
    "run_svm": LinearSVC(max_iter=20000),
    "run_two_layer_net": MLPClassifier(hidden_layer_sizes=(100,), max_iter=2000, random_state=0),
}


@pytest.fixture(scope="module")
def rows():
    return demo.digits_splits()[1]


@pytest.mark.parametrize("runner", list(PEERS))
def test_within_two_points_of_sklearn(rows, runner):
    ours = getattr(demo, runner)(rows)["test_acc"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        peer = PEERS[runner].fit(rows["X_train"], rows["y_train"])
    theirs = float(np.mean(peer.predict(rows["X_test"]) == rows["y_test"]))
    print(f"{runner}: ours {ours:.3f}, scikit-learn {theirs:.3f}")
    assert ours >= theirs - 0.02


def test_convnet_learns_digits():
    images, _ = demo.digits_splits()
    assert demo.run_convnet(images, epochs=6)["test_acc"] > 0.93
