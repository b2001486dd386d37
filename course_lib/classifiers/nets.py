"""Neural networks built from course_lib.layers, with the model interface the Solver expects:
`params` (dict of arrays) and `loss(X, y=None)` returning scores, or (loss, grads) when y is given.

Regularisation is 0.5 * reg * sum(W**2) over the weight matrices (not biases, gamma or beta), so its
gradient is reg * W.

Parameters live on the host (the optimizers are NumPy). Each loss() call moves them and the batch to
where the active backend computes (the GPU for "cuda"), runs forward and backward there, and brings
back only the scores or the gradients.
"""
from types import SimpleNamespace

import numpy as np

from .. import layers
from ..backend import kernels
from ..sizes import conv_output_size, same_padding


def _l2(params, reg, grads):
    """Add 0.5 * reg * |W|^2 of every weight (keys starting with W) to the loss and its gradient."""
    penalty = 0.0
    for name, w in params.items():
        if name.startswith("W"):
            penalty += 0.5 * reg * np.sum(w * w)
            grads[name] = grads[name] + reg * w
    return penalty


def _course_layers(names):
    """{name: course_lib.layers.<name>}: a network's defaults, before any replacement."""
    return {name: getattr(layers, name) for name in names}


def _on_backend(params, X, dtype, where):
    """(kernel module, parameters, batch) with the batch cast to dtype and everything moved to the
    active backend's memory: a no-op on the CPU backends."""
    X = np.asarray(X)
    if X.dtype.kind != "f":
        raise TypeError(f"{where}: X must hold floats, got dtype {X.dtype}")
    k = kernels()
    return k, {n: k.to_backend(v) for n, v in params.items()}, k.to_backend(X.astype(dtype, copy=False))


def _finish(k, loss, grads, params, reg):
    """Gradients back on the host, plus the L2 term."""
    grads = {n: k.to_numpy(g) for n, g in grads.items()}
    return loss + _l2(params, reg, grads), grads


class TwoLayerNet:
    """affine - relu - affine - softmax, on inputs of input_dim features."""

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3,
                 reg=0.0, dtype=np.float64, seed=None):
        rng = np.random.default_rng(seed)
        self.reg, self.dtype = reg, dtype
        self.params = {
            "W1": (weight_scale * rng.standard_normal((input_dim, hidden_dim))).astype(dtype),
            "b1": np.zeros(hidden_dim, dtype),
            "W2": (weight_scale * rng.standard_normal((hidden_dim, num_classes))).astype(dtype),
            "b2": np.zeros(num_classes, dtype),
        }

    def loss(self, X, y=None):
        k, p, X = _on_backend(self.params, X, self.dtype, "TwoLayerNet.loss")
        hidden, cache1 = layers.affine_relu_forward(X, p["W1"], p["b1"])
        scores, cache2 = layers.affine_forward(hidden, p["W2"], p["b2"])
        if y is None:
            return k.to_numpy(scores)
        loss, dscores = layers.softmax_loss(scores, y)
        grads = {}
        dhidden, grads["W2"], grads["b2"] = layers.affine_backward(dscores, cache2)
        _, grads["W1"], grads["b1"] = layers.affine_relu_backward(dhidden, cache1)
        return _finish(k, loss, grads, self.params, self.reg)


