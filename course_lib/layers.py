"""Layers as forward/backward pairs, in the CS231n convention:

    out, cache = X_forward(inputs..., param_dict)
    dinputs... = X_backward(dout, cache)

Each function checks its inputs (shape mismatches name both shapes), then dispatches to the active
backend (course_lib.use_backend) or to the one named by `backend=` ("numpy", "numba" or "cuda"),
which every function below accepts. A cache remembers the backend of its forward pass, and the
backward pass uses that one unless told otherwise. Every function returns arrays of the dtype
(float32 or float64) it was given.
"""
import math

import numpy as np

from . import validate
from .backend import get_backend, kernels
from .sizes import conv_output_size, InvalidGeometryError


def _run(backend):
    name = backend or get_backend()
    return name, kernels(name)


def _param(params, key, where):
    if key not in params:
        raise KeyError(f"{where}: the parameter dict needs a {key!r} entry, got keys {sorted(params)}")
    return params[key]


# ---------------------------------------------------------------- affine
def affine_forward(x, w, b, backend=None):
    """Forward pass of an affine (fully connected) layer: out = x.reshape(N, D) @ w + b.

    Inputs:
    - x: (N, d_1, ..., d_k) inputs; each example is flattened to D = d_1 * ... * d_k values
    - w: (D, M) weights
    - b: (M,) biases

    Returns a tuple of:
    - out: (N, M)
    - cache: what affine_backward needs
    """
    where = "affine_forward"
    validate.float_array("x", x, where=where)
    validate.float_array("w", w, 2, where)
    validate.float_array("b", b, 1, where)
    validate.same_dtype(where, x=x, w=w, b=b)
    x2 = _rows(x)
    validate.shape_matches(where, "the input size D = prod(x.shape[1:]) and the rows of w",
                           "x", x.shape, "w", w.shape, x2.shape[1:], w.shape[:1])
    validate.shape_matches(where, "the bias and the columns of w", "b", b.shape, "w", w.shape,
                           b.shape, w.shape[1:])
    name, k = _run(backend)
    return k.affine_forward(x2, w, b), (name, x, w)


def affine_backward(dout, cache, backend=None):
    """Backward pass of an affine layer.

    Inputs:
    - dout: (N, M) upstream gradient
    - cache: from affine_forward

    Returns a tuple of:
    - dx: (N, d_1, ..., d_k), the shape of x
    - dw: (D, M)
    - db: (M,)
    """
    name, x, w = cache
    _check_dout("affine_backward", dout, (x.shape[0], w.shape[1]), x.dtype)
    dx2, dw, db = _run(backend or name)[1].affine_backward(dout, _rows(x), w)
    return dx2.reshape(x.shape), dw, db


def _rows(x):
    """x as (N, D) rows; the size is spelled out because GPU arrays take no -1 in reshape."""
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))


def _check_dout(where, dout, shape, dtype):
    validate.float_array("dout", dout, where=where)
    validate.shape_matches(where, "the upstream gradient and the forward output", "dout",
                           dout.shape, "the forward output", shape)
    if dout.dtype != dtype:
        raise TypeError(f"{where}: dout has dtype {dout.dtype} but the forward pass ran in {dtype}")


# ---------------------------------------------------------------- relu
def relu_forward(x, backend=None):
    """Forward pass of a rectified linear unit: out = max(x, 0), elementwise.

    Inputs:
    - x: inputs of any shape

    Returns a tuple of:
    - out: the shape of x
    - cache: what relu_backward needs
    """
    validate.float_array("x", x, where="relu_forward")
    name, k = _run(backend)
    return k.relu_forward(x), (name, x)


def relu_backward(dout, cache, backend=None):
    """Backward pass of a ReLU: the upstream gradient where x > 0, and 0 where x <= 0 (the kink
    at exactly 0 gets 0).

    Inputs:
    - dout: upstream gradient, the shape of x
    - cache: from relu_forward

    Returns:
    - dx: the shape of x
    """
    name, x = cache
    _check_dout("relu_backward", dout, x.shape, x.dtype)
    return _run(backend or name)[1].relu_backward(dout, x)


