"""Every backward pass against float64 central differences, on both CPU backends."""
import numpy as np
import pytest

from course_lib import layers
from course_lib.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error

# (N, C, H, W), (F, HH, WW), stride, pad: odd sizes, stride 2 and 3, pad 0/1/2, non-square kernels
CONV_CASES = [
    ((2, 3, 5, 5), (4, 3, 3), 1, 1),
    ((3, 2, 7, 5), (3, 3, 1), 2, 0),
    ((1, 3, 6, 9), (2, 2, 3), 2, 1),
    ((2, 1, 7, 7), (3, 5, 5), 1, 2),
    ((2, 2, 9, 6), (5, 3, 3), 3, 0),
    ((1, 4, 4, 6), (2, 4, 2), 2, 2),
]
POOL_CASES = [((2, 3, 4, 4), 2, 2, 2), ((1, 2, 7, 5), 3, 1, 2), ((2, 2, 6, 6), 3, 3, 3),
              ((1, 3, 5, 7), 3, 3, 1)]


def check(backward_grads, forward, inputs, dout, tol=1e-7):
    """Central differences are exact to about 1e-10 absolute here, so entries near zero reach
    relative errors near 1e-8; a wrong gradient lands far above 1e-7."""
    for name, analytic in backward_grads.items():
        numeric = eval_numerical_gradient_array(lambda _: forward(), inputs[name], dout)
        assert rel_error(analytic, numeric) < tol, f"d{name}: rel error {rel_error(analytic, numeric)}"


def test_affine(backend, rng):
    x, w, b = rng.standard_normal((3, 2, 5)), rng.standard_normal((10, 4)), rng.standard_normal(4)
    out, cache = layers.affine_forward(x, w, b)
    assert out.shape == (3, 4)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layers.affine_backward(dout, cache)
    check({"x": dx, "w": dw, "b": db}, lambda: layers.affine_forward(x, w, b)[0],
          {"x": x, "w": w, "b": b}, dout)


def test_relu(backend, rng):
    x = rng.standard_normal((4, 7))
    x[np.abs(x) < 1e-3] = 0.5  # keep central differences away from the kink
    out, cache = layers.relu_forward(x)
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0))
    dout = rng.standard_normal(x.shape)
    check({"x": layers.relu_backward(dout, cache)}, lambda: layers.relu_forward(x)[0], {"x": x}, dout)


@pytest.mark.parametrize("x_shape, w_spec, stride, pad", CONV_CASES)
def test_conv(backend, rng, x_shape, w_spec, stride, pad):
    f, hh, ww = w_spec
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((f, x_shape[1], hh, ww))
    b = rng.standard_normal(f)
    param = {"stride": stride, "pad": pad}
    out, cache = layers.conv_forward(x, w, b, param)
    assert out.shape == (x_shape[0], f, (x_shape[2] + 2 * pad - hh) // stride + 1,
                         (x_shape[3] + 2 * pad - ww) // stride + 1)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layers.conv_backward(dout, cache)
    check({"x": dx, "w": dw, "b": db}, lambda: layers.conv_forward(x, w, b, param)[0],
          {"x": x, "w": w, "b": b}, dout)


def test_conv_forward_matches_a_direct_sum(backend, rng):
    """The definition written as plain loops, independent of both kernels."""
    x, w, b = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((2, 3, 3, 2)), rng.standard_normal(2)
    stride, pad = 2, 1
    out, _ = layers.conv_forward(x, w, b, {"stride": stride, "pad": pad})
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    for n in range(2):
        for f in range(2):
            for i in range(out.shape[2]):
                for j in range(out.shape[3]):
                    patch = xp[n, :, i * stride:i * stride + 3, j * stride:j * stride + 2]
                    assert out[n, f, i, j] == pytest.approx(np.sum(patch * w[f]) + b[f], rel=1e-12)


@pytest.mark.parametrize("x_shape, ph, pw, stride", POOL_CASES)
def test_max_pool(backend, rng, x_shape, ph, pw, stride):
    x = rng.permutation(np.arange(np.prod(x_shape), dtype=np.float64)).reshape(x_shape) / 7  # no ties
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = layers.max_pool_forward(x, param)
    dout = rng.standard_normal(out.shape)
    check({"x": layers.max_pool_backward(dout, cache)},
          lambda: layers.max_pool_forward(x, param)[0], {"x": x}, dout, tol=1e-10)


def test_max_pool_ties_go_to_the_first_maximum(backend):
    x = np.ones((1, 1, 2, 2))
    out, cache = layers.max_pool_forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = layers.max_pool_backward(np.full((1, 1, 1, 1), 3.0), cache)
    np.testing.assert_array_equal(dx[0, 0], [[3.0, 0.0], [0.0, 0.0]])


def test_batchnorm_train(backend, rng):
    x = 3 * rng.standard_normal((6, 5)) + 2
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    bn_param = {"mode": "train"}
    out, cache = layers.batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(((out - beta) / gamma).mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(((out - beta) / gamma).std(axis=0), 1, atol=1e-5)
    dout = rng.standard_normal(x.shape)
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    forward = lambda: layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]  # noqa: E731
    numeric = {n: eval_numerical_gradient_array(lambda _: forward(), v, dout)
               for n, v in (("x", x), ("gamma", gamma), ("beta", beta))}
    for name, analytic in (("x", dx), ("gamma", dgamma), ("beta", dbeta)):
        err = rel_error(analytic, numeric[name])
        assert err < 1e-7, f"d{name}: {err}"


def test_batchnorm_running_statistics_and_test_mode(backend, rng):
    d = 4
    gamma, beta = np.ones(d), np.zeros(d)
    bn_param = {"mode": "train", "momentum": 0.9}
    for _ in range(200):
        layers.batchnorm_forward(2 * rng.standard_normal((50, d)) + 5, gamma, beta, bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], 5, atol=0.3)
    np.testing.assert_allclose(bn_param["running_var"], 4, atol=0.8)
    bn_param["mode"] = "test"
    x = 2 * rng.standard_normal((2000, d)) + 5
    out, _ = layers.batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=0.2)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=0.2)


