"""GPU kernels with Numba CUDA: the same functions as numpy_kernels, the same results.

Host wrappers accept NumPy arrays or device arrays. Device arrays in give device arrays out, so a
training step that moves its batch and parameters to the GPU once keeps every activation there
between the forward and the backward pass; NumPy arrays in give NumPy arrays out. Losses return a
host scalar (their per-row terms are summed on the host with NumPy's pairwise summation).

Kernels sit at module level, so NUMBA_ENABLE_CUDASIM=1 runs them on the CPU through Numba's CUDA
simulator (slowly: one Python thread per GPU thread). Under the simulator the launch sizes shrink,
so that the small shapes of the tests still spread over several blocks.

Every kernel is written without atomics: each thread or block owns the outputs it writes (the
backward passes gather instead of scatter), so results are deterministic run to run.
"""
import math

import numpy as np

try:
    from numba import config as _numba_config, cuda, float32, float64
except ImportError as err:  # numba without its CUDA target (newer releases ship it as numba-cuda)
    raise ImportError(f"numba's CUDA target is missing ({err}); install it with pip install .[cuda]") \
        from err

SIMULATED = bool(_numba_config.ENABLE_CUDASIM)


def unavailable_reason():
    """Why this backend cannot run here, or None. The module itself imports without a GPU, so its
    kernels can still be compiled to PTX (the tests do)."""
    if cuda.is_available():
        return None
    return ("no CUDA GPU is visible and the simulator is off (NUMBA_ENABLE_CUDASIM is not 1). On a "
            "machine with an NVIDIA GPU and driver, install the CUDA extra: pip install .[cuda]. "
            "Elsewhere use the 'numba' backend, the CPU fallback: course_lib.use_backend('numba')")

THREADS = 8 if SIMULATED else 256  # threads per block, one-dimensional launches
TILE = 4 if SIMULATED else 16  # edge of the square tiles of the matrix product
REDUCE = 8 if SIMULATED else 256  # threads per block of a reduction; a power of two


# ---------------------------------------------------------------- transfers and launches
def is_device(a):
    return hasattr(a, "copy_to_host") and not isinstance(a, np.ndarray)


def to_backend(a):
    """The array on the GPU (a device array passes through untouched)."""
    return a if is_device(a) else cuda.to_device(np.ascontiguousarray(a))



def to_numpy(a):
    return a.copy_to_host() if is_device(a) else np.asarray(a)


def _result(on_device, *arrays):
    out = tuple(a if on_device else a.copy_to_host() for a in arrays)
    return out if len(out) > 1 else out[0]


def _empty(shape, dtype):
    return cuda.device_array(shape, dtype)


def _blocks(n, per_block=None):
    return max(1, math.ceil(n / (per_block or THREADS)))


def _flat(a):
    return a.reshape(a.size)


