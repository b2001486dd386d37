import numpy as np
import pytest

from course_lib.classifiers import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet
from course_lib.gradcheck import eval_numerical_gradient, rel_error
from course_lib.solver import Solver


def gradients_match(model, X, y, rng, tol=1e-6, zero_grad=()):
    """Random nonzero biases keep pre-activations off relu's kink at exactly 0 (a layer whose
    inputs were all dropped would otherwise sit on it). Parameters in zero_grad (a bias right
    before batch norm) have gradient exactly 0: compared in absolute terms."""
    for name in model.params:
        if name.startswith("b"):
            model.params[name] = model.params[name] + 0.1 * rng.standard_normal(model.params[name].shape)
    loss, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name, param in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], param)
        if name in zero_grad:
            assert np.max(np.abs(grads[name])) < 1e-12 and np.max(np.abs(numeric)) < 1e-8, name
            continue
        err = rel_error(grads[name], numeric)
        assert err < tol, f"{name}: relative error {err:.2e}"
    return loss


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_two_layer_net_gradients(backend, rng, reg):
    model = TwoLayerNet(input_dim=5, hidden_dim=6, num_classes=3, weight_scale=0.5, reg=reg, seed=1)
    gradients_match(model, rng.standard_normal((4, 5)), rng.integers(3, size=4), rng)


@pytest.mark.parametrize("normalization, keep", [(None, 1.0), ("batchnorm", 1.0), (None, 0.6),
                                                 ("batchnorm", 0.75), ("layernorm", 1.0), ("layernorm", 0.75)])
def test_fully_connected_net_gradients(backend, rng, normalization, keep):
    model = FullyConnectedNet([7, 5, 6], input_dim=8, num_classes=4, normalization=normalization,
                              dropout_keep_ratio=keep, reg=0.1, weight_scale=0.5,
                              dtype=np.float64, seed=2, dropout_seed=5)
    before_bn = ("b1", "b2", "b3") if normalization == "batchnorm" else ()  # batch norm removes a bias
    gradients_match(model, rng.standard_normal((5, 8)), rng.integers(4, size=5), rng, tol=1e-5,
                    zero_grad=before_bn)


def test_three_layer_convnet_gradients(backend, rng):
    model = ThreeLayerConvNet(input_dim=(2, 6, 6), num_filters=3, filter_size=3, hidden_dim=5,
                              num_classes=4, weight_scale=0.3, reg=0.05, dtype=np.float64, seed=3)
    gradients_match(model, rng.standard_normal((3, 2, 6, 6)), rng.integers(4, size=3), rng, tol=1e-5)


def test_convnet_initial_loss_is_log_ten(rng):
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), seed=0)  # course defaults: 32 7x7 filters, 1e-3
    loss, _ = model.loss(rng.standard_normal((20, 3, 8, 8)), rng.integers(10, size=20))
    assert loss == pytest.approx(np.log(10), abs=1e-3)
    assert model.params["W1"].shape == (32, 3, 7, 7) and model.params["W2"].shape == (32 * 16, 100)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nets_compute_in_their_dtype(rng, dtype):
    model = FullyConnectedNet([4], input_dim=3, num_classes=2, dtype=dtype, seed=0)
    loss, grads = model.loss(rng.standard_normal((2, 3)), np.array([0, 1]))
    assert all(g.dtype == dtype for g in grads.values())
    assert model.loss(rng.standard_normal((2, 3))).dtype == dtype


def overfit(model, X, y, rule, lr, batch_size, epochs):
    solver = Solver(model, {"X_train": X, "y_train": y, "X_val": X, "y_val": y},
                    update_rule=rule, optim_config={"learning_rate": lr}, batch_size=batch_size,
                    num_epochs=epochs, num_train_samples=None, verbose=False, seed=0)
    return solver.train()


def test_fc_net_overfits_fifty_images(digits):
    """As in CS231n: a small FC net reaches 100% training accuracy on 50 images within 20 epochs."""
    X, y = digits["X_train"][:50].reshape(50, -1), digits["y_train"][:50]
    model = FullyConnectedNet([100, 100], input_dim=64, num_classes=10, weight_scale=5e-2,
                              dtype=np.float64, seed=0)
    solver = overfit(model, X, y, "adam", 1e-2, 25, 20)
    assert solver.train_acc_history[-1] == 1.0


def test_convnet_overfits_a_hundred_images(digits):
    X, y = digits["X_train"][:100], digits["y_train"][:100]
    model = ThreeLayerConvNet(input_dim=(1, 8, 8), num_filters=16, filter_size=3, hidden_dim=100,
                              weight_scale=5e-2, seed=0)
    solver = overfit(model, X, y, "adam", 1e-2, 50, 40)
    assert solver.train_acc_history[-1] == 1.0
    assert solver.loss_history[-1] < solver.loss_history[0] / 10


def test_seeded_dropout_draws_a_new_mask_each_step_reproducibly(rng):
    X, y = rng.standard_normal((6, 4)), np.array([0, 1, 0, 1, 0, 1])

    def losses(**kw):
        model = FullyConnectedNet([50], input_dim=4, num_classes=2, dropout_keep_ratio=0.5,
                                  dtype=np.float64, seed=7, **kw)
        return [model.loss(X, y)[0] for _ in range(3)]

    first = losses()
    assert len(set(first)) == 3  # a fresh mask every training step
    assert losses() == first  # and the same sequence for the same seed
    assert len(set(losses(dropout_seed=1))) == 1  # frozen mask, for gradient checks


def test_batchnorm_net_switches_modes(rng):
    model = FullyConnectedNet([5], input_dim=3, num_classes=2, normalization="batchnorm",
                              dropout_keep_ratio=0.5, seed=0)
    model.loss(rng.standard_normal((4, 3)).astype(np.float32), np.array([0, 1, 0, 1]))
    assert model.bn_params[0]["mode"] == "train"
    model.loss(rng.standard_normal((4, 3)))
    assert model.bn_params[0]["mode"] == "test" and model.dropout_param["mode"] == "test"


def test_even_filter_size_is_refused():
    with pytest.raises(ValueError, match="odd filter"):
        ThreeLayerConvNet(filter_size=4)


def test_unknown_normalization():
    with pytest.raises(ValueError, match="'batchnorm' or 'layernorm'"):
        FullyConnectedNet([3], normalization="groupnorm")