# ---------------------------------------------------------------- convolution
def conv_forward(x, w, b, conv_param, backend=None):
    """Forward pass of a convolutional layer (cross-correlation, as in every framework).

    Inputs:
    - x: (N, C, H, W) images
    - w: (F, C, HH, WW) filters
    - b: (F,) biases
    - conv_param: {"stride": S, "pad": P}; zero padding of P pixels on each side

    Returns a tuple of:
    - out: (N, F, H', W') with H' = (H - HH + 2P) / S + 1 and W' = (W - WW + 2P) / S + 1, which
      must be whole numbers (else InvalidGeometryError explains why)
    - cache: what conv_backward needs
    """
    where = "conv_forward"
    validate.float_array("x", x, 4, where)
    validate.float_array("w", w, 4, where)
    validate.float_array("b", b, 1, where)
    validate.same_dtype(where, x=x, w=w, b=b)
    validate.shape_matches(where, "the input channels (axis 1)", "x", x.shape, "w", w.shape,
                           x.shape[1:2], w.shape[1:2])
    validate.shape_matches(where, "the bias and the number of filters", "b", b.shape, "w", w.shape,
                           b.shape, w.shape[:1])
    stride = _param(conv_param, "stride", where)
    pad = _param(conv_param, "pad", where)
    _conv_out_shape(x.shape, w.shape, stride, pad, where)
    name, k = _run(backend)
    return k.conv_forward(x, w, b, stride, pad), (name, x, w, stride, pad)


def _conv_out_shape(x_shape, w_shape, stride, pad, where):
    try:
        h = conv_output_size(x_shape[2], w_shape[2], stride, pad)
        w = conv_output_size(x_shape[3], w_shape[3], stride, pad)
    except InvalidGeometryError as err:
        raise InvalidGeometryError(f"{where} with x {tuple(x_shape)}, w {tuple(w_shape)}, "
                                   f"stride {stride}, pad {pad}: {err}") from None
    return x_shape[0], w_shape[0], h, w


def conv_backward(dout, cache, backend=None):
    """Backward pass of a convolutional layer.

    Inputs:
    - dout: (N, F, H', W') upstream gradient
    - cache: from conv_forward

    Returns a tuple of:
    - dx: (N, C, H, W)
    - dw: (F, C, HH, WW)
    - db: (F,)
    """
    name, x, w, stride, pad = cache
    _check_dout("conv_backward", dout, _conv_out_shape(x.shape, w.shape, stride, pad, "conv_backward"),
                x.dtype)
    return _run(backend or name)[1].conv_backward(dout, x, w, stride, pad)


# ---------------------------------------------------------------- max pooling
def max_pool_forward(x, pool_param, backend=None):
    """Forward pass of max pooling: the largest value of each window, channel by channel.

    Inputs:
    - x: (N, C, H, W)
    - pool_param: {"pool_height": PH, "pool_width": PW, "stride": S}; no padding, and the windows
      must fit exactly: (H - PH) / S and (W - PW) / S whole numbers

    Returns a tuple of:
    - out: (N, C, H', W') with H' = (H - PH) / S + 1 and W' = (W - PW) / S + 1
    - cache: what max_pool_backward needs (where each window's maximum was; on ties, the first
      in row-major order)
    """
    where = "max_pool_forward"
    validate.float_array("x", x, 4, where)
    ph = _param(pool_param, "pool_height", where)
    pw = _param(pool_param, "pool_width", where)
    stride = _param(pool_param, "stride", where)
    try:
        conv_output_size(x.shape[2], ph, stride)
        conv_output_size(x.shape[3], pw, stride)
    except InvalidGeometryError as err:
        raise InvalidGeometryError(f"{where} with x {x.shape}, a {ph}x{pw} window and stride "
                                   f"{stride}: {err}") from None
    name, k = _run(backend)
    out, argmax = k.max_pool_forward(x, ph, pw, stride)
    return out, (name, x.shape, x.dtype, argmax, (ph, pw, stride))


def max_pool_backward(dout, cache, backend=None):
    """Backward pass of max pooling: each upstream gradient lands on the maximum of its window
    (the first, on ties); overlapping windows add up.

    Inputs:
    - dout: (N, C, H', W') upstream gradient
    - cache: from max_pool_forward

    Returns:
    - dx: (N, C, H, W)
    """
    name, x_shape, dtype, argmax, geometry = cache
    _check_dout("max_pool_backward", dout, argmax.shape, dtype)
    return _run(backend or name)[1].max_pool_backward(dout, argmax, x_shape, dtype, *geometry)


