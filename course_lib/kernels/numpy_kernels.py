"""Readable vectorised NumPy: the answer key, and the specification every other backend must match.

Conventions: images are (N, C, H, W), conv weights (F, C, HH, WW). Every function returns arrays of
the dtype it was given.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


# ---------------------------------------------------------------- where arrays live
def to_backend(a):
    """The array where this backend computes: host memory, as it is."""
    return a


def to_numpy(a):
    return np.asarray(a)


# ---------------------------------------------------------------- affine and relu
def affine_forward(x2, w, b):
    """out = x2 @ w + b for x2 of shape (N, D)."""
    return x2 @ w + b


def affine_backward(dout, x2, w):
    """Gradients of affine_forward: (dx2, dw, db)."""
    return dout @ w.T, x2.T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(x, 0)


def relu_backward(dout, x):
    """Gradient flows where the input was positive (the kink at 0 gets gradient 0)."""
    return dout * (x > 0)


# ---------------------------------------------------------------- convolution
def _windows(x, hh, ww, stride, pad):
    """View of every receptive field: shape (N, C, H_out, W_out, HH, WW), no copy."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return sliding_window_view(xp, (hh, ww), axis=(2, 3))[:, :, ::stride, ::stride]


def conv_forward(x, w, b, stride, pad):
    """out[n, f] = sum over c, i, j of w[f, c, i, j] * padded x[n, c, i + stride*h, j + stride*w] + b[f]."""
    windows = _windows(x, w.shape[2], w.shape[3], stride, pad)
    out = np.einsum("nchwij,fcij->nfhw", windows, w, optimize=True)
    return out + b[None, :, None, None]


def conv_backward(dout, x, w, stride, pad):
    """Gradients of conv_forward: (dx, dw, db)."""
    hh, ww = w.shape[2:]
    h_out, w_out = dout.shape[2:]
    windows = _windows(x, hh, ww, stride, pad)
    dw = np.einsum("nfhw,nchwij->fcij", dout, windows, optimize=True)
    db = dout.sum(axis=(0, 2, 3))
    dwindows = np.einsum("nfhw,fcij->nchwij", dout, w, optimize=True)
    # Each filter offset (i, j) touches a strided grid of padded input pixels: add it back there.
    dxp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * pad, x.shape[3] + 2 * pad), x.dtype)
    for i in range(hh):
        for j in range(ww):
            dxp[:, :, i:i + stride * h_out:stride, j:j + stride * w_out:stride] += dwindows[..., i, j]
    return dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]], dw, db


# ---------------------------------------------------------------- max pooling
def max_pool_forward(x, pool_h, pool_w, stride):
    """Max over each window, and where it came from.

    Returns (out, argmax): argmax[n, c, i, j] is the flat index h * W + w, within the input plane
    x[n, c], of the maximum. On ties it is the first maximum in row-major window order.
    """
    n, c, h, w = x.shape
    windows = sliding_window_view(x, (pool_h, pool_w), axis=(2, 3))[:, :, ::stride, ::stride]
    h_out, w_out = windows.shape[2:4]
    flat = windows.reshape(n, c, h_out, w_out, pool_h * pool_w)
    k = flat.argmax(axis=-1)
    out = np.take_along_axis(flat, k[..., None], axis=-1)[..., 0]
    rows = stride * np.arange(h_out)[:, None] + k // pool_w
    cols = stride * np.arange(w_out)[None, :] + k % pool_w
    return out, rows * w + cols


def max_pool_backward(dout, argmax, x_shape, dtype, pool_h, pool_w, stride):
    """Route each upstream gradient to the input pixel that won its window (windows may overlap;
    the pool geometry is implied by argmax here, the GPU kernel needs it)."""
    n, c, h, w = x_shape
    dx = np.zeros((n, c, h * w), dtype)
    n_idx, c_idx = np.ogrid[:n, :c]
    np.add.at(dx, (n_idx[..., None], c_idx[..., None], argmax.reshape(n, c, -1)),
              dout.reshape(n, c, -1))
    return dx.reshape(x_shape)


# ---------------------------------------------------------------- batch normalisation
def batchnorm_forward(x, gamma, beta, eps):
    """Training-mode batch norm over the rows of x (N, D): (out, xhat, mean, var, inv_std)."""
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    return gamma * xhat + beta, xhat, mean, var, inv_std


def batchnorm_inference(x, gamma, beta, mean, var, eps):
    """Test-mode batch norm with fixed (running) statistics."""
    inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype)
    return gamma * ((x - mean) * inv_std) + beta