NORM_CASES = [  # layer, x's shape, G (spatial group norm only)
    ("layernorm", (4, 7), None), ("layernorm", (1, 5), None),
    ("spatial_batchnorm", (3, 4, 5, 3), None), ("spatial_batchnorm", (3, 2, 1, 1), None),  # N H W >= 3: see batchnorm
    ("spatial_groupnorm", (2, 6, 3, 5), 3), ("spatial_groupnorm", (3, 4, 2, 2), 1),
    ("spatial_groupnorm", (2, 5, 3, 3), 5),
]


def _norm(layer, G):
    """(forward(x, gamma, beta) in training, backward) of a normalisation layer."""
    forward, backward = getattr(layers, f"{layer}_forward"), getattr(layers, f"{layer}_backward")
    if layer == "spatial_batchnorm":
        return (lambda x, g, b: forward(x, g, b, {"mode": "train"})), backward
    if layer == "spatial_groupnorm":
        return (lambda x, g, b: forward(x, g, b, G)), backward
    return forward, backward


@pytest.mark.parametrize("layer,shape,G", NORM_CASES)
def test_normalisation_layers(backend, rng, layer, shape, G):
    x = 3 * rng.standard_normal(shape) + 2
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    forward, backward = _norm(layer, G)
    out, cache = forward(x, gamma, beta)
    xhat = (out - beta.reshape(-1, *[1] * (x.ndim - 2))) / gamma.reshape(-1, *[1] * (x.ndim - 2))
    # what each layer normalises over: the features of a row, a channel of the batch, a group of an image
    over = {"layernorm": lambda: xhat, "spatial_batchnorm": lambda: xhat.transpose(1, 0, 2, 3).reshape(shape[1], -1),
            "spatial_groupnorm": lambda: xhat.reshape(shape[0], G, -1)}[layer]()
    np.testing.assert_allclose(over.mean(axis=-1), 0, atol=1e-10)
    np.testing.assert_allclose(over.var(axis=-1), 1, atol=1e-4)
    dout = rng.standard_normal(out.shape)
    check(dict(zip(("x", "gamma", "beta"), backward(dout, cache))), lambda: forward(x, gamma, beta)[0],
          {"x": x, "gamma": gamma, "beta": beta}, dout, tol=1e-7)