@cuda.jit(device=True, inline="always")
def _unravel4(idx, shape):
    """(i0, i1, i2, i3) of flat index idx in a C-ordered array of the given 4-d shape."""
    i3 = idx % shape[3]
    i2 = (idx // shape[3]) % shape[2]
    i1 = (idx // (shape[3] * shape[2])) % shape[1]
    return idx // (shape[3] * shape[2] * shape[1]), i1, i2, i3


# ---------------------------------------------------------------- elementwise kernels
@cuda.jit
def _relu(x, out):
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        out[i] = 0 if v < 0 else v


@cuda.jit
def _relu_grad(dout, x, dx):
    i = cuda.grid(1)
    if i < x.size:
        dx[i] = dout[i] if x[i] > 0 else 0


@cuda.jit
def _dropout(x, uniform, keep, out, mask):
    i = cuda.grid(1)
    if i < x.size:
        m = (x.dtype.type(1) / keep) if uniform[i] < keep else 0
        mask[i] = m
        out[i] = x[i] * mask[i]


@cuda.jit
def _multiply(a, b, out):
    i = cuda.grid(1)
    if i < a.size:
        out[i] = a[i] * b[i]


def _flat_on_device(first, *rest):
    """Whether the caller works on the device, and its arrays flattened on the device."""
    return is_device(first), [_flat(to_backend(a)) for a in (first,) + rest]


def relu_forward(x):
    on_device, (xd,) = _flat_on_device(x)
    out = _empty(xd.size, xd.dtype)
    _relu[_blocks(xd.size), THREADS](xd, out)
    return _result(on_device, out.reshape(x.shape))


def relu_backward(dout, x):
    on_device, (dd, xd) = _flat_on_device(dout, x)
    dx = _empty(xd.size, xd.dtype)
    _relu_grad[_blocks(xd.size), THREADS](dd, xd, dx)
    return _result(on_device, dx.reshape(x.shape))


def dropout_forward(x, uniform, keep):
    on_device, (xd, ud) = _flat_on_device(x, np.asarray(to_numpy(uniform), dtype=x.dtype))
    out, mask = _empty(xd.size, xd.dtype), _empty(xd.size, xd.dtype)
    _dropout[_blocks(xd.size), THREADS](xd, ud, x.dtype.type(keep), out, mask)
    return _result(on_device, out.reshape(x.shape), mask.reshape(x.shape))


def dropout_backward(dout, mask):
    on_device, (dd, md) = _flat_on_device(dout, mask)
    dx = _empty(dd.size, dd.dtype)
    _multiply[_blocks(dd.size), THREADS](dd, md, dx)
    return _result(on_device, dx.reshape(dout.shape))


# ---------------------------------------------------------------- kernels with shared memory
@cuda.jit(device=True, inline="always")
def _block_sum(cache, tid, value):
    """Sum `value` over the REDUCE threads of the block; every thread gets the total. cache is a
    shared array of REDUCE elements, free again when this returns."""
    cache[tid] = value
    cuda.syncthreads()
    step = REDUCE // 2
    while step > 0:
        if tid < step:
            cache[tid] += cache[tid + step]
        cuda.syncthreads()
        step //= 2
    total = cache[0]
    cuda.syncthreads()  # everyone has read the total before the cache is written again
    return total


# Shared arrays need their dtype at compile time: each factory below builds its kernel for one
# float type, and _TYPED holds both builds.
def _gemm_kernel(nbtype):
    @cuda.jit
    def gemm(a, b, c, trans_a, trans_b):
        """c = op(a) @ op(b), op = transpose where asked; TILE x TILE threads per block."""
        tile_a = cuda.shared.array((TILE, TILE), nbtype)
        tile_b = cuda.shared.array((TILE, TILE), nbtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        m, n = c.shape
        depth = a.shape[0] if trans_a else a.shape[1]
        acc = c.dtype.type(0)
        for start in range(0, depth, TILE):
            k = start + tx
            if row < m and k < depth:
                tile_a[ty, tx] = a[k, row] if trans_a else a[row, k]
            else:
                tile_a[ty, tx] = 0
            k = start + ty
            if col < n and k < depth:
                tile_b[ty, tx] = b[col, k] if trans_b else b[k, col]
            else:
                tile_b[ty, tx] = 0
            cuda.syncthreads()
            for t in range(TILE):
                acc += tile_a[ty, t] * tile_b[t, tx]
            cuda.syncthreads()
        if row < m and col < n:
            c[row, col] = acc

    return gemm


def _column_sums_kernel(nbtype):
    @cuda.jit
    def column_sums(a, out):
        """out[j] = sum over rows of a[:, j]; one block per column."""
        cache = cuda.shared.array(REDUCE, nbtype)
        j, tid = cuda.blockIdx.x, cuda.threadIdx.x
        acc = a.dtype.type(0)
        for i in range(tid, a.shape[0], REDUCE):
            acc += a[i, j]
        total = _block_sum(cache, tid, acc)
        if tid == 0:
            out[j] = total

    return column_sums


def _conv_dw_kernel(nbtype):
    @cuda.jit
    def conv_dw(x, dout, stride, pad, dw):
        """dw[f, c, i, j] = sum over n, oh, ow of dout[n, f, oh, ow] * padded x; a block per weight."""
        cache = cuda.shared.array(REDUCE, nbtype)
        tid = cuda.threadIdx.x
        widx = cuda.blockIdx.x
        n_f, c_in, hh, ww = dw.shape
        j = widx % ww
        i = (widx // ww) % hh
        c = (widx // (ww * hh)) % c_in
        f = widx // (ww * hh * c_in)
        n_img, _, h_out, w_out = dout.shape
        h, w = x.shape[2], x.shape[3]
        acc = x.dtype.type(0)
        for p in range(tid, n_img * h_out * w_out, REDUCE):
            ow = p % w_out
            oh = (p // w_out) % h_out
            n = p // (w_out * h_out)
            ih = oh * stride + i - pad
            iw = ow * stride + j - pad
            if 0 <= ih < h and 0 <= iw < w:
                acc += dout[n, f, oh, ow] * x[n, c, ih, iw]
        total = _block_sum(cache, tid, acc)
        if tid == 0:
            dw[f, c, i, j] = total

    return conv_dw


def _channel_sums_kernel(nbtype):
    @cuda.jit
    def channel_sums(dout, out):
        """out[f] = sum over n, h, w of dout[n, f, h, w]; one block per channel."""
        cache = cuda.shared.array(REDUCE, nbtype)
        f, tid = cuda.blockIdx.x, cuda.threadIdx.x
        n_img, _, h, w = dout.shape
        acc = dout.dtype.type(0)
        for p in range(tid, n_img * h * w, REDUCE):
            acc += dout[p // (h * w), f, (p // w) % h, p % w]
        total = _block_sum(cache, tid, acc)
        if tid == 0:
            out[f] = total

    return channel_sums


def _batchnorm_stats_kernel(nbtype):
    @cuda.jit
    def batchnorm_stats(x, eps, mean, var, inv_std):
        """Mean and (biased) variance of each column, two passes; one block per column."""
        cache = cuda.shared.array(REDUCE, nbtype)
        j, tid = cuda.blockIdx.x, cuda.threadIdx.x
        n = x.shape[0]
        acc = x.dtype.type(0)
        for i in range(tid, n, REDUCE):
            acc += x[i, j]
        mu = _block_sum(cache, tid, acc) / x.dtype.type(n)
        acc = x.dtype.type(0)
        for i in range(tid, n, REDUCE):
            delta = x[i, j] - mu
            acc += delta * delta
        total = _block_sum(cache, tid, acc)
        if tid == 0:
            mean[j] = mu
            var[j] = total / x.dtype.type(n)
            inv_std[j] = x.dtype.type(1) / math.sqrt(var[j] + eps)

    return batchnorm_stats


def _batchnorm_param_grads_kernel(nbtype):
    @cuda.jit
    def batchnorm_param_grads(dout, xhat, dgamma, dbeta):
        """dbeta[j] = sum of dout[:, j], dgamma[j] = sum of dout[:, j] * xhat[:, j]."""
        cache = cuda.shared.array(REDUCE, nbtype)
        j, tid = cuda.blockIdx.x, cuda.threadIdx.x
        acc = dout.dtype.type(0)
        for i in range(tid, dout.shape[0], REDUCE):
            acc += dout[i, j]
        total = _block_sum(cache, tid, acc)
        if tid == 0:
            dbeta[j] = total
        acc = dout.dtype.type(0)
        for i in range(tid, dout.shape[0], REDUCE):
            acc += dout[i, j] * xhat[i, j]
        total = _block_sum(cache, tid, acc)
        if tid == 0:
            dgamma[j] = total

    return batchnorm_param_grads


def _group_stats_kernel(nbtype):
    @cuda.jit
    def group_stats(x, groups, eps, mean, inv_std):
        """Mean and inverse standard deviation of each (image, group) of x (N, C, S), two passes;
        one block per (image, group)."""
        cache = cuda.shared.array(REDUCE, nbtype)
        t, tid = cuda.blockIdx.x, cuda.threadIdx.x
        i, g = t // groups, t % groups
        per, s = x.shape[1] // groups, x.shape[2]
        m = per * s
        acc = x.dtype.type(0)
        for q in range(tid, m, REDUCE):
            acc += x[i, g * per + q // s, q % s]
        mu = _block_sum(cache, tid, acc) / x.dtype.type(m)
        acc = x.dtype.type(0)
        for q in range(tid, m, REDUCE):
            delta = x[i, g * per + q // s, q % s] - mu
            acc += delta * delta
        total = _block_sum(cache, tid, acc)
        if tid == 0:
            mean[i, g] = mu
            inv_std[i, g] = x.dtype.type(1) / math.sqrt(total / x.dtype.type(m) + eps)

    return group_stats


def _group_grad_sums_kernel(nbtype):
    @cuda.jit
    def group_grad_sums(dout, xhat, gamma, groups, total, weighted):
        """Over each (image, group): total = sum of dxhat, weighted = sum of dxhat * xhat, where
        dxhat = dout * gamma of the channel; one block per (image, group)."""
        cache = cuda.shared.array(REDUCE, nbtype)
        t, tid = cuda.blockIdx.x, cuda.threadIdx.x
        i, g = t // groups, t % groups
        per, s = dout.shape[1] // groups, dout.shape[2]
        acc = dout.dtype.type(0)
        acc_w = dout.dtype.type(0)
        for q in range(tid, per * s, REDUCE):
            ch, p = g * per + q // s, q % s
            dxh = dout[i, ch, p] * gamma[ch]
            acc += dxh
            acc_w += dxh * xhat[i, ch, p]
        summed = _block_sum(cache, tid, acc)
        summed_w = _block_sum(cache, tid, acc_w)
        if tid == 0:
            total[i, g] = summed
            weighted[i, g] = summed_w

    return group_grad_sums


def _channel_stats_kernel(nbtype):
    @cuda.jit
    def channel_stats(x, eps, mean, var, inv_std):
        """Mean, (biased) variance and inverse standard deviation of each channel of x (N, C, S)
        over its N * S values, two passes; one block per channel."""
        cache = cuda.shared.array(REDUCE, nbtype)
        ch, tid = cuda.blockIdx.x, cuda.threadIdx.x
        n, s = x.shape[0], x.shape[2]
        acc = x.dtype.type(0)
        for q in range(tid, n * s, REDUCE):
            acc += x[q // s, ch, q % s]
        mu = _block_sum(cache, tid, acc) / x.dtype.type(n * s)
        acc = x.dtype.type(0)
        for q in range(tid, n * s, REDUCE):
            delta = x[q // s, ch, q % s] - mu
            acc += delta * delta
        total = _block_sum(cache, tid, acc)
        if tid == 0:
            mean[ch] = mu
            var[ch] = total / x.dtype.type(n * s)
            inv_std[ch] = x.dtype.type(1) / math.sqrt(var[ch] + eps)

    return channel_stats


def _channel_param_grads_kernel(nbtype):
    @cuda.jit
    def channel_param_grads(dout, xhat, dgamma, dbeta):
        """dbeta[c] = sum of dout[:, c, :], dgamma[c] = sum of dout[:, c, :] * xhat[:, c, :]; one
        block per channel."""
        cache = cuda.shared.array(REDUCE, nbtype)
        ch, tid = cuda.blockIdx.x, cuda.threadIdx.x
        n, s = dout.shape[0], dout.shape[2]
        acc = dout.dtype.type(0)
        acc_g = dout.dtype.type(0)
        for q in range(tid, n * s, REDUCE):
            d = dout[q // s, ch, q % s]
            acc += d
            acc_g += d * xhat[q // s, ch, q % s]
        summed = _block_sum(cache, tid, acc)
        summed_g = _block_sum(cache, tid, acc_g)
        if tid == 0:
            dbeta[ch] = summed
            dgamma[ch] = summed_g

    return channel_param_grads


_SHARED_MEMORY_KERNELS = {
    "gemm": _gemm_kernel,
    "column_sums": _column_sums_kernel,
    "conv_dw": _conv_dw_kernel,
    "channel_sums": _channel_sums_kernel,
    "batchnorm_stats": _batchnorm_stats_kernel,
    "batchnorm_param_grads": _batchnorm_param_grads_kernel,
    "group_stats": _group_stats_kernel,
    "group_grad_sums": _group_grad_sums_kernel,
    "channel_stats": _channel_stats_kernel,
    "channel_param_grads": _channel_param_grads_kernel,
}
_TYPED = {np.dtype(dtype): {name: make(nbtype) for name, make in _SHARED_MEMORY_KERNELS.items()}
          for dtype, nbtype in ((np.float32, float32), (np.float64, float64))}


def _typed(name, dtype):
    return _TYPED[np.dtype(dtype)][name]


def _matmul(a, b, trans_a=False, trans_b=False):
    m = a.shape[1] if trans_a else a.shape[0]
    n = b.shape[0] if trans_b else b.shape[1]
    c = _empty((m, n), a.dtype)
    grid = (_blocks(n, TILE), _blocks(m, TILE))
    _typed("gemm", a.dtype)[grid, (TILE, TILE)](a, b, c, trans_a, trans_b)
    return c


def _column_sums(a):
    out = _empty(a.shape[1], a.dtype)
    _typed("column_sums", a.dtype)[a.shape[1], REDUCE](a, out)
    return out


# ---------------------------------------------------------------- affine
@cuda.jit
def _add_row(a, row):
    i = cuda.grid(1)
    if i < a.size:
        r, c = i // a.shape[1], i % a.shape[1]
        a[r, c] += row[c]


def affine_forward(x2, w, b):
    on_device = is_device(x2)
    xd, wd, bd = to_backend(x2), to_backend(w), to_backend(b)
    out = _matmul(xd, wd)
    _add_row[_blocks(out.size), THREADS](out, bd)
    return _result(on_device, out)


def affine_backward(dout, x2, w):
    on_device = is_device(dout)
    dd, xd, wd = to_backend(dout), to_backend(x2), to_backend(w)
    return _result(on_device, _matmul(dd, wd, trans_b=True), _matmul(xd, dd, trans_a=True),
                   _column_sums(dd))


# ---------------------------------------------------------------- convolution
@cuda.jit
def _conv_forward(x, w, b, stride, pad, out):
    """One thread per output element: a dot product over its receptive field."""
    idx = cuda.grid(1)
    if idx >= out.size:
        return
    n, f, oh, ow = _unravel4(idx, out.shape)
    c_in, hh, ww = w.shape[1], w.shape[2], w.shape[3]
    h, wid = x.shape[2], x.shape[3]
    acc = x.dtype.type(0)
    for c in range(c_in):
        for i in range(hh):
            ih = oh * stride + i - pad
            if 0 <= ih < h:
                for j in range(ww):
                    iw = ow * stride + j - pad
                    if 0 <= iw < wid:
                        acc += x[n, c, ih, iw] * w[f, c, i, j]
    out[n, f, oh, ow] = acc + b[f]


@cuda.jit
def _conv_dx(dout, w, stride, pad, dx):
    """One thread per input pixel, gathering every output whose window covers it."""
    idx = cuda.grid(1)
    if idx >= dx.size:
        return
    n, c, ih, iw = _unravel4(idx, dx.shape)
    n_f, _, hh, ww = w.shape
    h_out, w_out = dout.shape[2], dout.shape[3]
    acc = dx.dtype.type(0)
    for i in range(hh):
        t = ih + pad - i
        if t < 0 or t % stride != 0 or t // stride >= h_out:
            continue
        oh = t // stride
        for j in range(ww):
            u = iw + pad - j
            if u < 0 or u % stride != 0 or u // stride >= w_out:
                continue
            ow = u // stride
            for f in range(n_f):
                acc += dout[n, f, oh, ow] * w[f, c, i, j]
    dx[n, c, ih, iw] = acc


def _conv_out_shape(x, w, stride, pad):
    return (x.shape[0], w.shape[0], (x.shape[2] + 2 * pad - w.shape[2]) // stride + 1,
            (x.shape[3] + 2 * pad - w.shape[3]) // stride + 1)


def conv_forward(x, w, b, stride, pad):
    on_device = is_device(x)
    xd, wd, bd = to_backend(x), to_backend(w), to_backend(b)
    out = _empty(_conv_out_shape(x, w, stride, pad), x.dtype)
    _conv_forward[_blocks(out.size), THREADS](xd, wd, bd, stride, pad, out)
    return _result(on_device, out)


def conv_backward(dout, x, w, stride, pad):
    on_device = is_device(dout)
    dd, xd, wd = to_backend(dout), to_backend(x), to_backend(w)
    dx = _empty(x.shape, x.dtype)
    _conv_dx[_blocks(dx.size), THREADS](dd, wd, stride, pad, dx)
    dw = _empty(w.shape, w.dtype)
    _typed("conv_dw", x.dtype)[dw.size, REDUCE](xd, dd, stride, pad, dw)
    db = _empty(w.shape[0], w.dtype)
    _typed("channel_sums", x.dtype)[w.shape[0], REDUCE](dd, db)
    return _result(on_device, dx, dw, db)


# ---------------------------------------------------------------- max pooling
@cuda.jit
def _max_pool(x, pool_h, pool_w, stride, out, argmax):
    idx = cuda.grid(1)
    if idx >= out.size:
        return
    n, c, oh, ow = _unravel4(idx, out.shape)
    w = x.shape[3]
    h0, w0 = oh * stride, ow * stride
    best = x[n, c, h0, w0]
    where = h0 * w + w0
    for i in range(pool_h):
        for j in range(pool_w):
            v = x[n, c, h0 + i, w0 + j]
            if v > best:  # strict: ties keep the first maximum, as in the specification
                best = v
                where = (h0 + i) * w + w0 + j
    out[n, c, oh, ow] = best
    argmax[n, c, oh, ow] = where


@cuda.jit
def _max_pool_grad(dout, argmax, pool_h, pool_w, stride, dx):
    """One thread per input pixel: add the gradient of every window whose maximum it was."""
    idx = cuda.grid(1)
    if idx >= dx.size:
        return
    n, c, ih, iw = _unravel4(idx, dx.shape)
    w = dx.shape[3]
    h_out, w_out = dout.shape[2], dout.shape[3]
    me = ih * w + iw
    acc = dx.dtype.type(0)
    # windows oh with oh*stride <= ih < oh*stride + pool_h (and likewise along the width)
    oh_lo = (ih - pool_h + stride) // stride
    oh_lo = oh_lo if oh_lo > 0 else 0
    oh_hi = ih // stride + 1
    oh_hi = oh_hi if oh_hi < h_out else h_out
    ow_lo = (iw - pool_w + stride) // stride
    ow_lo = ow_lo if ow_lo > 0 else 0
    ow_hi = iw // stride + 1
    ow_hi = ow_hi if ow_hi < w_out else w_out
    for oh in range(oh_lo, oh_hi):
        for ow in range(ow_lo, ow_hi):
            if argmax[n, c, oh, ow] == me:
                acc += dout[n, c, oh, ow]
    dx[n, c, ih, iw] = acc


def max_pool_forward(x, pool_h, pool_w, stride):
    on_device = is_device(x)
    xd = to_backend(x)
    n, c, h, w = x.shape
    shape = (n, c, (h - pool_h) // stride + 1, (w - pool_w) // stride + 1)
    out, argmax = _empty(shape, x.dtype), _empty(shape, np.intp)
    _max_pool[_blocks(out.size), THREADS](xd, pool_h, pool_w, stride, out, argmax)
    return _result(on_device, out, argmax)


def max_pool_backward(dout, argmax, x_shape, dtype, pool_h, pool_w, stride):
    on_device = is_device(dout)
    dd, ad = to_backend(dout), to_backend(argmax)
    dx = _empty(x_shape, dtype)
    _max_pool_grad[_blocks(dx.size), THREADS](dd, ad, pool_h, pool_w, stride, dx)
    return _result(on_device, dx)


# ---------------------------------------------------------------- batch normalisation
@cuda.jit
def _batchnorm_apply(x, gamma, beta, mean, inv_std, out, xhat):
    i = cuda.grid(1)
    if i < x.size:
        r, j = i // x.shape[1], i % x.shape[1]
        xh = (x[r, j] - mean[j]) * inv_std[j]
        xhat[r, j] = xh
        out[r, j] = gamma[j] * xh + beta[j]


@cuda.jit
def _batchnorm_dx(dout, xhat, gamma, inv_std, dgamma, dbeta, dx):
    i = cuda.grid(1)
    if i < dout.size:
        n = dout.dtype.type(dout.shape[0])
        r, j = i // dout.shape[1], i % dout.shape[1]
        dx[r, j] = (gamma[j] * inv_std[j] / n) * (n * dout[r, j] - dbeta[j] - xhat[r, j] * dgamma[j])


def batchnorm_forward(x, gamma, beta, eps):
    on_device = is_device(x)
    xd, gd, bd = to_backend(x), to_backend(gamma), to_backend(beta)
    d = x.shape[1]
    mean, var, inv_std = (_empty(d, x.dtype) for _ in range(3))
    _typed("batchnorm_stats", x.dtype)[d, REDUCE](xd, x.dtype.type(eps), mean, var, inv_std)
    out, xhat = _empty(x.shape, x.dtype), _empty(x.shape, x.dtype)
    _batchnorm_apply[_blocks(out.size), THREADS](xd, gd, bd, mean, inv_std, out, xhat)
    return _result(on_device, out, xhat, mean, var, inv_std)


def batchnorm_backward(dout, xhat, gamma, inv_std):
    on_device = is_device(dout)
    dd, xd, gd, sd = (to_backend(a) for a in (dout, xhat, gamma, inv_std))
    d = dout.shape[1]
    dgamma, dbeta = _empty(d, dout.dtype), _empty(d, dout.dtype)
    _typed("batchnorm_param_grads", dout.dtype)[d, REDUCE](dd, xd, dgamma, dbeta)
    dx = _empty(dout.shape, dout.dtype)
    _batchnorm_dx[_blocks(dx.size), THREADS](dd, xd, gd, sd, dgamma, dbeta, dx)
    return _result(on_device, dx, dgamma, dbeta)


@cuda.jit
def _batchnorm_inference(x, gamma, beta, mean, var, eps, out):
    i = cuda.grid(1)
    if i < x.size:
        r, j = i // x.shape[1], i % x.shape[1]
        inv_std = x.dtype.type(1) / math.sqrt(var[j] + eps)
        out[r, j] = gamma[j] * ((x[r, j] - mean[j]) * inv_std) + beta[j]


def batchnorm_inference(x, gamma, beta, mean, var, eps):
    on_device = is_device(x)
    args = [to_backend(a) for a in (x, gamma, beta, mean, var)]
    out = _empty(x.shape, x.dtype)
    _batchnorm_inference[_blocks(out.size), THREADS](*args, x.dtype.type(eps), out)
    return _result(on_device, out)


# ---------------------------------------------------------------- normalisation of (N, C, S) maps
@cuda.jit
def _groupnorm_apply(x, gamma, beta, groups, mean, inv_std, out, xhat):
    idx = cuda.grid(1)
    if idx < x.size:
        c, s = x.shape[1], x.shape[2]
        i, ch, p = idx // (c * s), (idx // s) % c, idx % s
        g = ch // (c // groups)
        xh = (x[i, ch, p] - mean[i, g]) * inv_std[i, g]
        xhat[i, ch, p] = xh
        out[i, ch, p] = gamma[ch] * xh + beta[ch]


@cuda.jit
def _groupnorm_dx(dout, xhat, gamma, inv_std, groups, total, weighted, dx):
    idx = cuda.grid(1)
    if idx < dout.size:
        c, s = dout.shape[1], dout.shape[2]
        i, ch, p = idx // (c * s), (idx // s) % c, idx % s
        g = ch // (c // groups)
        m = dout.dtype.type((c // groups) * s)
        dx[i, ch, p] = (inv_std[i, g] / m) * (m * dout[i, ch, p] * gamma[ch] - total[i, g]
                                              - xhat[i, ch, p] * weighted[i, g])


def groupnorm_forward(x, gamma, beta, groups, eps):
    on_device = is_device(x)
    xd, gd, bd = to_backend(x), to_backend(gamma), to_backend(beta)
    n = x.shape[0]
    mean, inv_std = _empty((n, groups), x.dtype), _empty((n, groups), x.dtype)
    _typed("group_stats", x.dtype)[n * groups, REDUCE](xd, groups, x.dtype.type(eps), mean, inv_std)
    out, xhat = _empty(x.shape, x.dtype), _empty(x.shape, x.dtype)
    _groupnorm_apply[_blocks(out.size), THREADS](xd, gd, bd, groups, mean, inv_std, out, xhat)
    return _result(on_device, out, xhat, inv_std)


def groupnorm_backward(dout, xhat, gamma, inv_std, groups):
    on_device = is_device(dout)
    dd, xd, gd, sd = (to_backend(a) for a in (dout, xhat, gamma, inv_std))
    n, c = dout.shape[:2]
    dgamma, dbeta = _empty(c, dout.dtype), _empty(c, dout.dtype)
    _typed("channel_param_grads", dout.dtype)[c, REDUCE](dd, xd, dgamma, dbeta)
    total, weighted = _empty((n, groups), dout.dtype), _empty((n, groups), dout.dtype)
    _typed("group_grad_sums", dout.dtype)[n * groups, REDUCE](dd, xd, gd, groups, total, weighted)
    dx = _empty(dout.shape, dout.dtype)
    _groupnorm_dx[_blocks(dx.size), THREADS](dd, xd, gd, sd, groups, total, weighted, dx)
    return _result(on_device, dx, dgamma, dbeta)


@cuda.jit
def _channel_batchnorm_apply(x, gamma, beta, mean, inv_std, out, xhat):
    idx = cuda.grid(1)
    if idx < x.size:
        c, s = x.shape[1], x.shape[2]
        i, ch, p = idx // (c * s), (idx // s) % c, idx % s
        xh = (x[i, ch, p] - mean[ch]) * inv_std[ch]
        xhat[i, ch, p] = xh
        out[i, ch, p] = gamma[ch] * xh + beta[ch]


@cuda.jit
def _channel_batchnorm_dx(dout, xhat, gamma, inv_std, dgamma, dbeta, dx):
    idx = cuda.grid(1)
    if idx < dout.size:
        n, c, s = dout.shape
        i, ch, p = idx // (c * s), (idx // s) % c, idx % s
        m = dout.dtype.type(n * s)
        dx[i, ch, p] = (gamma[ch] * inv_std[ch] / m) * (m * dout[i, ch, p] - dbeta[ch]
                                                        - xhat[i, ch, p] * dgamma[ch])


@cuda.jit
def _channel_batchnorm_inference(x, gamma, beta, mean, var, eps, out):
    idx = cuda.grid(1)
    if idx < x.size:
        c, s = x.shape[1], x.shape[2]
        i, ch, p = idx // (c * s), (idx // s) % c, idx % s
        inv_std = x.dtype.type(1) / math.sqrt(var[ch] + eps)
        out[i, ch, p] = gamma[ch] * ((x[i, ch, p] - mean[ch]) * inv_std) + beta[ch]


def channel_batchnorm_forward(x, gamma, beta, eps):
    on_device = is_device(x)
    xd, gd, bd = to_backend(x), to_backend(gamma), to_backend(beta)
    c = x.shape[1]
    mean, var, inv_std = (_empty(c, x.dtype) for _ in range(3))
    _typed("channel_stats", x.dtype)[c, REDUCE](xd, x.dtype.type(eps), mean, var, inv_std)
    out, xhat = _empty(x.shape, x.dtype), _empty(x.shape, x.dtype)
    _channel_batchnorm_apply[_blocks(out.size), THREADS](xd, gd, bd, mean, inv_std, out, xhat)
    return _result(on_device, out, xhat, mean, var, inv_std)


def channel_batchnorm_backward(dout, xhat, gamma, inv_std):
    on_device = is_device(dout)
    dd, xd, gd, sd = (to_backend(a) for a in (dout, xhat, gamma, inv_std))
    c = dout.shape[1]
    dgamma, dbeta = _empty(c, dout.dtype), _empty(c, dout.dtype)
    _typed("channel_param_grads", dout.dtype)[c, REDUCE](dd, xd, dgamma, dbeta)
    dx = _empty(dout.shape, dout.dtype)
    _channel_batchnorm_dx[_blocks(dx.size), THREADS](dd, xd, gd, sd, dgamma, dbeta, dx)
    return _result(on_device, dx, dgamma, dbeta)


def channel_batchnorm_inference(x, gamma, beta, mean, var, eps):
    on_device = is_device(x)
    args = [to_backend(a) for a in (x, gamma, beta, mean, var)]
    out = _empty(x.shape, x.dtype)
    _channel_batchnorm_inference[_blocks(out.size), THREADS](*args, x.dtype.type(eps), out)
    return _result(on_device, out)


# ---------------------------------------------------------------- losses, one thread per row
@cuda.jit
def _svm_rows(scores, y, row_loss, dscores):
    i = cuda.grid(1)
    n, c = scores.shape
    if i >= n:
        return
    one = scores.dtype.type(1)
    inv_n = one / n
    label = y[i]
    correct = scores[i, label]
    total = scores.dtype.type(0)
    count = 0
    for j in range(c):
        margin = scores[i, j] - correct + one
        if j != label and margin > 0:
            total += margin
            count += 1
            dscores[i, j] = inv_n
        else:
            dscores[i, j] = 0
    dscores[i, label] = -count * inv_n
    row_loss[i] = total


@cuda.jit
def _softmax_rows(scores, y, row_loss, dscores):
    i = cuda.grid(1)
    n, c = scores.shape
    if i >= n:
        return
    one = scores.dtype.type(1)
    inv_n = one / n
    top = scores[i, 0]
    for j in range(1, c):  # (the builtin max does not type on the CUDA target here)
        if scores[i, j] > top:
            top = scores[i, j]
    total = scores.dtype.type(0)
    for j in range(c):
        total += math.exp(scores[i, j] - top)
    log_norm = math.log(total)
    for j in range(c):
        dscores[i, j] = math.exp(scores[i, j] - top - log_norm) * inv_n
    label = y[i]
    dscores[i, label] = (math.exp(scores[i, label] - top - log_norm) - one) * inv_n
    row_loss[i] = log_norm - (scores[i, label] - top)


def _row_loss(kernel, scores, y):
    on_device = is_device(scores)
    sd = to_backend(scores)
    yd = to_backend(np.asarray(to_numpy(y), dtype=np.intp))
    n = scores.shape[0]
    row_loss, dscores = _empty(n, scores.dtype), _empty(scores.shape, scores.dtype)
    kernel[_blocks(n), THREADS](sd, yd, row_loss, dscores)
    loss = row_loss.copy_to_host().sum() / n  # pairwise summation, as in the other backends
    return scores.dtype.type(loss), _result(on_device, dscores)


def svm_loss(scores, y):
    return _row_loss(_svm_rows, scores, y)


def softmax_loss(scores, y):
    return _row_loss(_softmax_rows, scores, y)


# ---------------------------------------------------------------- k-nearest neighbours
@cuda.jit
def _squared_norms(a, out):
    i = cuda.grid(1)
    if i < a.shape[0]:
        total = a.dtype.type(0)
        for k in range(a.shape[1]):
            total += a[i, k] * a[i, k]
        out[i] = total


@cuda.jit
def _distances_from_gram(gram, sq_a, sq_b):
    idx = cuda.grid(1)
    if idx < gram.size:
        i, j = idx // gram.shape[1], idx % gram.shape[1]
        sq = sq_a[i] + sq_b[j] - gram.dtype.type(2) * gram[i, j]
        gram[i, j] = math.sqrt(sq) if sq > 0 else 0


def pairwise_distances(a, b):
    on_device = is_device(a)
    ad, bd = to_backend(a), to_backend(b)
    sq_a, sq_b = _empty(a.shape[0], a.dtype), _empty(b.shape[0], b.dtype)
    _squared_norms[_blocks(a.shape[0]), THREADS](ad, sq_a)
    _squared_norms[_blocks(b.shape[0]), THREADS](bd, sq_b)
    gram = _matmul(ad, bd, trans_b=True)
    _distances_from_gram[_blocks(gram.size), THREADS](gram, sq_a, sq_b)
    return _result(on_device, gram)