# ---------------------------------------------------------------- batch normalisation
def batchnorm_forward(x, gamma, beta, bn_param, backend=None):
    """Forward pass of batch normalisation: each feature normalised over the batch (mean 0,
    variance 1, with the biased variance), then scaled by gamma and shifted by beta.

    Inputs:
    - x: (N, D)
    - gamma: (D,) scale
    - beta: (D,) shift
    - bn_param: {"mode": "train" | "test", "eps": 1e-5, "momentum": 0.9}, plus "running_mean"
      and "running_var", which this function creates and updates in place during training:
      running = momentum * running + (1 - momentum) * batch statistic. Test mode normalises with
      the running statistics.

    Returns a tuple of:
    - out: (N, D)
    - cache: what batchnorm_backward needs (None in test mode)
    """
    where = "batchnorm_forward"
    _check_norm_inputs(where, x, gamma, beta, 2)
    name, k = _run(backend)
    return _batch_statistics(where, name, x, gamma, beta, bn_param, k.batchnorm_forward, k.batchnorm_inference)


def _check_norm_inputs(where, x, gamma, beta, ndim):
    """x of ndim dimensions and gamma, beta of one value per feature (axis 1) of x, one dtype."""
    validate.float_array("x", x, ndim, where)
    validate.float_array("gamma", gamma, 1, where)
    validate.float_array("beta", beta, 1, where)
    validate.same_dtype(where, x=x, gamma=gamma, beta=beta)
    what = "the features of x" if ndim == 2 else "the channels of x"
    for pname, p in (("gamma", gamma), ("beta", beta)):
        validate.shape_matches(where, f"{pname} and {what}", pname, p.shape, "x", x.shape, p.shape, x.shape[1:2])


def _batch_statistics(where, name, x, gamma, beta, bn_param, train, test):
    """Batch norm of x with the batch's statistics (train(x, gamma, beta, eps)) or the running
    ones (test(...)), the running statistics updated in bn_param: see batchnorm_forward."""
    mode = _param(bn_param, "mode", where)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.setdefault("running_mean", np.zeros(d, x.dtype))
    running_var = bn_param.setdefault("running_var", np.ones(d, x.dtype))
    k = kernels(name)
    if mode == "train":
        out, xhat, mean, var, inv_std = train(x, gamma, beta, eps)
        mean, var = k.to_numpy(mean), k.to_numpy(var)  # running statistics live on the host
        bn_param["running_mean"] = (momentum * running_mean + (1 - momentum) * mean).astype(x.dtype)
        bn_param["running_var"] = (momentum * running_var + (1 - momentum) * var).astype(x.dtype)
        return out, (name, xhat, gamma, inv_std)
    if mode == "test":
        return test(x, gamma, beta, running_mean, running_var, eps), None
    raise ValueError(f"{where}: bn_param['mode'] must be 'train' or 'test', got {mode!r}")


def batchnorm_backward(dout, cache, backend=None):
    """Backward pass of batch normalisation, for a training-mode forward pass.

    Inputs:
    - dout: (N, D) upstream gradient
    - cache: from batchnorm_forward in "train" mode

    Returns a tuple of:
    - dx: (N, D)
    - dgamma: (D,)
    - dbeta: (D,)
    """
    if cache is None:
        raise ValueError("batchnorm_backward: the forward pass ran in test mode; backpropagate "
                         "through a forward pass with bn_param['mode'] = 'train'")
    name, xhat, gamma, inv_std = cache
    _check_dout("batchnorm_backward", dout, xhat.shape, xhat.dtype)
    return _run(backend or name)[1].batchnorm_backward(dout, xhat, gamma, inv_std)


