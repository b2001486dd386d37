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


def test_knn_panel_runs_the_students_functions_or_says_it_does_not(rows):
    args = (rows["X_train"], rows["y_train"], rows["X_test"], rows["y_test"], (1, 8, 8),
            [str(i) for i in range(10)])
    course = widgets.knn_panel(*args).status.value

    def compute_distances_no_loops(X, X_train):
        raise NotImplementedError("compute_distances_no_loops is not written yet")

    def predict_labels(dists, y_train, k=1):  # a student's vote that always says 3
        return np.full(len(dists), 3)

    mine = widgets.knn_panel(*args, l2=compute_distances_no_loops, vote=predict_labels).status.value
    assert "your compute_distances_no_loops is not written yet, so the course" in mine
    expected = np.mean(rows["y_test"] == 3)
    assert f"<b>accuracy</b> {expected:.3f}" in mine and f"{expected:.3f}" not in course
    assert "not written" not in course


def test_net_panel_updates_with_the_students_rules(digits):
    calls = []

    def sgd_momentum(w, dw, config=None):
        calls.append(1)
        config = config or {}
        return w - config.get("learning_rate", 1e-2) * dw, config

    def adam(w, dw, config=None):
        raise NotImplementedError("adam is not written yet")

    panel = widgets.net_panel(digits, epochs=1, update_rule="sgd_momentum",
                              rules={"sgd_momentum": sgd_momentum, "adam": adam})
    panel.controls["train"].click()
    assert calls and "not written" not in panel.status.value
    panel.controls["update_rule"].value = "adam"
    panel.controls["train"].click()
    assert "your adam is not written yet, so the course" in panel.status.value
    assert panel.result["val_acc"] > 0.5


def test_net_panel_trains_on_the_students_layers_or_says_it_does_not(digits):
    from course_lib import layers
    calls = []

    def batchnorm_forward(x, gamma, beta, bn_param):  # the course's, counted
        calls.append("forward")
        return layers.batchnorm_forward(x, gamma, beta, bn_param)

    def batchnorm_backward(dout, cache):
        calls.append("backward")
        return layers.batchnorm_backward(dout, cache)

    def dropout_forward(x, dropout_param):
        raise NotImplementedError("dropout_forward is not written yet")

    def dropout_backward(dout, cache):
        raise NotImplementedError("dropout_backward is not written yet")

    panel = widgets.net_panel(digits, epochs=1, keep=0.8, batchnorm=True,
                              layers={"batchnorm": (batchnorm_forward, batchnorm_backward),
                                      "dropout": (dropout_forward, dropout_backward)})
    panel.controls["train"].click()
    status = panel.status.value
    assert "your dropout layer is not written yet, so the course" in status
    assert "batchnorm layer" not in status and "best validation accuracy" in status
    # every training step ran the student's pair (one hidden layer), after one tiny trial call
    steps = len(panel.result["solver"].loss_history)
    assert steps > 5 and calls.count("backward") == steps + 1 and calls.count("forward") > steps + 1
    assert panel.result["model"].layers["batchnorm_forward"] is batchnorm_forward
    assert panel.result["model"].layers["dropout_forward"] is layers.dropout_forward


def test_net_panel_shows_an_error_in_the_students_layer(digits):
    def relu_forward(x):
        return np.maximum(x, 0), x

    def relu_backward(dout, cache):
        return dout @ (cache > 0)  # a matrix product where a product of entries was meant

    panel = widgets.net_panel(digits, epochs=1, layers={"relu": (relu_forward, relu_backward)})
    panel.controls["train"].click()
    assert "relu_backward" in panel.status.value and panel.result is None


