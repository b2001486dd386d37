"""ipywidgets panels for the notebooks, each a thin shell around plain functions.

The plain functions (knn_report, train_linear) do the work and are what the tests call: graded
notebooks run headless, where no widget callback ever fires. A panel only reads its controls, calls
the function and draws the result into an Output area.
"""
import time

import numpy as np
from IPython.display import display

from . import vis
from .classifiers.knn import KNearestNeighbor, predict_labels

METRICS = ("L2", "L1")


# ---------------------------------------------------------------- k-nearest neighbours
def l1_distances(X, X_train, chunk=256):
    """Manhattan distances between rows, computed in chunks of test rows to bound memory."""
    out = np.empty((X.shape[0], X_train.shape[0]), X.dtype)
    for start in range(0, X.shape[0], chunk):
        out[start:start + chunk] = np.abs(X[start:start + chunk, None, :] - X_train[None]).sum(axis=2)
    return out


class KnnExplorer:
    """Distances are computed once per metric; every query after that is a vote."""

    def __init__(self, X_train, y_train, X_test, y_test):
        self.X_train, self.y_train, self.X_test, self.y_test = X_train, y_train, X_test, y_test
        self._dists = {}

    def distances(self, metric):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if metric not in self._dists:
            self._dists[metric] = (
                KNearestNeighbor().train(self.X_train, self.y_train).compute_distances_no_loops(self.X_test)
                if metric == "L2" else l1_distances(self.X_test, self.X_train))
        return self._dists[metric]

    def report(self, k, metric, index):
        """Accuracy over the test set, and for test image `index` its k nearest training images."""
        dists = self.distances(metric)
        predictions = predict_labels(dists, self.y_train, k)
        nearest = np.argsort(dists[index], kind="stable")[:k]
        return {"accuracy": float(np.mean(predictions == self.y_test)),
                "prediction": int(predictions[index]), "label": int(self.y_test[index]),
                "neighbours": nearest, "neighbour_labels": self.y_train[nearest]}


def knn_report(X_train, y_train, X_test, y_test, k=1, metric="L2", index=0):
    return KnnExplorer(X_train, y_train, X_test, y_test).report(k, metric, index)


def _image(row, image_shape):
    image = row.reshape(image_shape)
    image = (image - image.min()) / (np.ptp(image) or 1)
    return image[0] if image_shape[0] == 1 else image.transpose(1, 2, 0)


def neighbours_figure(explorer, report, index, image_shape, class_names):
    from matplotlib.figure import Figure
    k = len(report["neighbours"])
    fig = Figure(figsize=(1.4 * (k + 1), 1.8))
    ax = fig.add_subplot(1, k + 1, 1)
    ax.imshow(_image(explorer.X_test[index], image_shape), cmap="gray")
    ax.set_title(f"test: {class_names[report['label']]}\nvote: {class_names[report['prediction']]}",
                 fontsize=8)
    ax.axis("off")
    for i, (j, label) in enumerate(zip(report["neighbours"], report["neighbour_labels"]), start=2):
        ax = fig.add_subplot(1, k + 1, i)
        ax.imshow(_image(explorer.X_train[j], image_shape), cmap="gray")
        ax.set_title(class_names[label], fontsize=8)
        ax.axis("off")
    return fig


def knn_panel(X_train, y_train, X_test, y_test, image_shape, class_names, max_k=20):
    """Sliders for k and the test image, a choice of distance; shows the accuracy on the test set
    and the chosen image's nearest neighbours."""
    import ipywidgets as w
    explorer = KnnExplorer(X_train, y_train, X_test, y_test)
    k = w.IntSlider(value=1, min=1, max=max_k, description="k")
    metric = w.Dropdown(options=METRICS, value="L2", description="distance")
    index = w.IntSlider(value=0, min=0, max=len(X_test) - 1, description="test image")
    status = w.HTML()
    out = w.Output()

    def update(_=None):
        report = explorer.report(k.value, metric.value, index.value)
        status.value = (f"<b>accuracy</b> {report['accuracy']:.3f} with k={k.value}, "
                        f"{metric.value} distance")
        out.clear_output(wait=True)
        with out:
            display(neighbours_figure(explorer, report, index.value, image_shape, class_names))

    for control in (k, metric, index):
        control.observe(update, names="value")
    update()
    panel = w.VBox([w.HBox([k, metric, index]), status, out])
    panel.explorer, panel.status = explorer, status
    return panel