class FullyConnectedNet:
    """{affine - [batch norm] - relu - [dropout]} x (L - 1) - affine - softmax, any depth.

    dropout_keep_ratio is the probability of KEEPING a unit (1 = no dropout). normalization is None,
    "batchnorm" or "layernorm". seed makes the initial weights and the sequence of dropout masks reproducible
    (each training step still draws a new mask); dropout_seed freezes one mask for every step,
    which only a gradient check wants. layers maps names of course_lib.layers functions to
    replacements with the same signature (the student's batchnorm_forward and batchnorm_backward,
    say): the network then runs on them.
    """
    LAYERS = ("affine_forward", "affine_backward", "relu_forward", "relu_backward",
              "batchnorm_forward", "batchnorm_backward", "layernorm_forward", "layernorm_backward",
              "dropout_forward", "dropout_backward", "softmax_loss")

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1.0,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None,
                 dropout_seed=None, layers=None):
        if normalization not in (None, "batchnorm", "layernorm"):
            raise ValueError(f"normalization must be None, 'batchnorm' or 'layernorm', got {normalization!r}")
        unknown = set(layers or {}) - set(self.LAYERS)
        if unknown:
            raise ValueError(f"layers: {sorted(unknown)} are not layers of this network; "
                             f"it uses {', '.join(self.LAYERS)}")
        self.layers = _course_layers(self.LAYERS) | dict(layers or {})
        rng = np.random.default_rng(seed)
        self.normalization, self.reg, self.dtype = normalization, reg, dtype
        self.num_layers = len(hidden_dims) + 1
        self.params = {}
        dims = [input_dim, *hidden_dims, num_classes]
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:]), start=1):
            self.params[f"W{i}"] = (weight_scale * rng.standard_normal((d_in, d_out))).astype(dtype)
            self.params[f"b{i}"] = np.zeros(d_out, dtype)
            if normalization and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(d_out, dtype)
                self.params[f"beta{i}"] = np.zeros(d_out, dtype)
        self.use_dropout = dropout_keep_ratio != 1
        self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
        self.dropout_seed = dropout_seed
        self._mask_rng = rng  # continues after the weights: masks differ from step to step
        self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]

    def loss(self, X, y=None):
        mode = "test" if y is None else "train"
        self.dropout_param["mode"] = mode
        if self.use_dropout and mode == "train":
            self.dropout_param["seed"] = (self.dropout_seed if self.dropout_seed is not None
                                          else int(self._mask_rng.integers(2 ** 63)))
        for bn_param in self.bn_params:
            bn_param["mode"] = mode
        k, p, out = _on_backend(self.params, X, self.dtype, "FullyConnectedNet.loss")
        use = SimpleNamespace(**self.layers)  # the course's layers, or their replacements
        caches = []
        for i in range(1, self.num_layers):
            out, fc_cache = use.affine_forward(out, p[f"W{i}"], p[f"b{i}"])
            bn_cache = drop_cache = None
            if self.normalization == "batchnorm":
                out, bn_cache = use.batchnorm_forward(out, p[f"gamma{i}"], p[f"beta{i}"],
                                                      self.bn_params[i - 1])
            elif self.normalization == "layernorm":
                out, bn_cache = use.layernorm_forward(out, p[f"gamma{i}"], p[f"beta{i}"])
            out, relu_cache = use.relu_forward(out)
            if self.use_dropout:
                out, drop_cache = use.dropout_forward(out, self.dropout_param)
            caches.append((fc_cache, bn_cache, relu_cache, drop_cache))
        last = self.num_layers
        scores, last_cache = use.affine_forward(out, p[f"W{last}"], p[f"b{last}"])
        if y is None:
            return k.to_numpy(scores)
        loss, dout = use.softmax_loss(scores, y)
        grads = {}
        dout, grads[f"W{last}"], grads[f"b{last}"] = use.affine_backward(dout, last_cache)
        for i in range(self.num_layers - 1, 0, -1):
            fc_cache, bn_cache, relu_cache, drop_cache = caches[i - 1]
            if self.use_dropout:
                dout = use.dropout_backward(dout, drop_cache)
            dout = use.relu_backward(dout, relu_cache)
            if self.normalization:
                backward = use.batchnorm_backward if self.normalization == "batchnorm" else use.layernorm_backward
                dout, grads[f"gamma{i}"], grads[f"beta{i}"] = backward(dout, bn_cache)
            dout, grads[f"W{i}"], grads[f"b{i}"] = use.affine_backward(dout, fc_cache)
        return _finish(k, loss, grads, self.params, self.reg)


