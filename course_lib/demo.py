"""The course's classifiers trained and evaluated on the embedded digits: `python -m course_lib`.

Each run_* function picks its hyperparameters on the validation set only, then reports validation
and test accuracy; the tests compare these numbers with scikit-learn's classifiers on the same split.
"""
import time

import numpy as np

from .classifiers import (KNearestNeighbor, LinearSVM, Softmax, ThreeLayerConvNet, TwoLayerNet,
                          cross_validate_k)
from .data import add_bias_column, as_rows, get_digits_data
from .solver import Solver


def digits_splits(seed=0):
    """Images (N, 1, 8, 8) scaled to [0, 1] and mean-subtracted, and the same as flat rows."""
    images = get_digits_data(seed=seed)
    return images, as_rows(images)


def _result(name, setting, model_predict, data, started):
    return {"model": name, "setting": setting,
            "val_acc": float(np.mean(model_predict(data["X_val"]) == data["y_val"])),
            "test_acc": float(np.mean(model_predict(data["X_test"]) == data["y_test"])),
            "seconds": time.perf_counter() - started}


def run_knn(rows, k_choices=(1, 3, 5, 7, 10)):
    """k chosen by 5-fold cross-validation on the training set."""
    started = time.perf_counter()
    folds = cross_validate_k(rows["X_train"], rows["y_train"], k_choices)
    best_k = max(k_choices, key=lambda k: (np.mean(folds[k]), -k))
    knn = KNearestNeighbor().train(rows["X_train"], rows["y_train"])
    return _result("kNN", f"k={best_k}", lambda X: knn.predict(X, k=best_k), rows, started)


def _run_linear(cls, name, rows, learning_rates, regs, num_iters, seed):
    started = time.perf_counter()
    biased = {k: add_bias_column(v) if k.startswith("X_") else v for k, v in rows.items()
              if k.startswith(("X_", "y_"))}
    best = None
    for lr in learning_rates:
        for reg in regs:
            clf = cls(seed=seed)
            clf.train(biased["X_train"], biased["y_train"], learning_rate=lr, reg=reg,
                      num_iters=num_iters, batch_size=200)
            val = np.mean(clf.predict(biased["X_val"]) == biased["y_val"])
            if best is None or val > best[0]:
                best = (val, lr, reg, clf)
    _, lr, reg, clf = best
    return _result(name, f"lr={lr:g} reg={reg:g}", clf.predict, biased, started)


def run_softmax(rows, seed=0):
    return _run_linear(Softmax, "softmax", rows, (0.3, 1.0), (1e-4, 1e-3), 1500, seed)


def run_svm(rows, seed=0):
    return _run_linear(LinearSVM, "linear SVM", rows, (0.03, 0.1), (1e-4, 1e-3), 1500, seed)


def _run_net(name, setting, model, data, epochs, lr, seed):
    started = time.perf_counter()
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": lr},
                    lr_decay=0.95, batch_size=50, num_epochs=epochs, num_train_samples=None,
                    verbose=False, seed=seed)
    solver.train()
    predict = lambda X: np.argmax(model.loss(X), axis=1)  # noqa: E731
    return _result(name, setting, predict, data, started)


def run_two_layer_net(rows, seed=0, hidden_dim=100, epochs=30):
    model = TwoLayerNet(input_dim=rows["X_train"].shape[1], hidden_dim=hidden_dim,
                        weight_scale=1e-1, reg=1e-3, seed=seed)
    return _run_net("two-layer net", f"hidden={hidden_dim} adam", model, rows, epochs, 2e-3, seed)


def run_convnet(images, seed=0, epochs=12):
    model = ThreeLayerConvNet(input_dim=images["X_train"].shape[1:], num_filters=16, filter_size=3,
                              hidden_dim=64, weight_scale=1e-1, reg=1e-3, dtype=np.float32,
                              seed=seed)
    return _run_net("ConvNet", "16 3x3 filters, hidden=64", model, images, epochs, 2e-3, seed)


def run_all(seed=0):
    images, rows = digits_splits(seed)
    return [run_knn(rows), run_softmax(rows, seed), run_svm(rows, seed),
            run_two_layer_net(rows, seed), run_convnet(images, seed)]


def format_table(results):
    lines = [f"{'model':<15}{'setting':<28}{'val acc':>9}{'test acc':>10}{'seconds':>9}"]
    for r in results:
        lines.append(f"{r['model']:<15}{r['setting']:<28}{r['val_acc']:>9.3f}{r['test_acc']:>10.3f}"
                     f"{r['seconds']:>9.1f}")
    return "\n".join(lines)