def test_a_network_refuses_layers_it_does_not_have():
    from course_lib.classifiers.nets import FullyConnectedNet
    with pytest.raises(ValueError, match=r"\['conv_forward'\] are not layers of this network"):
        FullyConnectedNet([5], input_dim=4, num_classes=3, layers={"conv_forward": print})
    with pytest.raises(ValueError, match=r"\['conv'\] are not layer kinds .* affine, relu, batchnorm, dropout"):
        widgets.nets.yours_or_ours_layers({"conv": (print, print)})


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
    # a second run with strong regularisation is drawn on the first run's scale: fainter templates
    first_scale, first_W = panel.template_scale, panel.result["W"]
    panel.controls["reg"].value = 1.0
    panel.controls["train"].click()
    assert panel.template_scale == first_scale
    assert np.abs(panel.result["W"][:64]).mean() < 0.7 * np.abs(first_W[:64]).mean()


def test_train_linear_stops_on_divergence(rows):
    data = {k: v for k, v in rows.items()}
    W, history, _ = widgets.train_linear(svm_loss_vectorized, data["X_train"] * 1e6,
                                         data["y_train"], data["X_val"], data["y_val"],
                                         learning_rate=1e6, reg=1.0, epochs=5)
    assert all(np.isfinite(history))


def test_conv_panel_recomputes_and_explains(tmp_path):
    panel = widgets.conv_panel(size=7, filter_size=3, stride=1)
    assert panel.result["output"] == 5 and "= <b>5</b>" in panel.status.value
    panel.controls["stride"].value = 2
    assert panel.result["output"] == 3 and "3x3x4" in panel.status.value
    panel.controls["stride"].value = 3
    assert not panel.result["valid"] and "impossible" in panel.status.value
    # the picture is in the same widget as the text (no moment where they disagree), and it is
    # the stride-3 picture: two windows fit, one column is left over
    assert '<img src="data:image/png;base64,' in panel.status.value
    assert 'alt="2 windows fit, 1 column(s) left over: invalid"' in panel.status.value
    widgets.conv_figure(panel.result).savefig(tmp_path / "invalid.png")


def test_train_net_learns_the_digits_and_reports_divergence(digits):
    result = widgets.train_net(digits, [40], update_rule="adam", learning_rate=1e-2, epochs=3)
    assert result["diverged"] is None and result["val_acc"] > 0.85
    assert result["model"].params["W1"].shape == (64, 40)
    blown = widgets.train_net(digits, [40], update_rule="sgd", learning_rate=1e3, weight_scale=1,
                              epochs=2)
    assert "lower the learning rate" in blown["diverged"]
    assert blown["epochs_done"] == 0 and blown["val_acc"] == 0.0  # not the untrained network's


def test_throttled_drawing_takes_at_most_a_third_of_the_time():
    now, drawn = [0.0], []

    def slow_draw(i):  # a drawing that takes 0.5 s
        drawn.append(i)
        now[0] += 0.5

    throttled = widgets.panel.Throttled(slow_draw, min_gap=0.2, clock=lambda: now[0])
    for i in range(40):  # a training step every 0.1 s
        throttled(i)
        now[0] += 0.1
    throttled(40, force=True)
    assert drawn[0] == 0 and drawn[-1] == 40  # the first state at once, the last one always
    compute = 40 * 0.1
    assert 0.5 * len(drawn) <= 0.5 * compute + 0.5  # drawing: a third of the total, plus the last
    assert len(drawn) >= 4


def test_linear_panel_shows_errors_from_the_students_loss(rows):
    def not_written(W, X, y, reg):
        raise NotImplementedError("svm_loss_vectorized is not written yet")

    panel = widgets.linear_panel(not_written, rows, (1, 8, 8), [str(i) for i in range(10)])
    panel.controls["train"].click()
    shown = panel.status.value
    assert "NotImplementedError" in shown and "svm_loss_vectorized is not written yet" in shown
    assert "in not_written" in shown and "write it above" in shown
    assert not panel.controls["train"].disabled and panel.result is None