class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax on (N, C, H, W) images.

    The conv keeps the spatial size (stride 1, padding (F-1)/2), so the filter size must be odd,
    and the pool halves it, so H and W must be even.
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float32, seed=None):
        c, h, w = input_dim
        self.conv_param = {"stride": 1, "pad": same_padding(filter_size)}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        pooled = conv_output_size(h, 2, 2) * conv_output_size(w, 2, 2)
        rng = np.random.default_rng(seed)
        self.reg, self.dtype = reg, dtype
        shapes = {"W1": (num_filters, c, filter_size, filter_size),
                  "W2": (num_filters * pooled, hidden_dim), "W3": (hidden_dim, num_classes)}
        self.params = {}
        for i, (name, shape) in enumerate(shapes.items(), start=1):
            self.params[name] = (weight_scale * rng.standard_normal(shape)).astype(dtype)
            self.params[f"b{i}"] = np.zeros(shape[0] if i == 1 else shape[1], dtype)

    @classmethod
    def from_params(cls, params, reg=0.0):
        """The network whose weights are `params` (W1..b3): sizes and dtype read off the arrays."""
        num_filters, channels, filter_size, _ = params["W1"].shape
        pooled = params["W2"].shape[0] // num_filters  # (H/2) * (W/2), for square inputs
        side = 2 * int(round(pooled ** 0.5))
        model = cls((channels, side, side), num_filters, filter_size, params["W2"].shape[1],
                    params["W3"].shape[1], reg=reg, dtype=params["W1"].dtype.type)
        if model.params["W2"].shape != params["W2"].shape:
            raise ValueError(f"ThreeLayerConvNet.from_params: W2 of shape {params['W2'].shape} does "
                             f"not fit square inputs after {num_filters} filters")
        model.params = {name: np.asarray(params[name]) for name in model.params}
        return model

    def loss(self, X, y=None):
        k, p, X = _on_backend(self.params, X, self.dtype, "ThreeLayerConvNet.loss")
        scores, caches = self._forward(p, X)
        if y is None:
            return k.to_numpy(scores)
        loss, dscores = layers.softmax_loss(scores, y)
        _, grads = self._backward(dscores, caches)
        return _finish(k, loss, grads, self.params, self.reg)

    def score_gradient(self, X, classes):
        """Scores (N, C) and the gradient of sum_i scores[i, classes[i]] with respect to the images
        X: what saliency maps, fooling images and class visualisation climb. Weights are fixed."""
        k, p, Xb = _on_backend(self.params, X, self.dtype, "ThreeLayerConvNet.score_gradient")
        classes = np.asarray(classes)
        if classes.shape != (Xb.shape[0],):
            raise ValueError(f"ThreeLayerConvNet.score_gradient: one class per image expected, got "
                             f"classes of shape {classes.shape} for X of shape {tuple(Xb.shape)}")
        scores, caches = self._forward(p, Xb)
        scores = k.to_numpy(scores)
        if classes.size and not 0 <= classes.min() <= classes.max() < scores.shape[1]:
            raise ValueError(f"ThreeLayerConvNet.score_gradient: classes must lie in "
                             f"[0, {scores.shape[1]}), got {classes.min()}..{classes.max()}")
        dscores = np.zeros_like(scores)
        dscores[np.arange(len(classes)), classes] = 1
        dX, _ = self._backward(k.to_backend(dscores), caches)
        return scores, k.to_numpy(dX)

    def _forward(self, p, X):
        out1, cache1 = layers.conv_relu_pool_forward(X, p["W1"], p["b1"], self.conv_param,
                                                     self.pool_param)
        out2, cache2 = layers.affine_relu_forward(out1, p["W2"], p["b2"])
        scores, cache3 = layers.affine_forward(out2, p["W3"], p["b3"])
        return scores, (cache1, cache2, cache3)

    def _backward(self, dscores, caches):
        """(dX, grads) from the gradient of the scores."""
        cache1, cache2, cache3 = caches
        grads = {}
        dout2, grads["W3"], grads["b3"] = layers.affine_backward(dscores, cache3)
        dout1, grads["W2"], grads["b2"] = layers.affine_relu_backward(dout2, cache2)
        dX, grads["W1"], grads["b1"] = layers.conv_relu_pool_backward(dout1, cache1)
        return dX, grads
