"""Fast CPU kernels with Numba: the same functions as numpy_kernels, the same results.

Rules kept throughout: parallel loops run over independent outputs (image planes, matrix rows, column
blocks) so no two threads write one element; matrix products go to BLAS from plain Python, or from
inside a prange (or the Winograd convolution's Python threads, running nogil kernels) only while
BLAS is held to one thread (the convolution's per-image GEMMs); rows are sliced before they are
indexed; accumulators live in the array's dtype, and sums that decide a loss
are finished by NumPy's pairwise summation.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import get_num_threads, njit, prange
from threadpoolctl import ThreadpoolController

# The affine layer is one matrix product, BLAS already the fastest kernel for it; test-mode batch
# norm is one elementwise pass; the arrays live in host memory as for NumPy.
from .numpy_kernels import (affine_backward, affine_forward, batchnorm_inference,  # noqa: F401
                            channel_batchnorm_inference, to_backend, to_numpy)

_JIT = dict(parallel=True, cache=True, nogil=True)
_SERIAL = dict(cache=True, nogil=True, inline="always")

# Columns handled together by one thread in the (N, D) batch-norm kernels: rows stay in cache.
_COL_BLOCK = 64


# ---------------------------------------------------------------- elementwise
@njit(**_JIT)
def _relu(x, out):
    zero = x.dtype.type(0)
    for i in prange(x.size):
        v = x[i]
        out[i] = zero if v < zero else v  # NaN passes through, as np.maximum does


@njit(**_JIT)
def _relu_grad(dout, x, dx):
    zero = x.dtype.type(0)
    for i in prange(x.size):
        dx[i] = dout[i] if x[i] > zero else zero


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


def relu_forward(x):
    out = np.empty(x.size, x.dtype)
    _relu(_flat(x), out)
    return out.reshape(x.shape)


def relu_backward(dout, x):
    dx = np.empty(x.size, x.dtype)
    _relu_grad(_flat(dout), _flat(x), dx)
    return dx.reshape(x.shape)


@njit(**_JIT)
def _dropout(x, uniform, keep, out, mask):
    scale = x.dtype.type(1) / keep
    zero = x.dtype.type(0)
    for i in prange(x.size):
        m = scale if uniform[i] < keep else zero
        mask[i] = m
        out[i] = x[i] * m


def dropout_forward(x, uniform, keep):
    out = np.empty(x.size, x.dtype)
    mask = np.empty(x.size, x.dtype)
    _dropout(_flat(x), _flat(uniform).astype(x.dtype, copy=False), x.dtype.type(keep), out, mask)
    return out.reshape(x.shape), mask.reshape(x.shape)


@njit(**_JIT)
def _multiply(a, b, out):
    for i in prange(a.size):
        out[i] = a[i] * b[i]


def dropout_backward(dout, mask):
    dx = np.empty(dout.size, dout.dtype)
    _multiply(_flat(dout), _flat(mask), dx)
    return dx.reshape(dout.shape)


# ---------------------------------------------------------------- convolution: fused per image
# Each thread takes every T-th image, builds that image's im2col matrix in a buffer of its own (a
# few hundred KiB, so it stays in cache), multiplies it with one single-threaded BLAS call, and for
# the backward scatters the column gradients back at once; dW is summed per thread and reduced
# once. No batch-sized temporaries: a batch-sized im2col matrix costs more in memory traffic than
# its GEMM costs in arithmetic (measured on 2 cores: 1.6x slower on the course's shapes).
@njit(**_SERIAL)
def _valid_range(offset, stride, pad, size, n_out):
    """Output positions o with 0 <= o*stride + offset - pad < size, as [lo, hi)."""
    lo = 0
    while lo < n_out and lo * stride + offset - pad < 0:
        lo += 1
    hi = n_out
    while hi > lo and (hi - 1) * stride + offset - pad >= size:
        hi -= 1
    return lo, hi


@njit(cache=True, nogil=True)
def _im2col_image(image, hh, ww, stride, pad, h_out, w_out, cols):
    """cols[(c, i, j), (oh, ow)] = padded image[c, oh*stride + i, ow*stride + j]."""
    c_in, h, w = image.shape
    zero = image.dtype.type(0)
    for row in range(c_in * hh * ww):
        c = row // (hh * ww)
        i = (row // ww) % hh
        j = row % ww
        dst = cols[row]
        plane = image[c]
        oh_lo, oh_hi = _valid_range(i, stride, pad, h, h_out)
        ow_lo, ow_hi = _valid_range(j, stride, pad, w, w_out)
        for oh in range(h_out):
            o = oh * w_out
            if oh < oh_lo or oh >= oh_hi:
                for ow in range(w_out):
                    dst[o + ow] = zero
                continue
            src = plane[oh * stride + i - pad]
            for ow in range(ow_lo):
                dst[o + ow] = zero
            for ow in range(ow_lo, ow_hi):
                dst[o + ow] = src[ow * stride + j - pad]
            for ow in range(ow_hi, w_out):
                dst[o + ow] = zero


@njit(cache=True, nogil=True)
def _col2im_image(dcols, hh, ww, stride, pad, h_out, w_out, dimage):
    """dimage = the adjoint of _im2col_image applied to dcols: every column entry added back onto
    its input pixel (windows overlap, so entries add up)."""
    c_in, h, w = dimage.shape
    dimage[:] = 0
    for c in range(c_in):
        plane = dimage[c]
        for i in range(hh):
            oh_lo, oh_hi = _valid_range(i, stride, pad, h, h_out)
            for j in range(ww):
                ow_lo, ow_hi = _valid_range(j, stride, pad, w, w_out)
                src = dcols[(c * hh + i) * ww + j]
                for oh in range(oh_lo, oh_hi):
                    dst = plane[oh * stride + i - pad]
                    o = oh * w_out
                    for ow in range(ow_lo, ow_hi):
                        dst[ow * stride + j - pad] += src[o + ow]


@njit(**_JIT)
def _conv_images(x, w_mat, b, hh, ww, stride, pad, h_out, w_out, n_parts, out):
    """out[n] = w_mat @ im2col(x[n]) + b, as (N, F, P); part t takes images t, t + n_parts, ..."""
    n_img = x.shape[0]
    n_f, k = w_mat.shape
    p = h_out * w_out
    for t in prange(n_parts):
        cols = np.empty((k, p), x.dtype)
        for n in range(t, n_img, n_parts):
            _im2col_image(x[n], hh, ww, stride, pad, h_out, w_out, cols)
            res = out[n]
            np.dot(w_mat, cols, res)
            for f in range(n_f):
                row = res[f]
                bias = b[f]
                for q in range(p):
                    row[q] += bias


@njit(**_JIT)
def _conv_grad_images(dout, x, w_t, hh, ww, stride, pad, h_out, w_out, dx, dw_parts):
    """dx[n] = col2im(w_t @ dout[n]); dw_parts[t] = the sum over part t's images of dW, transposed
    (K, F) as the stride-1 kernel's (which gets it 20-40% faster as cols @ dout.T)."""
    n_img = x.shape[0]
    n_parts, k, n_f = dw_parts.shape
    p = h_out * w_out
    for t in prange(n_parts):
        cols = np.empty((k, p), x.dtype)
        dcols = np.empty((k, p), x.dtype)
        dw_image = np.empty((n_f, k), x.dtype)
        dw = dw_parts[t]
        dw[:] = 0
        for n in range(t, n_img, n_parts):
            _im2col_image(x[n], hh, ww, stride, pad, h_out, w_out, cols)
            np.dot(dout[n], cols.T, dw_image)  # (F, K): at stride > 1 this way round is faster
            dw += dw_image.T
            np.dot(w_t, dout[n], dcols)
            _col2im_image(dcols, hh, ww, stride, pad, h_out, w_out, dx[n])