def test_spatial_batchnorm_is_batchnorm_of_every_position(backend, rng):
    x = rng.standard_normal((3, 4, 2, 5))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    bn_param, rows_param = {"mode": "train"}, {"mode": "train"}
    out, _ = layers.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    rows, _ = layers.batchnorm_forward(x.transpose(0, 2, 3, 1).reshape(-1, 4), gamma, beta, rows_param)
    np.testing.assert_allclose(out, rows.reshape(3, 2, 5, 4).transpose(0, 3, 1, 2), atol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"], rows_param["running_var"], atol=1e-12)
    bn_param["mode"] = "test"
    test_out, cache = layers.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    assert cache is None
    running = (x - bn_param["running_mean"][:, None, None]) / np.sqrt(bn_param["running_var"][:, None, None] + 1e-5)
    np.testing.assert_allclose(test_out, gamma[:, None, None] * running + beta[:, None, None], atol=1e-12)


def test_group_norm_with_one_group_is_layer_norm_of_the_flattened_map(backend, rng):
    x = rng.standard_normal((3, 4, 2, 2))
    out, _ = layers.spatial_groupnorm_forward(x, np.ones(4), np.zeros(4), 1)
    rows, _ = layers.layernorm_forward(x.reshape(3, -1), np.ones(16), np.zeros(16))
    np.testing.assert_allclose(out.reshape(3, -1), rows, atol=1e-12)


@pytest.mark.parametrize("keep", [0.25, 0.6, 0.9])
def test_dropout_keep_probability(backend, rng, keep):
    x = rng.standard_normal((500, 500)) + 10
    out, cache = layers.dropout_forward(x, {"p": keep, "mode": "train", "seed": 1})
    assert np.mean(out == 0) == pytest.approx(1 - keep, abs=0.01)
    assert out.mean() == pytest.approx(x.mean(), rel=0.02)  # inverted dropout keeps the expectation
    test_out, _ = layers.dropout_forward(x, {"p": keep, "mode": "test"})
    assert test_out is x
    dout = rng.standard_normal(x.shape)
    dx = layers.dropout_backward(dout, cache)
    np.testing.assert_allclose(dx, dout * (out != 0) / keep, rtol=1e-14)


def test_dropout_gradient(backend, rng):
    x = rng.standard_normal((4, 6))
    param = {"p": 0.7, "mode": "train", "seed": 3}
    out, cache = layers.dropout_forward(x, param)
    dout = rng.standard_normal(x.shape)
    check({"x": layers.dropout_backward(dout, cache)}, lambda: layers.dropout_forward(x, param)[0],
          {"x": x}, dout, tol=1e-9)


@pytest.mark.parametrize("loss_fn", [layers.svm_loss, layers.softmax_loss])
def test_losses(backend, rng, loss_fn):
    scores = rng.standard_normal((7, 5))
    y = rng.integers(5, size=7)
    loss, dscores = loss_fn(scores, y)
    numeric = eval_numerical_gradient(lambda s: loss_fn(s, y)[0], scores)
    assert rel_error(dscores, numeric) < 1e-8


def test_loss_values_at_initialisation(backend, rng):
    """With all scores equal: softmax gives log(C); the SVM gives C - 1 (every margin is 1)."""
    y = rng.integers(10, size=50)
    assert layers.softmax_loss(np.zeros((50, 10)), y)[0] == pytest.approx(np.log(10))
    assert layers.svm_loss(np.zeros((50, 10)), y)[0] == pytest.approx(9.0)


@pytest.mark.parametrize("sandwich", ["affine_relu", "conv_relu", "conv_relu_pool"])
def test_sandwich_layers(backend, rng, sandwich):
    conv, pool = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    if sandwich == "affine_relu":
        x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((12, 5)), rng.standard_normal(5)
        args, forward, backward = (), layers.affine_relu_forward, layers.affine_relu_backward
    else:
        x, w, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((3, 3, 3, 3)), rng.standard_normal(3)
        args = (conv,) if sandwich == "conv_relu" else (conv, pool)
        forward = getattr(layers, f"{sandwich}_forward")
        backward = getattr(layers, f"{sandwich}_backward")
    out, cache = forward(x, w, b, *args)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = backward(dout, cache)
    check({"x": dx, "w": dw, "b": db}, lambda: forward(x, w, b, *args)[0],
          {"x": x, "w": w, "b": b}, dout, tol=1e-7)
