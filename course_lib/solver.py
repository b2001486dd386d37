"""The training loop: minibatch gradient descent on any model with the course's model interface.

A model has `params` (a dict of arrays) and `loss(X, y=None)`: with y it returns (loss, grads), a
dict with the same keys as params; without y it returns class scores of shape (N, C).

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    num_epochs=5, batch_size=100)
    solver.train()            # afterwards model.params holds the best parameters on validation
    solver.loss_history, solver.train_acc_history, solver.val_acc_history

The environment variable COURSE_LIB_MAX_EPOCHS, when set, caps every Solver's num_epochs: a quick
Run All of the notebooks on the full CIFAR-10 (the test suite sets it to 1) changes how long they
train, never the data they train on.
"""
import os

import numpy as np
from tqdm.auto import tqdm

from . import optim
from .storage import save_pickle


def max_epochs(num_epochs):
    """num_epochs, capped by COURSE_LIB_MAX_EPOCHS when that is set."""
    cap = os.environ.get("COURSE_LIB_MAX_EPOCHS", "").strip()
    if not cap:
        return num_epochs
    if not cap.isdigit() or int(cap) < 1:
        raise ValueError(f"COURSE_LIB_MAX_EPOCHS must be a whole number of epochs >= 1, got {cap!r}")
    return min(num_epochs, int(cap))


class Solver:
    def __init__(self, model, data, *, update_rule="sgd", optim_config=None, lr_decay=1.0,
                 batch_size=100, num_epochs=10, num_train_samples=1000, num_val_samples=None,
                 checkpoint_name=None, print_every=10, verbose=True, progress=False, seed=None,
                 callback=None):
        """data: dict with X_train, y_train, X_val, y_val. lr_decay multiplies the learning rate
        after each epoch. Accuracy on the training set is estimated on num_train_samples random
        samples (None: all). progress=True shows a tqdm bar (kept off in graded cells: it writes
        to stderr outside a notebook). checkpoint_name writes "<name>_epoch_<e>.pkl" after each
        epoch, atomically. callback(solver) is called every print_every iterations and after
        every epoch: what a live plot hooks into."""
        missing = {"X_train", "y_train", "X_val", "y_val"} - set(data)
        if missing:
            raise KeyError(f"Solver: data is missing {sorted(missing)}")
        if len(data["X_train"]) != len(data["y_train"]):
            raise ValueError(f"Solver: X_train has {len(data['X_train'])} samples but y_train has "
                             f"{len(data['y_train'])}")
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.update = optim.get_rule(update_rule)
        self.update_rule = update_rule
        self.optim_config = dict(optim_config or {})
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.num_epochs = max_epochs(num_epochs)
        self.num_train_samples = num_train_samples
        self.num_val_samples = num_val_samples
        self.checkpoint_name = checkpoint_name
        self.print_every = print_every
        self.verbose = verbose
        self.progress = progress
        self.callback = callback
        self.rng = np.random.default_rng(seed)
        self._reset()

    def _reset(self):
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params = {}
        self.loss_history, self.train_acc_history, self.val_acc_history = [], [], []
        self.optim_configs = {k: dict(self.optim_config) for k in self.model.params}

    def _step(self):
        """One minibatch (sampled with replacement, as in the course) and one update per parameter."""
        idx = self.rng.integers(len(self.X_train), size=self.batch_size)
        loss, grads = self.model.loss(self.X_train[idx], self.y_train[idx])
        if not np.isfinite(loss):
            raise FloatingPointError(f"Solver: the loss became {loss} at iteration "
                                     f"{len(self.loss_history)}; lower the learning rate or the "
                                     f"weight scale")
        self.loss_history.append(float(loss))
        for name, w in self.model.params.items():
            if name not in grads:
                raise KeyError(f"Solver: model.loss returned no gradient for parameter {name!r}")
            self.model.params[name], self.optim_configs[name] = self.update(
                w, grads[name], self.optim_configs[name])

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of correct predictions on (a random subsample of num_samples of) X."""
        if num_samples is not None and len(X) > num_samples:
            idx = self.rng.choice(len(X), num_samples, replace=False)
            X, y = X[idx], y[idx]
        predictions = [np.argmax(self.model.loss(X[i:i + batch_size]), axis=1)
                       for i in range(0, len(X), batch_size)]
        return float(np.mean(np.concatenate(predictions) == y))

    def _end_epoch(self):
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        # epoch 0, the untrained start, is a sanity check: never the model kept
        if self.epoch > 0 and (val_acc > self.best_val_acc or not self.best_params):
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        if self.verbose:
            print(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; "
                  f"val_acc: {val_acc:f}")

    def train(self):
        """Run num_epochs epochs; afterwards model.params holds the parameters of the epoch with
        the best validation accuracy (best_val_acc)."""
        iterations_per_epoch = max(len(self.X_train) // self.batch_size, 1)
        total = self.num_epochs * iterations_per_epoch
        self._end_epoch()  # accuracy before any training: a sanity check on initialisation
        with tqdm(total=total, disable=not self.progress, desc="training") as bar:
            for t in range(total):
                self._step()
                bar.update(1)
                if t % self.print_every == 0:
                    if self.verbose:
                        print(f"(Iteration {t + 1} / {total}) loss: {self.loss_history[-1]:f}")
                    if self.callback:
                        self.callback(self)
                if (t + 1) % iterations_per_epoch == 0:
                    self.epoch += 1
                    for config in self.optim_configs.values():
                        if "learning_rate" in config:  # the rules fill in defaults at step one
                            config["learning_rate"] *= self.lr_decay
                    self._end_epoch()
                    self._save_checkpoint()
                    if self.callback:
                        self.callback(self)
        if self.best_params:  # else no epoch ended (num_epochs = 0): the parameters stay
            self.model.params = self.best_params
        return self

    def _save_checkpoint(self):
        """Write to a temporary file first, then rename: an interrupted write never leaves a torn
        checkpoint behind, and earlier epochs' files stay intact."""
        if self.checkpoint_name is None:
            return
        state = {"model": self.model, "update_rule": self.update_rule, "lr_decay": self.lr_decay,
                 "optim_config": self.optim_config, "batch_size": self.batch_size,
                 "num_train_samples": self.num_train_samples,
                 "num_val_samples": self.num_val_samples, "epoch": self.epoch,
                 "loss_history": self.loss_history, "train_acc_history": self.train_acc_history,
                 "val_acc_history": self.val_acc_history}
        path = f"{self.checkpoint_name}_epoch_{self.epoch}.pkl"
        save_pickle(state, path)
        if self.verbose:
            print(f"Saved checkpoint to {path}")