# ---------------------------------------------------------------- layer, spatial batch and group norm
def _maps(x):
    """(N, C, H, W) as (N, C, H * W): the layout of the normalisation kernels."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h * w)


def layernorm_forward(x, gamma, beta, ln_param=None, backend=None):
    """Forward pass of layer normalisation: each example's D features normalised over themselves
    (mean 0, variance 1, with the biased variance), then scaled by gamma and shifted by beta per
    feature. It does not depend on the rest of the batch, so training and test are the same.

    Inputs:
    - x: (N, D)
    - gamma: (D,) scale
    - beta: (D,) shift
    - ln_param: {"eps": 1e-5}, optional

    Returns a tuple of:
    - out: (N, D)
    - cache: what layernorm_backward needs
    """
    where = "layernorm_forward"
    _check_norm_inputs(where, x, gamma, beta, 2)
    name, k = _run(backend)
    n, d = x.shape
    out, xhat, inv_std = k.groupnorm_forward(x.reshape(n, d, 1), gamma, beta, 1, (ln_param or {}).get("eps", 1e-5))
    return out.reshape(n, d), (name, xhat, gamma, inv_std, 1, x.shape)


def layernorm_backward(dout, cache, backend=None):
    """Backward pass of layer normalisation: (dx (N, D), dgamma (D,), dbeta (D,))."""
    return _group_backward("layernorm_backward", dout, cache, backend)


def _group_backward(where, dout, cache, backend):
    name, xhat, gamma, inv_std, groups, shape = cache
    _check_dout(where, dout, shape, xhat.dtype)
    dx, dgamma, dbeta = _run(backend or name)[1].groupnorm_backward(dout.reshape(xhat.shape), xhat, gamma,
                                                                     inv_std, groups)
    return dx.reshape(shape), dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param, backend=None):
    """Forward pass of spatial batch normalisation, for conv activations: each channel normalised
    over the batch and every position (N * H * W values), then scaled and shifted per channel.
    bn_param and the running statistics as in batchnorm_forward, one value per channel.

    Inputs:
    - x: (N, C, H, W)
    - gamma: (C,) scale
    - beta: (C,) shift
    - bn_param: {"mode": "train" | "test", "eps": 1e-5, "momentum": 0.9}, plus "running_mean"
      and "running_var" (C,)

    Returns a tuple of:
    - out: (N, C, H, W)
    - cache: what spatial_batchnorm_backward needs (None in test mode)
    """
    where = "spatial_batchnorm_forward"
    _check_norm_inputs(where, x, gamma, beta, 4)
    name, k = _run(backend)
    out, cache = _batch_statistics(where, name, _maps(x), gamma, beta, bn_param, k.channel_batchnorm_forward,
                                   k.channel_batchnorm_inference)
    return out.reshape(x.shape), cache and (*cache, x.shape)


def spatial_batchnorm_backward(dout, cache, backend=None):
    """Backward pass of spatial batch normalisation: (dx (N, C, H, W), dgamma (C,), dbeta (C,))."""
    where = "spatial_batchnorm_backward"
    if cache is None:
        raise ValueError(f"{where}: the forward pass ran in test mode; backpropagate through a forward pass "
                         f"with bn_param['mode'] = 'train'")
    name, xhat, gamma, inv_std, shape = cache
    _check_dout(where, dout, shape, xhat.dtype)
    dx, dgamma, dbeta = _run(backend or name)[1].channel_batchnorm_backward(_maps(dout), xhat, gamma, inv_std)
    return dx.reshape(shape), dgamma, dbeta


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param=None, backend=None):
    """Forward pass of spatial group normalisation: each image's C channels split into G groups of
    C / G consecutive channels, each group normalised over its (C / G) * H * W values, then scaled
    and shifted per channel. G = 1 is layer norm over the whole map, G = C instance norm; like
    layer norm it does not depend on the rest of the batch.

    Inputs:
    - x: (N, C, H, W)
    - gamma: (C,) scale
    - beta: (C,) shift
    - G: the number of groups, a divisor of C
    - gn_param: {"eps": 1e-5}, optional

    Returns a tuple of:
    - out: (N, C, H, W)
    - cache: what spatial_groupnorm_backward needs
    """
    where = "spatial_groupnorm_forward"
    _check_norm_inputs(where, x, gamma, beta, 4)
    channels = x.shape[1]
    if isinstance(G, bool) or not isinstance(G, (int, np.integer)) or not 1 <= G <= channels or channels % G:
        raise ValueError(f"{where}: G = {G!r} groups must divide the C = {channels} channels of x into groups of "
                         f"equal size: choose a divisor of {channels} (1 gives layer norm, {channels} instance norm)")
    name, k = _run(backend)
    out, xhat, inv_std = k.groupnorm_forward(_maps(x), gamma, beta, int(G), (gn_param or {}).get("eps", 1e-5))
    return out.reshape(x.shape), (name, xhat, gamma, inv_std, int(G), x.shape)


def spatial_groupnorm_backward(dout, cache, backend=None):
    """Backward pass of spatial group normalisation: (dx (N, C, H, W), dgamma (C,), dbeta (C,))."""
    return _group_backward("spatial_groupnorm_backward", dout, cache, backend)


# ---------------------------------------------------------------- dropout
def dropout_forward(x, dropout_param, backend=None):
    """Forward pass of inverted dropout: in training each unit is kept with probability p and
    scaled by 1/p, so the expected output equals x and test mode is the identity.

    Inputs:
    - x: inputs of any shape
    - dropout_param: {"p": the probability of KEEPING a unit, "mode": "train" | "test", "seed":
      optional; the same seed gives the same mask}

    Returns a tuple of:
    - out: the shape of x
    - cache: what dropout_backward needs (None in test mode)
    """
    where = "dropout_forward"
    validate.float_array("x", x, where=where)
    keep = _param(dropout_param, "p", where)
    mode = _param(dropout_param, "mode", where)
    if not 0 < keep <= 1:
        raise ValueError(f"{where}: p is the probability of KEEPING a unit and must lie in (0, 1], "
                         f"got {keep}")
    if mode == "test":
        return x, None
    if mode != "train":
        raise ValueError(f"{where}: dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
    name, k = _run(backend)
    uniform = np.random.default_rng(dropout_param.get("seed")).random(x.shape, dtype=x.dtype)
    out, mask = k.dropout_forward(x, uniform, keep)
    return out, (name, mask)


def dropout_backward(dout, cache, backend=None):
    """Backward pass of inverted dropout: the upstream gradient through the same mask (kept units
    scaled by 1/p, dropped ones 0); in test mode, unchanged.

    Inputs:
    - dout: upstream gradient, the shape of x
    - cache: from dropout_forward

    Returns:
    - dx: the shape of x
    """
    if cache is None:  # test mode: the identity
        return dout
    name, mask = cache
    _check_dout("dropout_backward", dout, mask.shape, mask.dtype)
    return _run(backend or name)[1].dropout_backward(dout, mask)


# ---------------------------------------------------------------- losses
def _scores_and_labels(scores, y, where):
    validate.float_array("scores", scores, 2, where)
    return validate.labels(y, scores.shape[0], scores.shape[1], where)


def svm_loss(scores, y, backend=None):
    """Multiclass SVM loss (hinge, margin 1), averaged over the N examples.

    Inputs:
    - scores: (N, C) class scores
    - y: (N,) integer labels, 0 <= y[i] < C

    Returns a tuple of:
    - loss: a scalar
    - dscores: (N, C), the gradient of the loss with respect to scores
    """
    y = _scores_and_labels(scores, y, "svm_loss")
    return _run(backend)[1].svm_loss(scores, y)


def softmax_loss(scores, y, backend=None):
    """Softmax cross-entropy loss, averaged over the N examples (stable for large scores).

    Inputs:
    - scores: (N, C) class scores
    - y: (N,) integer labels, 0 <= y[i] < C

    Returns a tuple of:
    - loss: a scalar
    - dscores: (N, C), the gradient of the loss with respect to scores
    """
    y = _scores_and_labels(scores, y, "softmax_loss")
    return _run(backend)[1].softmax_loss(scores, y)


# ---------------------------------------------------------------- sandwich layers
# Layers used together, as one forward/backward pair: their caches are the pieces' caches.
def affine_relu_forward(x, w, b, backend=None):
    """An affine layer followed by a ReLU: inputs as affine_forward; returns (out (N, M), cache)."""
    a, fc_cache = affine_forward(x, w, b, backend)
    out, relu_cache = relu_forward(a, backend)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache, backend=None):
    """Backward pass of affine_relu_forward: dout (N, M) -> (dx, dw, db) as affine_backward."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache, backend), fc_cache, backend)


