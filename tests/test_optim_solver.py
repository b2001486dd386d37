import os
import pickle

import numpy as np
import pytest

from course_lib import optim
from course_lib.classifiers import TwoLayerNet
from course_lib.solver import Solver


def test_defaults_match_the_course():
    assert optim.DEFAULTS["sgd_momentum"]["momentum"] == 0.9
    assert optim.DEFAULTS["rmsprop"]["decay_rate"] == 0.99
    assert optim.DEFAULTS["adam"] == {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999,
                                      "epsilon": 1e-8}


def test_sgd():
    w, config = optim.sgd(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {"learning_rate": 0.1})
    np.testing.assert_allclose(w, [0.95, 2.1])


def test_momentum_two_steps_by_hand():
    w, dw = np.array([1.0]), np.array([2.0])
    w, config = optim.sgd_momentum(w, dw, {"learning_rate": 0.1})  # v = -0.2
    w, config = optim.sgd_momentum(w, dw, config)  # v = 0.9 * -0.2 - 0.2 = -0.38
    np.testing.assert_allclose(w, [1.0 - 0.2 - 0.38])
    np.testing.assert_allclose(config["velocity"], [-0.38])


def test_nesterov_first_step_looks_ahead():
    w, _ = optim.nesterov_momentum(np.array([1.0]), np.array([2.0]), {"learning_rate": 0.1})
    np.testing.assert_allclose(w, [1.0 - 1.9 * 0.2])  # (1 + mu) * lr * dw


def test_rmsprop_first_step():
    """cache = 0.01 dw^2, so the step is lr * dw / (0.1 |dw|) = 10 lr sign(dw)."""
    w, _ = optim.rmsprop(np.array([0.0, 0.0]), np.array([3.0, -0.5]), {"learning_rate": 1e-3})
    np.testing.assert_allclose(w, [-1e-2, 1e-2], rtol=1e-6)


def test_adam_first_steps_move_by_the_learning_rate():
    """With bias correction the first step is lr * sign(dw), whatever the gradient's size."""
    w, config = optim.adam(np.array([0.0, 0.0]), np.array([1e3, -1e-3]))
    np.testing.assert_allclose(w, [-1e-3, 1e-3], rtol=1e-4)
    assert config["t"] == 1


@pytest.mark.parametrize("rule", list(optim.RULES))
def test_every_rule_minimises_a_quadratic(rule):
    w, config = np.array([3.0, -2.0]), {"learning_rate": 0.05}
    for _ in range(500):
        w, config = optim.get_rule(rule)(w, 2 * w, config)
    assert np.linalg.norm(w) < 0.05


@pytest.mark.parametrize("rule", list(optim.RULES))
def test_rules_keep_float32(rule):
    w, _ = optim.get_rule(rule)(np.ones(3, np.float32), np.ones(3, np.float32), None)
    assert w.dtype == np.float32


def test_unknown_rule():
    with pytest.raises(ValueError, match="choose one of sgd"):
        optim.get_rule("lbfgs")


def small_problem(rng, n=60):
    centres = 2 * rng.standard_normal((3, 4))
    y = rng.integers(3, size=n)
    X = centres[y] + 0.3 * rng.standard_normal((n, 4))
    return {"X_train": X, "y_train": y, "X_val": X[:20], "y_val": y[:20]}


def make_solver(rng, **kw):
    model = TwoLayerNet(input_dim=4, hidden_dim=10, num_classes=3, weight_scale=0.1, seed=0)
    args = dict(update_rule="sgd", optim_config={"learning_rate": 0.5}, batch_size=10,
                num_epochs=5, verbose=False, seed=0)
    args.update(kw)
    return Solver(model, small_problem(rng), **args)


def test_solver_learns_and_records_history(rng):
    solver = make_solver(rng).train()
    assert len(solver.loss_history) == 5 * 6
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 6  # incl. epoch 0
    assert solver.loss_history[-1] < solver.loss_history[0]
    assert solver.best_val_acc == max(solver.val_acc_history[1:]) > 0.9


def test_the_untrained_start_is_never_the_model_kept(rng):
    """A run whose training only made things worse keeps its best trained epoch, not the start
    (a panel once reported a failed run's 0.189 of the untrained network as its best)."""
    solver = make_solver(rng, num_epochs=2)
    scores = iter([0.9, 0.9, 0.2, 0.2, 0.4, 0.4])  # (train, val) at epochs 0, 1 and 2
    solver.check_accuracy = lambda *args, **kw: next(scores)
    kept = {}
    solver.callback = lambda s: kept.setdefault(s.epoch, {k: v.copy() for k, v in s.model.params.items()})
    solver.train()
    assert solver.best_val_acc == 0.4 and solver.val_acc_history == [0.9, 0.2, 0.4]
    for name, value in solver.model.params.items():
        np.testing.assert_array_equal(value, kept[2][name])
    untouched = make_solver(rng, num_epochs=0)
    before = {k: v.copy() for k, v in untouched.model.params.items()}
    untouched.train()
    assert untouched.best_val_acc == 0.0 and untouched.model.params.keys() == before.keys()