# ---------------------------------------------------------------- linear classifiers
def train_linear(loss_fn, X_train, y_train, X_val, y_val, learning_rate, reg, epochs,
                 batch_size=200, seed=0, on_progress=None):
    """Minibatch SGD on any loss_fn(W, X, y, reg) -> (loss, dW). Calls on_progress(history) about
    twenty times per run. Returns W, the loss history and the validation accuracy."""
    rng = np.random.default_rng(seed)
    num_classes = int(max(y_train.max(), y_val.max())) + 1
    W = (0.001 * rng.standard_normal((X_train.shape[1], num_classes))).astype(X_train.dtype)
    iterations = max(1, epochs * X_train.shape[0] // batch_size)
    history = []
    # Too large a learning rate overflows on purpose, in a panel made for trying it: the loop
    # notices (a non-finite loss) and stops, so NumPy's overflow warnings would only be noise.
    with np.errstate(over="ignore", invalid="ignore"):
        for it in range(iterations):
            idx = rng.integers(X_train.shape[0], size=batch_size)
            loss, grad = loss_fn(W, X_train[idx], y_train[idx], reg)
            if not np.isfinite(loss):
                break
            history.append(float(loss))
            W -= X_train.dtype.type(learning_rate) * grad
            if on_progress and (it % max(1, iterations // 20) == 0 or it == iterations - 1):
                on_progress(history)
        val_acc = float(np.mean(np.argmax(X_val @ W, axis=1) == y_val))
    return W, history, val_acc


def _loss_figure(history):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(5, 2.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(history)
    ax.set(xlabel="iteration", ylabel="training loss")
    fig.tight_layout()
    return fig


def linear_panel(loss_fn, data, image_shape, class_names):
    """Log-scale learning rate and regularisation, epochs, and a Train button: a live loss curve,
    then the validation accuracy and the learned weights as class templates."""
    import ipywidgets as w
    lr = w.FloatLogSlider(value=1e-1, base=10, min=-4, max=1, description="learning rate")
    reg = w.FloatLogSlider(value=1e-4, base=10, min=-6, max=0, description="regularisation")
    epochs = w.IntSlider(value=5, min=1, max=50, description="epochs")
    button = w.Button(description="Train", button_style="primary")
    status = w.HTML()
    curve, templates = w.Output(), w.Output()

    def show_curve(history):
        curve.clear_output(wait=True)
        with curve:
            display(_loss_figure(history))

    def train(_=None):
        button.disabled = True
        started = time.perf_counter()
        try:
            W, history, val_acc = train_linear(loss_fn, data["X_train"], data["y_train"],
                                               data["X_val"], data["y_val"], lr.value, reg.value,
                                               epochs.value, on_progress=show_curve)
        finally:
            button.disabled = False
        diverged = len(history) < max(1, epochs.value * len(data["X_train"]) // 200)
        status.value = (f"<b>validation accuracy</b> {val_acc:.3f} after {len(history)} iterations "
                        f"({time.perf_counter() - started:.1f} s)"
                        + ("; <b>the loss diverged</b>: lower the learning rate" if diverged else ""))
        templates.clear_output(wait=True)
        with templates:
            display(vis.show_class_templates(W, class_names, image_shape))
        panel.result = {"W": W, "history": history, "val_acc": val_acc}

    button.on_click(train)
    panel = w.VBox([w.HBox([lr, reg]), w.HBox([epochs, button]), status, curve, templates])
    panel.controls = {"learning_rate": lr, "reg": reg, "epochs": epochs, "train": button}
    panel.status, panel.result = status, None
    return panel