def batchnorm_backward(dout, xhat, gamma, inv_std):
    """Gradients of batchnorm_forward (train mode), simplified on paper: (dx, dgamma, dbeta)."""
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = (gamma * inv_std / n) * (n * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


# ---------------------------------------------------------------- dropout
def dropout_forward(x, uniform, keep):
    """Inverted dropout: keep each unit where uniform < keep and scale it by 1/keep. (out, mask)."""
    mask = (uniform < keep) / x.dtype.type(keep)
    mask = mask.astype(x.dtype, copy=False)
    return x * mask, mask


def dropout_backward(dout, mask):
    return dout * mask


# ---------------------------------------------------------------- losses on class scores
def svm_loss(scores, y):
    """Multiclass hinge loss with margin 1, averaged over the N rows: (loss, dscores)."""
    n = scores.shape[0]
    rows = np.arange(n)
    margins = np.maximum(0, scores - scores[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / n
    dscores = (margins > 0).astype(scores.dtype)
    dscores[rows, y] = -dscores.sum(axis=1)
    return scores.dtype.type(loss), dscores / scores.dtype.type(n)


def softmax_loss(scores, y):
    """Cross-entropy of the softmax of the scores, averaged over the N rows: (loss, dscores)."""
    n = scores.shape[0]
    rows = np.arange(n)
    shifted = scores - scores.max(axis=1, keepdims=True)  # exp never overflows after the shift
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].sum() / n
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    return scores.dtype.type(loss), dscores / scores.dtype.type(n)


# ---------------------------------------------------------------- k-nearest neighbours
def pairwise_distances(a, b):
    """Euclidean distances between the rows of a (M, D) and b (N, D), without loops:
    |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, clipped at 0 against rounding."""
    sq = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2 * (a @ b.T)
    return np.sqrt(np.maximum(sq, 0))


# ---------------------------------------------------------------- normalisation of (N, C, S) maps
def groupnorm_forward(x, gamma, beta, groups, eps):
    """Group norm of x (N, C, S): each image's C channels in `groups` consecutive groups, each
    group normalised over its (C / groups) * S values, then gamma and beta per channel. Layer
    norm is one group of S = 1. (out, xhat, inv_std), inv_std of shape (N, groups)."""
    n, c, s = x.shape
    grouped = x.reshape(n, groups, -1)
    mean = grouped.mean(axis=2, keepdims=True)
    inv_std = 1 / np.sqrt(grouped.var(axis=2, keepdims=True) + eps)
    xhat = ((grouped - mean) * inv_std).reshape(x.shape)
    return gamma[:, None] * xhat + beta[:, None], xhat, inv_std[..., 0]


def groupnorm_backward(dout, xhat, gamma, inv_std, groups):
    """Gradients of groupnorm_forward: (dx, dgamma, dbeta)."""
    n, c, s = dout.shape
    dbeta = dout.sum(axis=(0, 2))
    dgamma = (dout * xhat).sum(axis=(0, 2))
    dxhat = (dout * gamma[:, None]).reshape(n, groups, -1)
    xh = xhat.reshape(n, groups, -1)
    m = dxhat.shape[2]
    dx = (inv_std[..., None] / m) * (m * dxhat - dxhat.sum(axis=2, keepdims=True)
                                     - xh * (dxhat * xh).sum(axis=2, keepdims=True))
    return dx.reshape(dout.shape), dgamma, dbeta


def _rows_of_channels(x):
    """(N, C, S) as (N * S, C) rows: the layout batch norm normalises column by column."""
    return x.transpose(0, 2, 1).reshape(-1, x.shape[1])


def _channels_of_rows(rows, shape):
    n, c, s = shape
    return np.ascontiguousarray(rows.reshape(n, s, c).transpose(0, 2, 1))


def channel_batchnorm_forward(x, gamma, beta, eps):
    """Training-mode batch norm of x (N, C, S), each channel over its N * S values (spatial batch
    norm): (out, xhat, mean, var, inv_std), the statistics of shape (C,)."""
    out, xhat, mean, var, inv_std = batchnorm_forward(_rows_of_channels(x), gamma, beta, eps)
    return _channels_of_rows(out, x.shape), _channels_of_rows(xhat, x.shape), mean, var, inv_std


def channel_batchnorm_backward(dout, xhat, gamma, inv_std):
    """Gradients of channel_batchnorm_forward: (dx, dgamma, dbeta)."""
    dx, dgamma, dbeta = batchnorm_backward(_rows_of_channels(dout), _rows_of_channels(xhat), gamma, inv_std)
    return _channels_of_rows(dx, dout.shape), dgamma, dbeta


def channel_batchnorm_inference(x, gamma, beta, mean, var, eps):
    """Test-mode batch norm of x (N, C, S) with fixed (running) per-channel statistics."""
    inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype)
    return gamma[:, None] * ((x - mean[:, None]) * inv_std[:, None]) + beta[:, None]
