"""The k-nearest-neighbour panel (assignment 1.1): distances once per metric, then votes."""
import numpy as np

from ..classifiers.knn import KNearestNeighbor, l1_distances, predict_labels
from .panel import YoursOrOurs, draw, layout, notes, shown_errors_in

METRICS = ("L2", "L1")


class KnnExplorer:
    """Distances are computed once per metric; every query after that is a vote. l2(X, X_train)
    and vote(dists, y_train, k) are the student's functions where given (the course's where they
    are not written yet)."""

    def __init__(self, X_train, y_train, X_test, y_test, l2=None, vote=None):
        self.X_train, self.y_train, self.X_test, self.y_test = X_train, y_train, X_test, y_test
        ours = KNearestNeighbor().train(X_train, y_train).compute_distances_no_loops
        self.l2 = YoursOrOurs(l2, lambda X, _: ours(X), getattr(l2, "__name__", "distances"))
        self.vote = YoursOrOurs(vote, predict_labels, getattr(vote, "__name__", "vote"))
        self._dists = {}

    def distances(self, metric):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if metric not in self._dists:
            self._dists[metric] = (self.l2(self.X_test, self.X_train) if metric == "L2"
                                   else l1_distances(self.X_test, self.X_train))
        return self._dists[metric]

    def report(self, k, metric, index):
        """Accuracy over the test set, and for test image `index` its k nearest training images."""
        dists = self.distances(metric)
        predictions = np.asarray(self.vote(dists, self.y_train, k))
        nearest = np.argsort(dists[index], kind="stable")[:k]
        return {"accuracy": float(np.mean(predictions == self.y_test)),
                "prediction": int(predictions[index]), "label": int(self.y_test[index]),
                "neighbours": nearest, "neighbour_labels": self.y_train[nearest]}


def knn_report(X_train, y_train, X_test, y_test, k=1, metric="L2", index=0, l2=None, vote=None):
    return KnnExplorer(X_train, y_train, X_test, y_test, l2, vote).report(k, metric, index)


def _image(row, image_shape, mean=None):
    """A row as a picture: the training mean added back (if given), rescaled to [0, 1]."""
    image = row.reshape(image_shape) + (0 if mean is None else np.asarray(mean).reshape(image_shape))
    image = (image - image.min()) / (np.ptp(image) or 1)
    return image[0] if image_shape[0] == 1 else image.transpose(1, 2, 0)


def neighbours_figure(explorer, report, index, image_shape, class_names, mean=None):
    from matplotlib.figure import Figure
    k = len(report["neighbours"])
    fig = Figure(figsize=(1.4 * (k + 1), 1.8))
    ax = fig.add_subplot(1, k + 1, 1)
    ax.imshow(_image(explorer.X_test[index], image_shape, mean), cmap="gray")
    ax.set_title(f"test: {class_names[report['label']]}\nvote: {class_names[report['prediction']]}",
                 fontsize=8)
    ax.axis("off")
    for i, (j, label) in enumerate(zip(report["neighbours"], report["neighbour_labels"]), start=2):
        ax = fig.add_subplot(1, k + 1, i)
        ax.imshow(_image(explorer.X_train[j], image_shape, mean), cmap="gray")
        ax.set_title(class_names[label], fontsize=8)
        ax.axis("off")
    return fig


def knn_panel(X_train, y_train, X_test, y_test, image_shape, class_names, max_k=20, l2=None,
              vote=None, mean=None):
    """Sliders for k and the test image, a choice of distance; shows the accuracy on the test set
    and the chosen image's nearest neighbours. l2 and vote: the student's compute_distances_no_loops
    and predict_labels (the course's are used, with a note, until they are written); mean: the
    training mean the rows had subtracted, added back to show the images as they were taken."""
    import ipywidgets as w
    explorer = KnnExplorer(X_train, y_train, X_test, y_test, l2, vote)
    k = w.IntSlider(value=1, min=1, max=max_k, description="k")
    metric = w.Dropdown(options=METRICS, value="L2", description="distance")
    index = w.IntSlider(value=0, min=0, max=len(X_test) - 1, description="test image")
    status, out = w.HTML(), w.Output()

    @shown_errors_in(status)
    def update(_=None):
        report = explorer.report(k.value, metric.value, index.value)
        status.value = (f"<b>accuracy</b> {report['accuracy']:.3f} with k={k.value}, "
                        f"{metric.value} distance" + notes(explorer.l2, explorer.vote))
        draw(out, neighbours_figure(explorer, report, index.value, image_shape, class_names, mean))

    for control in (k, metric, index):
        control.observe(update, names="value")
    update()
    return layout([[k, metric, index]], status, out, controls={"k": k, "metric": metric, "index": index},
                  explorer=explorer)