def test_solver_keeps_the_best_parameters(rng):
    solver = make_solver(rng)
    solver.train()
    best = solver.check_accuracy(solver.X_val, solver.y_val)
    assert best == solver.best_val_acc
    for name, value in solver.best_params.items():
        np.testing.assert_array_equal(solver.model.params[name], value)


def test_learning_rate_decays_every_epoch(rng):
    solver = make_solver(rng, lr_decay=0.5, num_epochs=3).train()
    assert solver.optim_configs["W1"]["learning_rate"] == pytest.approx(0.5 * 0.5 ** 3)


def test_checkpoints_are_written_atomically(rng, tmp_path):
    solver = make_solver(rng, checkpoint_name=str(tmp_path / "run"), num_epochs=2).train()
    files = sorted(os.listdir(tmp_path))
    assert files == ["run_epoch_1.pkl", "run_epoch_2.pkl"]  # no .part left behind
    with open(tmp_path / "run_epoch_2.pkl", "rb") as f:
        state = pickle.load(f)
    assert state["epoch"] == 2 and state["loss_history"] == solver.loss_history


def test_a_failed_checkpoint_keeps_earlier_ones(rng, tmp_path, monkeypatch):
    solver = make_solver(rng, checkpoint_name=str(tmp_path / "run"), num_epochs=2)
    real_dump = pickle.dump
    calls = []

    def dump_then_fail(obj, f):
        calls.append(obj["epoch"])
        if obj["epoch"] == 2:
            raise OSError("disk full")
        real_dump(obj, f)

    monkeypatch.setattr(pickle, "dump", dump_then_fail)
    with pytest.raises(OSError, match="disk full"):
        solver.train()
    assert sorted(os.listdir(tmp_path)) == ["run_epoch_1.pkl"]


def test_solver_reports_a_diverging_loss(rng):
    solver = make_solver(rng, optim_config={"learning_rate": 1e6}, num_epochs=50)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        with np.errstate(all="ignore"):
            solver.train()


def test_solver_checks_its_data(rng):
    data = small_problem(rng)
    model = TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=3)
    with pytest.raises(KeyError, match="X_val"):
        Solver(model, {"X_train": data["X_train"], "y_train": data["y_train"]})
    with pytest.raises(ValueError, match="60 samples but y_train has 59"):
        Solver(model, dict(data, y_train=data["y_train"][:-1]))


def test_max_epochs_setting_caps_training_not_data(rng, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_MAX_EPOCHS", "2")
    solver = make_solver(rng, num_epochs=5)
    solver.train()
    assert solver.epoch == 2 and len(solver.val_acc_history) == 3  # the start, then 2 epochs
    assert make_solver(rng, num_epochs=1).num_epochs == 1  # a cap, never more epochs
    monkeypatch.setenv("COURSE_LIB_MAX_EPOCHS", "one")
    with pytest.raises(ValueError, match="COURSE_LIB_MAX_EPOCHS must be a whole number of epochs >= 1, got 'one'"):
        make_solver(rng, num_epochs=5)


def test_progress_bar_off_by_default(rng, capsys):
    make_solver(rng, num_epochs=1).train()
    assert capsys.readouterr().err == ""


def test_solver_callback_sees_training_as_it_goes(digits):
    from course_lib.classifiers.nets import TwoLayerNet
    seen = []
    model = TwoLayerNet(64, 20, 10, weight_scale=1e-2, seed=0)
    Solver(model, digits | {"X_train": digits["X_train"][:200], "y_train": digits["y_train"][:200]},
           num_epochs=2, batch_size=50, print_every=2, verbose=False,
           callback=lambda s: seen.append((len(s.loss_history), s.epoch))).train()
    # every 2nd of 8 iterations (1, 3, 5, 7 done) and after each of the 2 epochs
    assert seen == [(1, 0), (3, 0), (4, 1), (5, 1), (7, 1), (8, 2)]


def test_save_pickle_keeps_the_old_file_when_writing_fails(tmp_path):
    from course_lib.storage import load_pickle, save_pickle
    path = tmp_path / "model.pkl"
    save_pickle({"a": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        save_pickle({"a": Unpicklable()}, path)
    assert load_pickle(path) == {"a": 1} and list(tmp_path.iterdir()) == [path]
