"""The linear-classifier panel (assignments 1.2, 1.3): SGD with a live loss curve, then templates."""
import time

import numpy as np

from .. import vis
from ..classifiers.linear import LinearClassifier
from .panel import Throttled, action_button, draw, layout, reg_slider


class _Diverged(Exception):
    """The loss is no longer finite: training stops there."""


def train_linear(loss_fn, X_train, y_train, X_val, y_val, learning_rate, reg, epochs,
                 batch_size=200, seed=0, on_progress=None):
    """LinearClassifier.train's minibatch SGD on any loss_fn(W, X, y, reg) -> (loss, dW), for
    `epochs` passes over the data; stops early when the loss is no longer finite. Calls
    on_progress(history) about twenty times per run. Returns W, the loss history and the
    validation accuracy."""
    iterations = max(1, epochs * X_train.shape[0] // batch_size)
    every = max(1, iterations // 20)
    history = []

    def watched(W, X, y, reg):
        loss, dW = loss_fn(W, X, y, reg)
        if not np.isfinite(loss):
            raise _Diverged
        history.append(float(loss))
        if on_progress and ((len(history) - 1) % every == 0 or len(history) == iterations):
            on_progress(history)
        return loss, dW

    classifier = LinearClassifier(seed=seed)
    classifier.loss_function = watched
    # Too large a learning rate overflows on purpose, in a panel made for trying it: training
    # notices (a non-finite loss) and stops, so NumPy's overflow warnings would only be noise.
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            classifier.train(X_train, y_train, learning_rate, reg, iterations, batch_size,
                             num_classes=int(max(y_train.max(), y_val.max())) + 1)
        except _Diverged:
            pass
        val_acc = float(np.mean(classifier.predict(X_val) == y_val))
    return classifier.W, history, val_acc


def _loss_figure(history):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(5, 2.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(history)
    ax.set(xlabel="iteration", ylabel="training loss")
    fig.tight_layout()
    return fig


def loss_trend(history, iterations):
    """What the panel says about a loss history: "" when it fell, else why it is a problem."""
    if len(history) < iterations:
        return "; <b>the loss overflowed</b>: lower the learning rate"
    if sum(history[-5:]) / len(history[-5:]) > history[0]:
        return (f"; <b>the loss grew</b> from {history[0]:.3g} to {history[-1]:.3g}: the learning "
                f"rate is too large")
    return ""


def linear_panel(loss_fn, data, image_shape, class_names):
    """Log-scale learning rate and regularisation, epochs, and a Train button: a live loss curve,
    then the validation accuracy and the learned weights as class templates. Errors raised by
    loss_fn (the student's loss) are shown in the panel."""
    import ipywidgets as w
    lr = w.FloatLogSlider(value=1e-1, base=10, min=-4, max=4, description="learning rate")
    reg = reg_slider(1e-4, "regularisation")
    epochs = w.IntSlider(value=5, min=1, max=50, description="epochs")
    status, curve, templates = w.HTML(), w.Output(), w.Output()

    def train():
        status.value = "training..."
        curve.clear_output()
        templates.clear_output()
        started = time.perf_counter()
        show_curve = Throttled(lambda h: draw(curve, _loss_figure(h)))
        W, history, val_acc = train_linear(loss_fn, data["X_train"], data["y_train"], data["X_val"],
                                           data["y_val"], lr.value, reg.value, epochs.value,
                                           on_progress=show_curve)
        show_curve(history, force=True)
        iterations = max(1, epochs.value * len(data["X_train"]) // 200)
        status.value = (f"<b>validation accuracy</b> {val_acc:.3f} after {len(history)} iterations "
                        f"({time.perf_counter() - started:.1f} s)" + loss_trend(history, iterations))
        # one scale for every run of this panel (the first run's), so that stronger
        # regularisation shows as templates fading toward grey
        panel.template_scale = panel.template_scale or float(np.max(np.abs(W[:int(np.prod(image_shape))])))
        draw(templates, vis.show_class_templates(W, class_names, image_shape, scale=panel.template_scale))
        panel.result = {"W": W, "history": history, "val_acc": val_acc}

    button = action_button("Train", train, status)
    panel = layout([[lr, reg], [epochs, button]], status, curve, templates,
                   controls={"learning_rate": lr, "reg": reg, "epochs": epochs, "train": button},
                   result=None, template_scale=None)
    return panel