def test_linear_panel_clears_old_results_and_says_when_the_loss_grows(rows):
    from course_lib.classifiers import softmax_loss_vectorized
    data = {k: np.hstack([v, np.ones((len(v), 1))]) if k.startswith("X_") else v
            for k, v in rows.items() if k[:2] in ("X_", "y_")}
    during = []
    panel = widgets.linear_panel(lambda *a: during.append(panel.status.value) or softmax_loss_vectorized(*a),
                                 data, (1, 8, 8), [str(i) for i in range(10)])
    panel.controls["reg"].value = 0.0  # no regularisation at all is a choice
    panel.controls["train"].click()
    assert "grew" not in panel.status.value and set(during) == {"training..."}
    panel.controls["reg"].value = 1e-4
    panel.controls["learning_rate"].value = 1e3  # on the digits, softmax's loss grows from here
    during.clear()
    panel.controls["train"].click()
    assert set(during) == {"training..."}, "the last run's results are gone while this one trains"
    assert "the loss grew" in panel.status.value and "too large" in panel.status.value


def test_net_panel_trains_with_its_controls_and_draws_live(digits, monkeypatch):
    drawn = []
    monkeypatch.setattr(widgets.nets.vis, "plot_history",
                        lambda solver: drawn.append(len(solver.loss_history)) or "figure")
    panel = widgets.net_panel(digits, epochs=2)
    panel.controls["hidden_size"].value = 30
    panel.controls["batchnorm"].value = True
    panel.controls["train"].click()
    model = panel.result["model"]
    assert model.params["W1"].shape == (64, 30) and "gamma1" in model.params
    assert len(drawn) >= 2 and drawn == sorted(drawn), "curves drawn as training goes, and at the end"
    assert drawn[-1] == len(model_losses := panel.result["solver"].loss_history) and model_losses
    assert "best validation accuracy" in panel.status.value


def test_class_visualization_panel_shows_an_image(digits):
    from course_lib.classifiers.nets import ThreeLayerConvNet
    model = ThreeLayerConvNet((1, 8, 8), 4, 3, 16, 10, weight_scale=0.1, dtype=np.float64, seed=1)
    panel = widgets.class_visualization_panel(model, (1, 8, 8), [str(d) for d in range(10)])
    panel.controls["target"].value = 4
    panel.controls["num_iterations"].value = 30
    panel.controls["run"].click()
    assert panel.image.shape == (1, 8, 8) and "score of <b>4</b>" in panel.status.value


def test_hog_panel_runs_the_students_function_or_says_it_does_not(digits):
    from course_lib import features
    images = digits["X_train"][:5] + digits["mean"]
    labels, names = digits["y_train"][:5], [str(i) for i in range(10)]
    panel = widgets.hog_panel(images, labels, names, cell=2, bins=9)
    gray = features.grayscale(images[:1])
    np.testing.assert_allclose(panel.result, features.hog_features_numpy(gray, 2, 9)[0])
    assert "144 features for this image (16 cells x 9 bins)" in panel.status.value
    assert 'alt="HOG: 4 x 4 cells of 2, 9 bins"' in panel.status.value
    panel.controls["bins"].value, panel.controls["index"].value = 4, 3
    assert panel.result.shape == (16 * 4,) and 'alt="HOG: 4 x 4 cells of 2, 4 bins"' in panel.status.value
    np.testing.assert_allclose(panel.result, features.hog_features_numpy(features.grayscale(images[3:4]), 2, 4)[0])

    def doubled(gray, cell, bins):  # a student's version that is off by 2: the panel shows theirs
        return 2 * features.hog_features_numpy(gray, cell, bins)

    mine = widgets.hog_panel(images, labels, names, hog=doubled)
    np.testing.assert_allclose(mine.result, 2 * panel_result(images, 2, 9))
    assert "not written" not in mine.status.value

    def unwritten(gray, cell, bins):
        raise NotImplementedError("hog_features is not written yet")

    assert "your hog_features is not written yet, so the course" in widgets.hog_panel(
        images, labels, names, hog=unwritten).status.value

    def broken(gray, cell, bins):
        raise ValueError("operands could not be broadcast")

    assert "ValueError" in widgets.hog_panel(images, labels, names, hog=broken).status.value


def panel_result(images, cell, bins):
    from course_lib import features
    return features.hog_features_numpy(features.grayscale(images[:1]), cell, bins)[0]