def conv_relu_forward(x, w, b, conv_param, backend=None):
    """A convolution followed by a ReLU: inputs as conv_forward; returns (out (N, F, H', W'), cache)."""
    a, conv_cache = conv_forward(x, w, b, conv_param, backend)
    out, relu_cache = relu_forward(a, backend)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache, backend=None):
    """Backward pass of conv_relu_forward: dout (N, F, H', W') -> (dx, dw, db) as conv_backward."""
    conv_cache, relu_cache = cache
    return conv_backward(relu_backward(dout, relu_cache, backend), conv_cache, backend)


def conv_relu_pool_forward(x, w, b, conv_param, pool_param, backend=None):
    """Convolution, ReLU, then max pooling: inputs as conv_forward plus max_pool_forward's
    pool_param; returns (out, cache) with out the pooled (N, F, H'', W'')."""
    a, conv_relu_cache = conv_relu_forward(x, w, b, conv_param, backend)
    out, pool_cache = max_pool_forward(a, pool_param, backend)
    return out, (conv_relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache, backend=None):
    """Backward pass of conv_relu_pool_forward: dout (N, F, H'', W'') -> (dx, dw, db)."""
    conv_relu_cache, pool_cache = cache
    return conv_relu_backward(max_pool_backward(dout, pool_cache, backend), conv_relu_cache, backend)