# Stride 1, the course's usual case, skips the short rows above: on the padded image, flattened,
# the window offset (i, j) of every output position is one shift, so each im2col row is one
# contiguous copy and each col2im row one contiguous add. The price: the matrix has the padded
# width, wp = W + 2 pad, per output row instead of w_out columns (ww - 1 of them wasted, their
# output dropped and their gradient zero), which costs the GEMMs less than the short copies cost.
@njit(cache=True, nogil=True)
def _fill_padded(image, pad, wp, padded):
    """The image into the interior of padded, (C, hp * wp + ww - 1) flattened rows whose border
    and tail the caller zeroed once."""
    c_in, h, w = image.shape
    for c in range(c_in):
        dst = padded[c]
        for r in range(h):
            src = image[c, r]
            base = (r + pad) * wp + pad
            row = dst[base:base + w]  # sliced, then indexed from 0: LLVM vectorises it (5x here)
            for q in range(w):
                row[q] = src[q]


@njit(cache=True, nogil=True)
def _wide_cols(padded, hh, ww, wp, length, cols):
    """cols[(c, i, j), q] = padded[c, i * wp + j + q], q < length = h_out * wp."""
    for c in range(padded.shape[0]):
        src = padded[c]
        for i in range(hh):
            for j in range(ww):
                dst = cols[(c * hh + i) * ww + j]
                shift = i * wp + j
                window = src[shift:shift + length]
                for q in range(length):
                    dst[q] = window[q]


@njit(cache=True, nogil=True)
def _wide_col2im(dcols, hh, ww, wp, pad, dpadded, dimage):
    """dimage = the image part of the adjoint of _wide_cols applied to dcols (dpadded: scratch)."""
    c_in, h, w = dimage.shape
    length = dcols.shape[1]
    dpadded[:] = 0
    for c in range(c_in):
        dst = dpadded[c]
        for i in range(hh):
            for j in range(ww):
                src = dcols[(c * hh + i) * ww + j]
                shift = i * wp + j
                window = dst[shift:shift + length]
                for q in range(length):
                    window[q] += src[q]
        for r in range(h):
            row = dimage[c, r]
            base = (r + pad) * wp + pad
            src_row = dst[base:base + w]
            for q in range(w):
                row[q] = src_row[q]


@njit(**_JIT)
def _conv_images_stride1(x, w_mat, b, hh, ww, pad, h_out, w_out, n_parts, out):
    n_img, c_in, h, w = x.shape
    n_f, k = w_mat.shape
    wp = w + 2 * pad
    length = h_out * wp
    for t in prange(n_parts):
        padded = np.zeros((c_in, (h + 2 * pad) * wp + ww - 1), x.dtype)
        cols = np.empty((k, length), x.dtype)
        wide = np.empty((n_f, length), x.dtype)
        for n in range(t, n_img, n_parts):
            _fill_padded(x[n], pad, wp, padded)
            _wide_cols(padded, hh, ww, wp, length, cols)
            np.dot(w_mat, cols, wide)
            for f in range(n_f):
                src, dst, bias = wide[f], out[n, f], b[f]
                for oh in range(h_out):
                    row, wide_row = dst[oh * w_out:(oh + 1) * w_out], src[oh * wp:oh * wp + w_out]
                    for ow in range(w_out):
                        row[ow] = wide_row[ow] + bias


@njit(**_JIT)
def _conv_grad_images_stride1(dout, x, w_t, hh, ww, pad, h_out, w_out, dx, dw_parts):
    n_img, c_in, h, w = x.shape
    n_parts, k, n_f = dw_parts.shape  # dW transposed, as above
    wp = w + 2 * pad
    length = h_out * wp
    for t in prange(n_parts):
        padded = np.zeros((c_in, (h + 2 * pad) * wp + ww - 1), x.dtype)
        dpadded = np.empty_like(padded)
        cols = np.empty((k, length), x.dtype)
        dcols = np.empty((k, length), x.dtype)
        dwide = np.zeros((n_f, length), x.dtype)  # its columns past w_out stay 0: no gradient there
        dw_image = np.empty((k, n_f), x.dtype)
        dw = dw_parts[t]
        dw[:] = 0
        for n in range(t, n_img, n_parts):
            _fill_padded(x[n], pad, wp, padded)
            _wide_cols(padded, hh, ww, wp, length, cols)
            for f in range(n_f):
                src, dst = dout[n, f], dwide[f]
                for oh in range(h_out):
                    wide_row, row = dst[oh * wp:oh * wp + w_out], src[oh * w_out:(oh + 1) * w_out]
                    for ow in range(w_out):
                        wide_row[ow] = row[ow]
            np.dot(cols, dwide.T, dw_image)
            dw += dw_image
            np.dot(w_t, dwide, dcols)
            _wide_col2im(dcols, hh, ww, wp, pad, dpadded, dx[n])


# Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions with enough channels (Lavin and Gray, "Fast
# Algorithms for Convolutional Neural Networks", 2015): each 2x2 block of outputs comes from the
# 4x4 input patch under it as A^T [(G g G^T) * (B^T d B)] A, so the channel sums become 16 GEMMs
# (one per entry (a, b) of the 4x4 transforms, F x C by C x tiles) of 16/36 the flops of im2col's,
# and there is no column matrix. The backward is two more of the same kind: dx is the convolution
# of dout (padded by 2 - pad) with the flipped, transposed weights, and dW, the adjoint in g,
# is G^T [sum over tiles of (A e A^T) * (B^T d B)] G, e the 2x2 block of dout.
# Matrices below are B^T, G and A^T; the transforms are written out as sums in the kernels.
_WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
_WINOGRAD_GG = np.kron(_WINOGRAD_G, _WINOGRAD_G)  # [4a + b, 3i + j] = G[a, i] G[b, j]
# Below this many input or output channels the GEMMs are too thin to pay for the transforms
# (06's first layer, 3 channels in, stays on im2col); tests lower it to reach the path.
_WINOGRAD_MIN_CHANNELS = 16
# Columns per GEMM, forward and backward: images are grouped until their tiles fill about this
# many (measured on 16x16 images, 72 tiles each: 2 images a GEMM forward, 1 backward, whose four
# transformed arrays stay in L2 only so).
_WINOGRAD_TILES = (160, 80)


