"""The linear-classifier panel (assignments 1.2, 1.3): SGD with a live loss curve, then templates."""
import time

import numpy as np
from IPython.display import display

from .. import vis


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
        # one scale for every run of this panel (the first run's), so that stronger
        # regularisation shows as templates fading toward grey
        panel.template_scale = panel.template_scale or float(np.max(np.abs(W[:int(np.prod(image_shape))])))
        templates.clear_output(wait=True)
        with templates:
            display(vis.show_class_templates(W, class_names, image_shape, scale=panel.template_scale))
        panel.result = {"W": W, "history": history, "val_acc": val_acc}

    button.on_click(train)
    panel = w.VBox([w.HBox([lr, reg]), w.HBox([epochs, button]), status, curve, templates])
    panel.controls = {"learning_rate": lr, "reg": reg, "epochs": epochs, "train": button}
    panel.status, panel.result, panel.template_scale = status, None, None
    return panel
