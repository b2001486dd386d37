"""The network-training panel (assignments 2.1, 2.2): depth, width, update rule, learning rate,
weight scale, regularisation, dropout keep probability and batch norm, with live training curves."""
import time

import numpy as np

from .. import vis
from ..classifiers.nets import FullyConnectedNet
from ..data.preprocess import as_rows
from ..optim import RULES
from ..solver import Solver
from .panel import Throttled, YoursOrOurs, action_button, draw, layout, notes, reg_slider


# A tiny call of each layer's forward and backward: does a student's pair run at all?
_PROBES = {
    "affine": lambda fwd, bwd, x: bwd(x[:, :2], fwd(x, np.ones((3, 2), x.dtype), np.zeros(2, x.dtype))[1]),
    "relu": lambda fwd, bwd, x: bwd(x, fwd(x)[1]),
    "batchnorm": lambda fwd, bwd, x: bwd(x, fwd(x, np.ones(3, x.dtype), np.zeros(3, x.dtype),
                                                 {"mode": "train"})[1]),
    "dropout": lambda fwd, bwd, x: bwd(x, fwd(x, {"mode": "train", "p": 0.5, "seed": 0})[1]),
}


def yours_or_ours_layers(pairs):
    """({name: function} for FullyConnectedNet(layers=...), [notes]) from the student's layer pairs
    {"batchnorm": (batchnorm_forward, batchnorm_backward), ...}: a pair is used when both run
    (tried on a tiny input), the course's pair when either is a stub (with a note). Any other
    error is the student's to see, so it is raised."""
    unknown = set(pairs or {}) - set(_PROBES)
    if unknown:
        raise ValueError(f"layers: {sorted(unknown)} are not layer kinds of the network panel; "
                         f"it takes {', '.join(_PROBES)}")
    chosen, said = {}, []
    for kind, (forward, backward) in (pairs or {}).items():
        try:
            _PROBES[kind](forward, backward, np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
        except NotImplementedError:
            said.append(f"your {kind} layer is not written yet, so the course's is used")
            continue
        chosen[f"{kind}_forward"], chosen[f"{kind}_backward"] = forward, backward
    return chosen, said


def train_net(data, hidden_dims=(100,), update_rule="adam", learning_rate=1e-3, weight_scale=1e-2,
              reg=0.0, epochs=5, keep=1.0, normalization=None, batch_size=100, seed=0,
              on_progress=None, dtype=np.float32, layers=None):
    """Train a FullyConnectedNet on data (rows) with the Solver. on_progress(solver) is called as
    training goes; layers replaces some of the network's layer functions (FullyConnectedNet's
    `layers`). Returns {"model", "solver", "val_acc", "diverged", "epochs_done"}: a learning rate
    too large for the weights stops training with the reason in "diverged" instead of raising."""
    flat = as_rows({k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")})
    rows = {k: v.astype(dtype) if k.startswith("X_") else v for k, v in flat.items()}
    num_classes = int(max(rows["y_train"].max(), rows["y_val"].max())) + 1
    model = FullyConnectedNet(list(hidden_dims), input_dim=rows["X_train"].shape[1],
                              num_classes=num_classes, dropout_keep_ratio=keep,
                              normalization=normalization, reg=reg, weight_scale=weight_scale,
                              dtype=dtype, seed=seed, layers=layers)
    solver = Solver(model, rows, update_rule=update_rule,
                    optim_config={"learning_rate": learning_rate}, num_epochs=epochs,
                    batch_size=batch_size, print_every=20, verbose=False, seed=seed,
                    callback=on_progress)
    diverged = None
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught, not warned about
        try:
            solver.train()
        except FloatingPointError as err:
            diverged = str(err)
    return {"model": model, "solver": solver, "diverged": diverged, "epochs_done": solver.epoch,
            "val_acc": solver.best_val_acc}


def net_panel(data, hidden_size=100, num_hidden=1, update_rule="adam", learning_rate=1e-3,
              weight_scale=1e-2, reg=0.0, epochs=5, keep=1.0, batchnorm=False, rules=None,
              layers=None):
    """Controls for train_net and a Train button; the loss and accuracy curves redraw as the
    network trains. rules: the student's update rules by name ({"adam": adam, ...}); layers: the
    student's layer pairs by kind ({"batchnorm": (batchnorm_forward, batchnorm_backward), ...},
    kinds affine, relu, batchnorm, dropout). Each is used where it is written, the course's (with
    a note) until then."""
    import ipywidgets as w
    controls = {
        "hidden_size": w.IntSlider(value=hidden_size, min=5, max=500, step=5, description="hidden size"),
        "num_hidden": w.IntSlider(value=num_hidden, min=1, max=5, description="hidden layers"),
        "update_rule": w.Dropdown(options=sorted(RULES), value=update_rule, description="update rule"),
        "learning_rate": w.FloatLogSlider(value=learning_rate, base=10, min=-5, max=0,
                                          description="learning rate"),
        "weight_scale": w.FloatLogSlider(value=weight_scale, base=10, min=-4, max=0,
                                         description="weight scale"),
        "reg": reg_slider(reg, "regularisation"),
        "epochs": w.IntSlider(value=epochs, min=1, max=50, description="epochs"),
        "keep": w.FloatSlider(value=keep, min=0.1, max=1.0, step=0.05, description="keep prob."),
        "batchnorm": w.Checkbox(value=batchnorm, description="batch norm"),
    }
    status, curves = w.HTML(), w.Output()

    def train():
        status.value = "training..."
        curves.clear_output()
        c = {name: control.value for name, control in controls.items()}
        rule = YoursOrOurs((rules or {}).get(c["update_rule"]), RULES[c["update_rule"]], c["update_rule"])
        replaced, layer_notes = yours_or_ours_layers(layers)
        started = time.perf_counter()
        show = Throttled(lambda solver: draw(curves, vis.plot_history(solver)))
        result = train_net(data, [c["hidden_size"]] * c["num_hidden"], rule,
                           c["learning_rate"], c["weight_scale"], c["reg"], c["epochs"],
                           c["keep"], "batchnorm" if c["batchnorm"] else None, on_progress=show,
                           layers=replaced)
        show(result["solver"], force=True)
        trained = (f"<b>best validation accuracy</b> {result['val_acc']:.3f}" if result["epochs_done"]
                   else "<b>no epoch finished</b>")
        status.value = (f"{trained} ({time.perf_counter() - started:.1f} s)"
                        + (f"; <b>stopped</b>: {result['diverged']}" if result["diverged"] else "")
                        + notes(rule, *layer_notes))
        panel.result = result

    button = action_button("Train", train, status)
    c = list(controls.values())
    panel = layout([c[:3], c[3:6], [*c[6:], button]], status, curves,
                   controls={**controls, "train": button}, result=None)
    return panel
