import numpy as np
import pytest

from course_lib import widgets
from course_lib.classifiers import KNearestNeighbor, predict_labels, svm_loss_vectorized


@pytest.fixture(scope="module")
def rows(digits):
    return {k: (v.reshape(len(v), -1) if k.startswith("X_") else v) for k, v in digits.items()}


def test_knn_report_matches_the_classifier(rows):
    report = widgets.knn_report(rows["X_train"], rows["y_train"], rows["X_test"], rows["y_test"],
                                k=3, metric="L2", index=7)
    knn = KNearestNeighbor().train(rows["X_train"], rows["y_train"])
    dists = knn.compute_distances_no_loops(rows["X_test"])
    assert report["accuracy"] == np.mean(predict_labels(dists, rows["y_train"], 3) == rows["y_test"])
    np.testing.assert_array_equal(report["neighbours"], np.argsort(dists[7], kind="stable")[:3])


def test_l1_distances(rng):
    a, b = rng.standard_normal((7, 5)), rng.standard_normal((4, 5))
    np.testing.assert_allclose(widgets.l1_distances(a, b, chunk=3),
                               np.abs(a[:, None] - b[None]).sum(axis=2))


def test_knn_panel_reacts_to_its_controls(rows):
    panel = widgets.knn_panel(rows["X_train"], rows["y_train"], rows["X_test"], rows["y_test"],
                              (1, 8, 8), [str(i) for i in range(10)])
    k, metric, index = panel.children[0].children
    first = panel.status.value
    assert "k=1, L2" in first
    k.value = 7
    assert "k=7, L2" in panel.status.value
    metric.value = "L1"
    assert "L1" in panel.status.value
    expected = panel.explorer.report(7, "L1", 0)["accuracy"]
    assert f"{expected:.3f}" in panel.status.value


def test_linear_panel_trains_on_click(rows):
    data = {k: np.hstack([v, np.ones((len(v), 1))]) if k.startswith("X_") else v
            for k, v in rows.items() if k[:2] in ("X_", "y_")}
    seen = []
    panel = widgets.linear_panel(lambda *a: seen.append(1) or svm_loss_vectorized(*a), data,
                                 (1, 8, 8), [str(i) for i in range(10)])
    assert panel.result is None
    panel.controls["epochs"].value = 2
    panel.controls["learning_rate"].value = 0.1
    panel.controls["train"].click()
    assert seen and panel.result["val_acc"] > 0.8
    assert "validation accuracy" in panel.status.value
    assert panel.result["W"].shape == (65, 10)


def test_train_linear_stops_on_divergence(rows):
    data = {k: v for k, v in rows.items()}
    W, history, _ = widgets.train_linear(svm_loss_vectorized, data["X_train"] * 1e6,
                                         data["y_train"], data["X_val"], data["y_val"],
                                         learning_rate=1e6, reg=1.0, epochs=5)
    assert all(np.isfinite(history))