@njit(cache=True, nogil=True)
def _fill_split(image, pad, wp, split):
    """The image, padded, into split[c, y % 2, (y // 2) * wp + x] (padded row y, column x): even
    and odd rows apart, so that the tiles' rows 2 ty + r are whole rows of one half. The caller
    zeroed the border and tail once."""
    c_in, h, w = image.shape
    for c in range(c_in):
        for r in range(h):
            y = r + pad
            base = (y // 2) * wp + pad
            row = split[c, y % 2, base:base + w]
            src = image[c, r]
            for q in range(w):
                row[q] = src[q]


# The transforms below run over whole images at a time, each loop one source and one destination:
# LLVM vectorises those, not loops of a tile row's 8 tiles. Tile (ty, tx) is column
# j = ty * (tw + 1) + tx of the GEMMs: with one spare tile per row (tx = tw, its output dropped,
# its dout zero) the patch of tile j starts at 2 j of its padded half-row, for every j at once.
@njit(cache=True, nogil=True)
def _winograd_in(split, th, tw, cols, v, t0):
    """v[4a + b, c, t0 + j] = (B^T d B)[a, b], d the 4x4 patch of tile j of the padded image
    split[c] (as _fill_split leaves it, wp = 2 (tw + 1)); cols: (2, 4, (th + 1) * (tw + 1))
    scratch. B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]."""
    n1 = tw + 1
    n_cols, n_tiles = (th + 1) * n1, th * n1
    for c in range(split.shape[0]):
        for par in range(2):  # B^T over each row's columns 2 tx .. 2 tx + 3, every row
            src = split[c, par]
            c0, c1, c2, c3 = cols[par, 0], cols[par, 1], cols[par, 2], cols[par, 3]
            for j in range(n_cols):
                c0[j] = src[2 * j] - src[2 * j + 2]
            for j in range(n_cols):
                c1[j] = src[2 * j + 1] + src[2 * j + 2]
            for j in range(n_cols):
                c2[j] = src[2 * j + 2] - src[2 * j + 1]
            for j in range(n_cols):
                c3[j] = src[2 * j + 1] - src[2 * j + 3]
        for b in range(4):  # then over rows 2 ty .. 2 ty + 3: even and odd rows of ty, ty + 1
            d0, d1 = cols[0, b, :n_tiles], cols[1, b, :n_tiles]
            d2, d3 = cols[0, b, n1:n1 + n_tiles], cols[1, b, n1:n1 + n_tiles]
            dst = v[b, c, t0:t0 + n_tiles]
            for j in range(n_tiles):
                dst[j] = d0[j] - d2[j]
            dst = v[4 + b, c, t0:t0 + n_tiles]
            for j in range(n_tiles):
                dst[j] = d1[j] + d2[j]
            dst = v[8 + b, c, t0:t0 + n_tiles]
            for j in range(n_tiles):
                dst[j] = d2[j] - d1[j]
            dst = v[12 + b, c, t0:t0 + n_tiles]
            for j in range(n_tiles):
                dst[j] = d1[j] - d3[j]


@njit(cache=True, nogil=True)
def _fill_split_last(image, pad, wp, split):
    """_fill_split's layout with the channels last: split[y % 2, (y // 2) * wp + x, c]."""
    c_in, h, w = image.shape
    for r in range(h):
        y = r + pad
        base = (y // 2) * wp + pad
        dst = split[y % 2, base:base + w]
        for q in range(w):
            pixel = dst[q]
            for c in range(c_in):
                pixel[c] = image[c, r, q]


@njit(cache=True, nogil=True)
def _winograd_in_last(split, th, tw, cols, vt, t0):
    """vt[4a + b, t0 + j, c] = _winograd_in's v[4a + b, c, t0 + j], from split as _fill_split_last
    leaves it; cols: (2, 4, (th + 1) * (tw + 1), C) scratch. For dW's GEMM, e @ vt (OpenBLAS:
    1.7x as fast as e @ v.T); the transposing copy costs 3 us per image of 32 channels."""
    n1 = tw + 1
    n_cols, n_tiles = (th + 1) * n1, th * n1
    c_in = split.shape[2]
    for par in range(2):  # B^T over columns, as _winograd_in's, channel vectors at a time
        src = split[par]
        for j in range(n_cols):
            p0, p1, p2, p3 = src[2 * j], src[2 * j + 1], src[2 * j + 2], src[2 * j + 3]
            c0, c1, c2, c3 = cols[par, 0, j], cols[par, 1, j], cols[par, 2, j], cols[par, 3, j]
            for c in range(c_in):
                c0[c] = p0[c] - p2[c]
                c1[c] = p1[c] + p2[c]
                c2[c] = p2[c] - p1[c]
                c3[c] = p1[c] - p3[c]
    size, shift = n_tiles * c_in, n1 * c_in  # then over rows: ty + 1 is `shift` on in (j, c)
    for b in range(4):
        even, odd = cols[0, b].reshape(-1), cols[1, b].reshape(-1)
        d0, d1, d2, d3 = even[:size], odd[:size], even[shift:shift + size], odd[shift:shift + size]
        dst = vt[b, t0:t0 + n_tiles].reshape(-1)
        for q in range(size):
            dst[q] = d0[q] - d2[q]
        dst = vt[4 + b, t0:t0 + n_tiles].reshape(-1)
        for q in range(size):
            dst[q] = d1[q] + d2[q]
        dst = vt[8 + b, t0:t0 + n_tiles].reshape(-1)
        for q in range(size):
            dst[q] = d2[q] - d1[q]
        dst = vt[12 + b, t0:t0 + n_tiles].reshape(-1)
        for q in range(size):
            dst[q] = d1[q] - d3[q]


@njit(cache=True, nogil=True)
def _winograd_grad_in(split, pad, th, tw, cols, e, t0):
    """e[4a + b, f, t0 + j] = (A g A^T)[a, b], g the 2x2 block of tile j of dout split[f] (as
    _fill_split leaves it, padded by pad, zero past dout's edges: spare tiles get 0); cols:
    scratch as _winograd_in's. A = [[1, 0], [1, 1], [1, -1], [0, -1]]."""
    n_tiles = th * (tw + 1)
    wp = 2 * (tw + 1)
    top, bottom = (pad // 2) * wp + pad, ((pad + 1) // 2) * wp + pad  # where tile 0's rows start
    for f in range(split.shape[0]):
        for par in range(2):  # the block's top row, then its bottom one
            src = split[f, pad % 2, top:] if par == 0 else split[f, (pad + 1) % 2, bottom:]
            c0, c1, c2, c3 = cols[par, 0], cols[par, 1], cols[par, 2], cols[par, 3]
            for j in range(n_tiles):
                c0[j] = src[2 * j]
            for j in range(n_tiles):
                c1[j] = src[2 * j] + src[2 * j + 1]
            for j in range(n_tiles):
                c2[j] = src[2 * j] - src[2 * j + 1]
            for j in range(n_tiles):
                c3[j] = -src[2 * j + 1]
        for b in range(4):
            g0, g1 = cols[0, b, :n_tiles], cols[1, b, :n_tiles]
            dst = e[b, f, t0:t0 + n_tiles]
            for j in range(n_tiles):
                dst[j] = g0[j]
            dst = e[4 + b, f, t0:t0 + n_tiles]
            for j in range(n_tiles):
                dst[j] = g0[j] + g1[j]
            dst = e[8 + b, f, t0:t0 + n_tiles]
            for j in range(n_tiles):
                dst[j] = g0[j] - g1[j]
            dst = e[12 + b, f, t0:t0 + n_tiles]
            for j in range(n_tiles):
                dst[j] = -g1[j]


@njit(cache=True, nogil=True)
def _winograd_out_rows(m):
    """The first half of A^T M A, in place over all of m's columns at once: m[b] becomes the tiles'
    top output row before its sum over b, m[4 + b] the bottom one's (A^T = [[1, 1, 1, 0],
    [0, 1, -1, -1]]). Loops over whole rows of the GEMM output: 2x as fast as per tile row."""
    for b in range(4):
        m0, m1 = m[b].reshape(-1), m[4 + b].reshape(-1)
        m2, m3 = m[8 + b].reshape(-1), m[12 + b].reshape(-1)
        for q in range(m0.size):
            m0[q] = m0[q] + m1[q] + m2[q]
        for q in range(m0.size):
            m1[q] = m1[q] - m2[q] - m3[q]


@njit(cache=True, nogil=True)
def _winograd_out(m, t0, tw, bias, wide, dst):
    """dst[f] = bias[f] + the 2x2 blocks A^T M A of the tiles, of which _winograd_out_rows left
    M A's rows in m[:8, f, t0 + j]; cut to dst's size. wide: (2, th * wp) scratch."""
    n_f, h_out, w_out = dst.shape
    n1 = tw + 1
    wp, n_tiles = 2 * n1, ((h_out + 1) // 2) * n1
    for f in range(n_f):
        bias_f = bias[f]
        for i in range(2):  # the sums over b: both output columns of each tile, side by side
            s0, s1 = m[4 * i, f, t0:t0 + n_tiles], m[4 * i + 1, f, t0:t0 + n_tiles]
            s2, s3 = m[4 * i + 2, f, t0:t0 + n_tiles], m[4 * i + 3, f, t0:t0 + n_tiles]
            line = wide[i]
            for j in range(n_tiles):
                line[2 * j] = s0[j] + s1[j] + s2[j] + bias_f
                line[2 * j + 1] = s1[j] - s2[j] - s3[j] + bias_f
        for oh in range(h_out):
            base = (oh // 2) * wp
            src, row = wide[oh % 2, base:base + w_out], dst[f, oh]
            for q in range(w_out):
                row[q] = src[q]


# The parts run on Python threads (the kernels release the GIL), not in a prange: Numba compiled
# each prange over these bodies for 4-10 s more than the bodies themselves (18 s -> 7 s per dtype
# on an empty cache, for the same speed).
@njit(cache=True, nogil=True)
def _winograd_forward_part(t, n_parts, x, u, b, pad, group, out):
    """out[n] = the convolution of x[n] with the weights whose transforms are u (16, F, C), + b,
    for part t's images t, t + n_parts, ..., `group` of them per GEMM."""
    n_img, c_in = x.shape[0], x.shape[1]
    n_f, h_out, w_out = out.shape[1], out.shape[2], out.shape[3]
    th, tw = (h_out + 1) // 2, (w_out + 1) // 2
    wp, tiles = 2 * tw + 2, th * (tw + 1)
    split = np.zeros((c_in, 2, (th + 1) * wp + 2), x.dtype)
    cols = np.empty((2, 4, (th + 1) * (tw + 1)), x.dtype)
    wide = np.empty((2, th * wp), x.dtype)
    v_buf = np.empty(16 * c_in * group * tiles, x.dtype)
    m_buf = np.empty(16 * n_f * group * tiles, x.dtype)
    mine = (n_img - t + n_parts - 1) // n_parts
    for g0 in range(0, mine, group):
        count = min(group, mine - g0)
        v = v_buf[:16 * c_in * count * tiles].reshape((16, c_in, count * tiles))
        m = m_buf[:16 * n_f * count * tiles].reshape((16, n_f, count * tiles))
        for i in range(count):
            _fill_split(x[t + (g0 + i) * n_parts], pad, wp, split)
            _winograd_in(split, th, tw, cols, v, i * tiles)
        for k in range(16):
            np.dot(u[k], v[k], m[k])
        _winograd_out_rows(m)
        for i in range(count):
            _winograd_out(m, i * tiles, tw, b, wide, out[t + (g0 + i) * n_parts])


@njit(cache=True, nogil=True)
def _winograd_backward_part(t, n_parts, dout, x, u_t, pad, group, dx, dw_parts, db_parts):
    """For part t's images: dx[n] = the convolution of dout[n], padded by 2 - pad, with the flipped,
    transposed weights whose transforms are u_t (16, C, F); dw_parts[t] = the sum over their tiles
    of (A e A^T) * (B^T d B) per (a, b), (16, F, C); db_parts[t, f] = the sums of dout[n, f]'s
    columns (summed across columns by the caller: row by row the adds vectorise, 0.5 ms -> 0.1 ms
    for 64 images of 64 16x16 maps)."""
    n_img, c_in, h, w = x.shape
    n_f, h_out, w_out = dout.shape[1], dout.shape[2], dout.shape[3]
    th, tw = (h_out + 1) // 2, (w_out + 1) // 2  # dW's tiles, the forward's
    dth, dtw = (h + 1) // 2, (w + 1) // 2  # dx's
    wp, dwp = 2 * tw + 2, 2 * dtw + 2
    tiles, dtiles = th * (tw + 1), dth * (dtw + 1)
    zero = np.zeros(c_in, x.dtype)
    split = np.zeros((2, (th + 1) * wp + 2, c_in), x.dtype)  # channels last, for dW
    g_split = np.zeros((n_f, 2, th * wp if pad != 1 else 0), x.dtype)  # dout as it is, for dW
    d_split = np.zeros((n_f, 2, (dth + 1) * dwp + 2), x.dtype)  # dout padded, for dx
    cols = np.empty((2, 4, max(th + 1, dth + 1) * max(tw + 1, dtw + 1)), x.dtype)
    cols_last = np.empty((2, 4, (th + 1) * (tw + 1), c_in), x.dtype)
    wide = np.empty((2, dth * dwp), x.dtype)
    v_buf = np.empty(16 * c_in * group * tiles, x.dtype)
    e_buf = np.empty(16 * n_f * group * tiles, x.dtype)
    vd_buf = np.empty(16 * n_f * group * dtiles, x.dtype)
    md_buf = np.empty(16 * c_in * group * dtiles, x.dtype)
    dw_k = np.empty((n_f, c_in), x.dtype)
    dw, db = dw_parts[t], db_parts[t]
    dw[:] = 0
    db[:] = 0
    mine = (n_img - t + n_parts - 1) // n_parts
    for g0 in range(0, mine, group):
        count = min(group, mine - g0)
        vt = v_buf[:16 * c_in * count * tiles].reshape((16, count * tiles, c_in))
        e = e_buf[:16 * n_f * count * tiles].reshape((16, n_f, count * tiles))
        vd = vd_buf[:16 * n_f * count * dtiles].reshape((16, n_f, count * dtiles))
        md = md_buf[:16 * c_in * count * dtiles].reshape((16, c_in, count * dtiles))
        for i in range(count):
            n = t + (g0 + i) * n_parts
            _fill_split_last(x[n], pad, wp, split)
            _winograd_in_last(split, th, tw, cols_last, vt, i * tiles)
            _fill_split(dout[n], 2 - pad, dwp, d_split)
            blocks, offset = d_split, 1  # pad 1: dW's tiles and dx's coincide, so do their rows
            if pad != 1:
                _fill_split(dout[n], 0, wp, g_split)
                blocks, offset = g_split, 0
            _winograd_grad_in(blocks, offset, th, tw, cols, e, i * tiles)  # one call: each call
            # site is compiled anew (1 s)
            for f in range(n_f):
                total = db[f]
                for oh in range(h_out):
                    row = dout[n, f, oh]
                    for q in range(w_out):
                        total[q] += row[q]
            _winograd_in(d_split, dth, dtw, cols, vd, i * dtiles)
        for k in range(16):
            np.dot(e[k], vt[k], dw_k)
            total, part = dw[k].reshape(-1), dw_k.reshape(-1)
            for q in range(total.size):  # a loop: dw[k] += dw_k took 25 us per image
                total[q] += part[q]
            np.dot(u_t[k], vd[k], md[k])
        _winograd_out_rows(md)
        for i in range(count):
            _winograd_out(md, i * dtiles, dtw, zero, wide, dx[t + (g0 + i) * n_parts])


_THREADS = {}


def _on_threads(part, n_parts, *args):
    """part(t, n_parts, *args) for every t < n_parts, side by side: t = 0 on this thread, the
    others on a pool kept for the next call (per process: a forked child has none of its threads)."""
    if n_parts > 1:
        key = (os.getpid(), n_parts)
        if key not in _THREADS:
            _THREADS[key] = ThreadPoolExecutor(n_parts - 1, thread_name_prefix="course_lib-conv")
        others = [_THREADS[key].submit(part, t, n_parts, *args) for t in range(1, n_parts)]
    part(0, n_parts, *args)
    for future in others if n_parts > 1 else ():
        future.result()


def _winograd_weights(w):
    """(F, C, 3, 3) -> (16, F, C): G g G^T per filter and channel, as one product in float64 (an
    einsum's loops took 0.6 ms for 64 x 32 filters), then in w's dtype."""
    f, c = w.shape[:2]
    u = _WINOGRAD_GG @ w.reshape(f * c, 9).T.astype(np.float64)
    return u.astype(w.dtype).reshape(16, f, c)


def _winograd_group(h_out, w_out, n_img, backward):
    """Images per GEMM: as many as fill _WINOGRAD_TILES columns, at most a part's share."""
    tiles = ((h_out + 1) // 2) * ((w_out + 1) // 2 + 1)
    return max(1, min(_WINOGRAD_TILES[backward] // tiles, (n_img + _parts(n_img) - 1) // _parts(n_img)))


def _use_winograd(w, stride, pad):
    """3x3 stride-1 windows with enough channels; pad <= 2 so that dx's padding 2 - pad exists."""
    f, c, hh, ww = w.shape
    return (hh, ww, stride) == (3, 3, 1) and pad <= 2 and min(f, c) >= _WINOGRAD_MIN_CHANNELS


_CONV_LOCK = threading.Lock()
_BLAS = []


def _single_threaded_blas():
    """Every thread of the prange above makes its own BLAS calls, so BLAS must not start threads of
    its own (2 x 2 threads on 2 cores; OpenBLAS under an OpenMP threading layer warns it may hang).
    The lock keeps two Python threads from changing the limit (and Numba's pool) at once."""
    if not _BLAS:
        import scipy.linalg.cython_blas  # noqa: F401  (Numba's np.dot calls this BLAS; load it first)
        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


def _parts(n_img):
    """How many groups of images run side by side: one per thread."""
    return max(1, min(n_img, get_num_threads()))


def _conv_geometry(x, w, stride, pad):
    f, _, hh, ww = w.shape
    h_out = (x.shape[2] + 2 * pad - hh) // stride + 1
    w_out = (x.shape[3] + 2 * pad - ww) // stride + 1
    return f, hh, ww, h_out, w_out


def conv_forward(x, w, b, stride, pad):
    x = np.ascontiguousarray(x)
    f, hh, ww, h_out, w_out = _conv_geometry(x, w, stride, pad)
    n = x.shape[0]
    out = np.empty((n, f, h_out, w_out), x.dtype)
    w_mat, b, flat_out = np.ascontiguousarray(w).reshape(f, -1), np.ascontiguousarray(b), out.reshape(n, f, -1)
    with _CONV_LOCK, _single_threaded_blas():
        if _use_winograd(w, stride, pad):
            group = _winograd_group(h_out, w_out, n, False)
            _on_threads(_winograd_forward_part, _parts(n), x, _winograd_weights(w), b, pad, group, out)
        elif stride == 1:
            _conv_images_stride1(x, w_mat, b, hh, ww, pad, h_out, w_out, _parts(n), flat_out)
        else:
            _conv_images(x, w_mat, b, hh, ww, stride, pad, h_out, w_out, _parts(n), flat_out)
    return out


def conv_backward(dout, x, w, stride, pad):
    x = np.ascontiguousarray(x)
    f, hh, ww, h_out, w_out = _conv_geometry(x, w, stride, pad)
    n = x.shape[0]
    if _use_winograd(w, stride, pad):
        dx = np.empty_like(x)
        dw_parts = np.empty((_parts(n), 16, f, x.shape[1]), x.dtype)
        db_parts = np.empty((_parts(n), f, w_out), x.dtype)
        w_flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        group = _winograd_group(h_out, w_out, n, True)
        with _CONV_LOCK, _single_threaded_blas():
            _on_threads(_winograd_backward_part, _parts(n), np.ascontiguousarray(dout), x,
                        _winograd_weights(w_flipped), pad, group, dx, dw_parts, db_parts)
        dw_hat = dw_parts.sum(axis=0, dtype=np.float64).reshape(16, -1)
        dw = (dw_hat.T @ _WINOGRAD_GG).astype(x.dtype).reshape(w.shape)  # G^T dw_hat G
        return dx, dw, db_parts.sum(axis=(0, 2))
    dx = np.empty_like(x)
    dw_parts = np.empty((_parts(n), w[0].size, f), x.dtype)  # each part's dW, transposed
    flat_dout = np.ascontiguousarray(dout).reshape(n, f, h_out * w_out)
    w_t = np.ascontiguousarray(np.ascontiguousarray(w).reshape(f, -1).T)
    with _CONV_LOCK, _single_threaded_blas():
        if stride == 1:
            _conv_grad_images_stride1(flat_dout, x, w_t, hh, ww, pad, h_out, w_out, dx, dw_parts)
        else:
            _conv_grad_images(flat_dout, x, w_t, hh, ww, stride, pad, h_out, w_out, dx, dw_parts)
    return dx, dw_parts.sum(axis=0).T.reshape(w.shape), dout.sum(axis=(0, 2, 3))


# ---------------------------------------------------------------- max pooling
@njit(**_JIT)
def _max_pool(x, pool_h, pool_w, stride, out, argmax):
    """x, out and argmax are (N*C, H, W)-shaped stacks of planes; one thread per plane."""
    n_planes, h_out, w_out = out.shape
    w = x.shape[2]
    for t in prange(n_planes):
        plane = x[t]
        for oh in range(h_out):
            for ow in range(w_out):
                h0 = oh * stride
                w0 = ow * stride
                best = plane[h0, w0]
                where = h0 * w + w0
                for i in range(pool_h):
                    row = plane[h0 + i]
                    for j in range(pool_w):
                        if row[w0 + j] > best:  # strict: ties keep the first maximum
                            best = row[w0 + j]
                            where = (h0 + i) * w + w0 + j
                out[t, oh, ow] = best
                argmax[t, oh, ow] = where


@njit(**_JIT)
def _max_pool_grad(dout, argmax, dx):
    for t in prange(dout.shape[0]):
        src = dout[t]
        idx = argmax[t]
        dst = dx[t]
        for k in range(src.size):
            dst[idx[k]] += src[k]


def max_pool_forward(x, pool_h, pool_w, stride):
    n, c, h, w = x.shape
    h_out = (h - pool_h) // stride + 1
    w_out = (w - pool_w) // stride + 1
    out = np.empty((n * c, h_out, w_out), x.dtype)
    argmax = np.empty((n * c, h_out, w_out), np.intp)
    _max_pool(np.ascontiguousarray(x).reshape(n * c, h, w), pool_h, pool_w, stride, out, argmax)
    return out.reshape(n, c, h_out, w_out), argmax.reshape(n, c, h_out, w_out)


def max_pool_backward(dout, argmax, x_shape, dtype, pool_h, pool_w, stride):
    """The geometry arguments are unused here: argmax already says where each gradient goes."""
    n, c, h, w = x_shape
    dx = np.zeros((n * c, h * w), dtype)
    _max_pool_grad(np.ascontiguousarray(dout).reshape(n * c, -1),
                  np.ascontiguousarray(argmax).reshape(n * c, -1), dx)
    return dx.reshape(x_shape)


# ---------------------------------------------------------------- batch normalisation, (N, D)
@njit(**_JIT)
def _batchnorm(x, gamma, beta, eps, out, xhat, mean, var, inv_std):
    n, d = x.shape
    zero = x.dtype.type(0)
    for block in prange((d + _COL_BLOCK - 1) // _COL_BLOCK):
        lo = block * _COL_BLOCK
        hi = min(d, lo + _COL_BLOCK)
        for j in range(lo, hi):
            mean[j] = zero
            var[j] = zero
        for i in range(n):
            row = x[i]
            for j in range(lo, hi):
                mean[j] += row[j]
        for j in range(lo, hi):
            mean[j] /= n
        for i in range(n):
            row = x[i]
            for j in range(lo, hi):
                delta = row[j] - mean[j]
                var[j] += delta * delta
        for j in range(lo, hi):
            var[j] /= n
            inv_std[j] = 1 / np.sqrt(var[j] + eps)
        for i in range(n):
            row = x[i]
            xh = xhat[i]
            o = out[i]
            for j in range(lo, hi):
                xh[j] = (row[j] - mean[j]) * inv_std[j]
                o[j] = gamma[j] * xh[j] + beta[j]


@njit(**_JIT)
def _batchnorm_grad(dout, xhat, gamma, inv_std, dx, dgamma, dbeta):
    n, d = dout.shape
    zero = dout.dtype.type(0)
    for block in prange((d + _COL_BLOCK - 1) // _COL_BLOCK):
        lo = block * _COL_BLOCK
        hi = min(d, lo + _COL_BLOCK)
        for j in range(lo, hi):
            dgamma[j] = zero
            dbeta[j] = zero
        for i in range(n):
            g = dout[i]
            xh = xhat[i]
            for j in range(lo, hi):
                dbeta[j] += g[j]
                dgamma[j] += g[j] * xh[j]
        for i in range(n):
            g = dout[i]
            xh = xhat[i]
            out = dx[i]
            for j in range(lo, hi):
                out[j] = (gamma[j] * inv_std[j] / n) * (n * g[j] - dbeta[j] - xh[j] * dgamma[j])


def batchnorm_forward(x, gamma, beta, eps):
    x = np.ascontiguousarray(x)
    d = x.shape[1]
    out, xhat = np.empty_like(x), np.empty_like(x)
    mean, var, inv_std = (np.empty(d, x.dtype) for _ in range(3))
    _batchnorm(x, gamma, beta, x.dtype.type(eps), out, xhat, mean, var, inv_std)
    return out, xhat, mean, var, inv_std


def batchnorm_backward(dout, xhat, gamma, inv_std):
    dout = np.ascontiguousarray(dout)
    dx = np.empty_like(dout)
    dgamma, dbeta = np.empty_like(gamma), np.empty_like(gamma)
    _batchnorm_grad(dout, np.ascontiguousarray(xhat), gamma, inv_std, dx, dgamma, dbeta)
    return dx, dgamma, dbeta


# ---------------------------------------------------------------- normalisation of (N, C, S) maps
@njit(**_JIT)
def _groupnorm(x, gamma, beta, groups, eps, out, xhat, inv_std):
    n, c, s = x.shape
    per = c // groups
    m = x.dtype.type(per * s)
    zero, one = x.dtype.type(0), x.dtype.type(1)
    for t in prange(n * groups):  # one (image, group) per thread
        i, g = t // groups, t % groups
        total = zero
        for ch in range(g * per, (g + 1) * per):
            row = x[i, ch]
            for p in range(s):
                total += row[p]
        mean = total / m
        acc = zero
        for ch in range(g * per, (g + 1) * per):
            row = x[i, ch]
            for p in range(s):
                delta = row[p] - mean
                acc += delta * delta
        inv = one / np.sqrt(acc / m + eps)
        inv_std[i, g] = inv
        for ch in range(g * per, (g + 1) * per):
            row, xh, o = x[i, ch], xhat[i, ch], out[i, ch]
            scale, shift = gamma[ch], beta[ch]
            for p in range(s):
                v = (row[p] - mean) * inv
                xh[p] = v
                o[p] = scale * v + shift


@njit(**_JIT)
def _channel_param_grads(dout, xhat, dgamma, dbeta):
    """dbeta[c] = sum of dout[:, c, :], dgamma[c] = sum of dout[:, c, :] * xhat[:, c, :]."""
    n, c, s = dout.shape
    zero = dout.dtype.type(0)
    for ch in prange(c):
        dg, db = zero, zero
        for i in range(n):
            g, xh = dout[i, ch], xhat[i, ch]
            for p in range(s):
                db += g[p]
                dg += g[p] * xh[p]
        dgamma[ch] = dg
        dbeta[ch] = db


@njit(**_JIT)
def _groupnorm_dx(dout, xhat, gamma, inv_std, groups, dx):
    n, c, s = dout.shape
    per = c // groups
    m = dout.dtype.type(per * s)
    zero = dout.dtype.type(0)
    for t in prange(n * groups):
        i, g = t // groups, t % groups
        total, weighted = zero, zero  # sums of dxhat and dxhat * xhat over the group
        for ch in range(g * per, (g + 1) * per):
            d, xh, scale = dout[i, ch], xhat[i, ch], gamma[ch]
            for p in range(s):
                dxh = d[p] * scale
                total += dxh
                weighted += dxh * xh[p]
        k = inv_std[i, g] / m
        for ch in range(g * per, (g + 1) * per):
            d, xh, o, scale = dout[i, ch], xhat[i, ch], dx[i, ch], gamma[ch]
            for p in range(s):
                o[p] = k * (m * d[p] * scale - total - xh[p] * weighted)


def groupnorm_forward(x, gamma, beta, groups, eps):
    x = np.ascontiguousarray(x)
    out, xhat = np.empty_like(x), np.empty_like(x)
    inv_std = np.empty((x.shape[0], groups), x.dtype)
    _groupnorm(x, gamma, beta, groups, x.dtype.type(eps), out, xhat, inv_std)
    return out, xhat, inv_std


def groupnorm_backward(dout, xhat, gamma, inv_std, groups):
    dout, xhat = np.ascontiguousarray(dout), np.ascontiguousarray(xhat)
    dx = np.empty_like(dout)
    dgamma, dbeta = np.empty_like(gamma), np.empty_like(gamma)
    _channel_param_grads(dout, xhat, dgamma, dbeta)
    _groupnorm_dx(dout, xhat, gamma, inv_std, groups, dx)
    return dx, dgamma, dbeta


@njit(**_JIT)
def _channel_batchnorm(x, gamma, beta, eps, out, xhat, mean, var, inv_std):
    n, c, s = x.shape
    m = x.dtype.type(n * s)
    zero, one = x.dtype.type(0), x.dtype.type(1)
    for ch in prange(c):  # one channel per thread
        total = zero
        for i in range(n):
            row = x[i, ch]
            for p in range(s):
                total += row[p]
        mu = total / m
        acc = zero
        for i in range(n):
            row = x[i, ch]
            for p in range(s):
                delta = row[p] - mu
                acc += delta * delta
        mean[ch] = mu
        var[ch] = acc / m
        inv = one / np.sqrt(var[ch] + eps)
        inv_std[ch] = inv
        scale, shift = gamma[ch], beta[ch]
        for i in range(n):
            row, xh, o = x[i, ch], xhat[i, ch], out[i, ch]
            for p in range(s):
                v = (row[p] - mu) * inv
                xh[p] = v
                o[p] = scale * v + shift


@njit(**_JIT)
def _channel_batchnorm_dx(dout, xhat, gamma, inv_std, dgamma, dbeta, dx):
    n, c, s = dout.shape
    m = dout.dtype.type(n * s)
    for ch in prange(c):
        k = gamma[ch] * inv_std[ch] / m
        for i in range(n):
            d, xh, o = dout[i, ch], xhat[i, ch], dx[i, ch]
            for p in range(s):
                o[p] = k * (m * d[p] - dbeta[ch] - xh[p] * dgamma[ch])


def channel_batchnorm_forward(x, gamma, beta, eps):
    x = np.ascontiguousarray(x)
    c = x.shape[1]
    out, xhat = np.empty_like(x), np.empty_like(x)
    mean, var, inv_std = (np.empty(c, x.dtype) for _ in range(3))
    _channel_batchnorm(x, gamma, beta, x.dtype.type(eps), out, xhat, mean, var, inv_std)
    return out, xhat, mean, var, inv_std


def channel_batchnorm_backward(dout, xhat, gamma, inv_std):
    dout, xhat = np.ascontiguousarray(dout), np.ascontiguousarray(xhat)
    dx = np.empty_like(dout)
    dgamma, dbeta = np.empty_like(gamma), np.empty_like(gamma)
    _channel_param_grads(dout, xhat, dgamma, dbeta)
    _channel_batchnorm_dx(dout, xhat, gamma, inv_std, dgamma, dbeta, dx)
    return dx, dgamma, dbeta


# ---------------------------------------------------------------- losses, one thread per row
@njit(**_JIT)
def _svm_rows(scores, y, row_loss, dscores):
    n, c = scores.shape
    zero = scores.dtype.type(0)
    one = scores.dtype.type(1)
    inv_n = one / n
    for i in prange(n):
        s = scores[i]
        d = dscores[i]
        label = y[i]
        correct = s[label]
        total = zero
        count = 0
        for j in range(c):
            margin = s[j] - correct + one
            if j != label and margin > zero:
                total += margin
                count += 1
                d[j] = inv_n
            else:
                d[j] = zero
        d[label] = -count * inv_n
        row_loss[i] = total


@njit(**_JIT)
def _softmax_rows(scores, y, row_loss, dscores):
    n, c = scores.shape
    one = scores.dtype.type(1)
    inv_n = one / n
    for i in prange(n):
        s = scores[i]
        d = dscores[i]
        top = s.max()
        total = scores.dtype.type(0)
        for j in range(c):
            total += np.exp(s[j] - top)
        log_norm = np.log(total)
        for j in range(c):
            d[j] = np.exp(s[j] - top - log_norm) * inv_n
        label = y[i]
        d[label] = (np.exp(s[label] - top - log_norm) - one) * inv_n
        row_loss[i] = log_norm - (s[label] - top)


def _row_loss(kernel, scores, y):
    scores = np.ascontiguousarray(scores)
    row_loss = np.empty(scores.shape[0], scores.dtype)
    dscores = np.empty_like(scores)
    kernel(scores, np.ascontiguousarray(y, dtype=np.intp), row_loss, dscores)
    return scores.dtype.type(row_loss.sum() / scores.shape[0]), dscores


def svm_loss(scores, y):
    return _row_loss(_svm_rows, scores, y)


def softmax_loss(scores, y):
    return _row_loss(_softmax_rows, scores, y)


# ---------------------------------------------------------------- k-nearest neighbours
@njit(**_JIT)
def _distances_from_gram(gram, sq_a, sq_b):
    """In place: gram[i, j] = a_i . b_j becomes sqrt(max(|a_i|^2 + |b_j|^2 - 2 a_i . b_j, 0))."""
    zero = gram.dtype.type(0)
    two = gram.dtype.type(2)
    for i in prange(gram.shape[0]):
        row = gram[i]
        for j in range(row.size):
            sq = sq_a[i] + sq_b[j] - two * row[j]
            row[j] = np.sqrt(sq) if sq > zero else zero


@njit(**_JIT)
def _squared_norms(a):
    """|a_i|^2 per row, without the (M, D) temporary that (a * a).sum(axis=1) allocates."""
    out = np.empty(a.shape[0], a.dtype)
    for i in prange(a.shape[0]):
        row = a[i]
        total = a.dtype.type(0)
        for k in range(row.size):
            total += row[k] * row[k]
        out[i] = total
    return out


def pairwise_distances(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    gram = a @ b.T
    _distances_from_gram(gram, _squared_norms(a), _squared_norms(b))
    return gram
