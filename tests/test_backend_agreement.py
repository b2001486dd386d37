"""Every fast backend must reproduce the NumPy specification: float64 to 1e-10, float32 to 1e-5
(max |difference| relative to max |reference|), on odd sizes, strides above 1 and padding. The
cuda backend runs on Numba's CUDA simulator where there is no GPU (one Python thread per GPU
thread), so there it gets the small cases; on a GPU it gets them all."""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from course_lib.backend import BackendUnavailableError, kernels
from conftest import agree as agree_with_spec

DTYPES = [np.float64, np.float32]
FAST = ("numba", "cuda")
SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def fast_kernels(backend):
    try:
        return kernels(backend)
    except BackendUnavailableError as err:  # no GPU and NUMBA_ENABLE_CUDASIM=0
        pytest.skip(str(err))


def on_backends(cases, small=()):
    """(backend, case) pairs: every case on numba; on the simulated cuda backend, the small ones."""
    cases = list(cases) + [c for c in small if c not in cases]
    return [pytest.param(b, *c, id="-".join([b] + [str(v) for v in c])) for b in FAST for c in cases
            if b == "numba" or not SIMULATED or c in small]


def conv_case(fast, rng, dtype, n, c, h, w, f, hh, ww, stride, pad):
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((f, c, hh, ww)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    out = agree_with_spec(fast, "conv_forward", (x, wt, b, stride, pad), dtype)[0]
    dout = rng.standard_normal(out.shape).astype(dtype)
    # db is a sum of N * H' * W' upstream values: two summation orders differ by rounding of
    # their size, which for a sum that nearly cancels is far more than of the sum itself
    db_terms = float(np.abs(dout).sum(axis=(0, 2, 3)).max())
    agree_with_spec(fast, "conv_backward", (dout, x, wt, stride, pad), dtype, scale=(0.0, 0.0, db_terms))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend, shape", on_backends(
    [((2, 3, 7, 7, 4, 3, 3, 2, 1),), ((3, 1, 9, 5, 2, 5, 1, 2, 0),), ((1, 5, 8, 11, 3, 2, 3, 3, 2),),
     ((4, 3, 32, 32, 8, 7, 7, 1, 3),), ((5, 16, 15, 15, 7, 3, 3, 1, 1),), ((2, 2, 6, 6, 3, 6, 6, 1, 0),)],
    small=[((2, 3, 5, 5, 2, 3, 3, 1, 1),), ((1, 2, 7, 5, 3, 3, 1, 2, 0),), ((2, 1, 6, 6, 2, 2, 4, 2, 2),)]))
def test_conv(rng, backend, dtype, shape):
    conv_case(fast_kernels(backend), rng, dtype, *shape)


@pytest.mark.parametrize("parts", [1, 2, 3, 5])
def test_numba_conv_splits_images_among_threads(rng, monkeypatch, parts):
    """Images dealt to one, a few (5 images over 2 or 3 parts: uneven) or as many parts as images,
    each with its own buffers and dW sum, give the specification's result."""
    fast = fast_kernels("numba")
    monkeypatch.setattr(fast, "_parts", lambda n_img: parts)
    conv_case(fast, rng, np.float64, 5, 3, 5, 5, 4, 3, 3, 1, 1)
    conv_case(fast, rng, np.float32, 5, 2, 7, 6, 3, 3, 2, 2, 1)


# Numba's Winograd path (3x3, stride 1, pad <= 2) takes only layers of 16 channels and more; the
# tests lower that bound to reach it on small shapes. (n, c, h, w, f, pad): odd and even sizes,
# 1x1 and 1xW outputs, one image per part and several, spare tiles on every row.
WINOGRAD_SHAPES = [(2, 3, 5, 5, 2, 1), (3, 2, 7, 6, 3, 0), (1, 5, 8, 11, 3, 2), (5, 16, 15, 15, 7, 1),
                   (4, 1, 3, 3, 1, 0), (6, 4, 9, 4, 5, 2), (7, 3, 1, 6, 4, 1), (2, 8, 16, 16, 6, 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", WINOGRAD_SHAPES, ids=str)
def test_numba_winograd_conv(rng, monkeypatch, dtype, shape):
    fast = fast_kernels("numba")
    monkeypatch.setattr(fast, "_WINOGRAD_MIN_CHANNELS", 1)
    n, c, h, w, f, pad = shape
    assert fast._use_winograd(np.empty((f, c, 3, 3)), 1, pad)
    conv_case(fast, rng, dtype, n, c, h, w, f, 3, 3, 1, pad)


@pytest.mark.parametrize("parts", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("columns", [(1, 1), (200, 200), (10 ** 6, 10 ** 6)])
def test_numba_winograd_groups_images(rng, monkeypatch, parts, columns):
    """1 to 5 images per part (7 images: uneven), GEMMs of one image, of a few (a last group short)
    and of a whole part's, give the specification's result."""
    fast = fast_kernels("numba")
    monkeypatch.setattr(fast, "_WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(fast, "_WINOGRAD_TILES", columns)
    monkeypatch.setattr(fast, "_parts", lambda n_img: parts)
    conv_case(fast, rng, np.float64, 7, 3, 7, 9, 4, 3, 3, 1, 1)
    conv_case(fast, rng, np.float32, 7, 2, 6, 5, 3, 3, 3, 1, 2)


def test_numba_winograd_is_taken_where_it_pays():
    fast = fast_kernels("numba")
    assert fast._use_winograd(np.empty((64, 32, 3, 3)), 1, 1)
    assert not fast._use_winograd(np.empty((16, 3, 3, 3)), 1, 1)  # 06's first layer: im2col
    assert not fast._use_winograd(np.empty((64, 32, 3, 3)), 2, 1)
    assert not fast._use_winograd(np.empty((64, 32, 3, 3)), 1, 3)  # dx would need padding -1
    assert not fast._use_winograd(np.empty((64, 32, 5, 5)), 1, 2)


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_numba_winograd_float32_accuracy(rng, scale):
    """Winograd's transforms add and subtract before the products (and G halves): in float32 the
    result must still be within the agreement tolerance of the exact one, computed here in float64,
    on a layer as wide as the benchmark's and on large values."""
    fast = fast_kernels("numba")
    x = (scale * rng.standard_normal((4, 32, 16, 16))).astype(np.float32)
    wt = (scale * rng.standard_normal((48, 32, 3, 3))).astype(np.float32)
    b = (scale * rng.standard_normal(48)).astype(np.float32)
    assert fast._use_winograd(wt, 1, 1)
    spec = kernels("numpy")
    wide = [a.astype(np.float64) for a in (x, wt, b)]
    out = fast.conv_forward(x, wt, b, 1, 1)
    expected = spec.conv_forward(*wide, 1, 1)
    dout = (scale * rng.standard_normal(out.shape)).astype(np.float32)
    grads = fast.conv_backward(dout, x, wt, 1, 1)
    expected_grads = spec.conv_backward(dout.astype(np.float64), *wide[:2], 1, 1)
    for actual, exact in zip((out,) + grads[:2], (expected,) + expected_grads[:2]):
        err = np.abs(actual - exact).max() / np.abs(exact).max()
        assert actual.dtype == np.float32 and err <= 1e-5 / 4, err


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_conv_random_geometry(data):
    conv_random_geometry("numba", data)


# Numba's CUDA simulator runs each thread in Python: an example costs 1.5-3 s there, so it gets
# fewer (the fixed geometries above cover every stride and padding on it too)
@pytest.mark.slow
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_conv_random_geometry_cuda(data):
    conv_random_geometry("cuda", data)


def conv_random_geometry(backend, data):
    draw = lambda lo, hi: data.draw(st.integers(lo, hi))  # noqa: E731
    hh, ww, stride, pad = draw(1, 4), draw(1, 4), draw(1, 3), draw(0, 2)
    # choose output sizes first, then the input sizes that make the geometry exact
    h = (draw(1, 4) - 1) * stride + hh - 2 * pad
    w = (draw(1, 4) - 1) * stride + ww - 2 * pad
    if h < 1 or w < 1:
        return
    rng = np.random.default_rng(draw(0, 2 ** 32 - 1))
    conv_case(fast_kernels(backend), rng, data.draw(st.sampled_from(DTYPES)), draw(1, 3), draw(1, 3),
              h, w, draw(1, 4), hh, ww, stride, pad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend, shape, ph, pw, stride", on_backends(
    [((2, 3, 8, 8), 2, 2, 2), ((3, 2, 7, 9), 3, 3, 2), ((1, 4, 5, 6), 2, 3, 1), ((2, 1, 9, 9), 3, 3, 3)],
    small=[((2, 2, 4, 4), 2, 2, 2), ((1, 2, 5, 7), 3, 3, 2), ((1, 1, 4, 5), 2, 3, 1)]))
def test_max_pool(rng, backend, dtype, shape, ph, pw, stride):
    fast = fast_kernels(backend)
    x = rng.standard_normal(shape).astype(dtype)
    out, argmax = agree_with_spec(fast, "max_pool_forward", (x, ph, pw, stride), dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    agree_with_spec(fast, "max_pool_backward", (dout, argmax, x.shape, x.dtype, ph, pw, stride), dtype)


@pytest.mark.parametrize("backend", FAST)
def test_max_pool_ties_go_to_the_same_winner(backend):
    x = np.zeros((1, 2, 4, 4))
    x[:, :, 1::2, ::2] = 1.0  # two equal maxima in every window
    for dtype in DTYPES:
        agree_with_spec(fast_kernels(backend), "max_pool_forward", (x.astype(dtype), 2, 2, 2), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend, shape", on_backends(
    [((1, 1),), ((64, 130),), ((3, 2, 5),)], small=[((7, 3),), ((5, 7),)]))
def test_elementwise(rng, backend, dtype, shape):
    fast = fast_kernels(backend)
    x = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    agree_with_spec(fast, "relu_forward", (x,), dtype)
    agree_with_spec(fast, "relu_backward", (dout, x), dtype)
    _, mask = agree_with_spec(fast, "dropout_forward", (x, rng.random(shape).astype(dtype), 0.7), dtype)
    agree_with_spec(fast, "dropout_backward", (dout, mask), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend, shape, groups", on_backends(  # (N, C, S); layer norm is S = 1, one group
    [((8, 32, 49), 4), ((3, 7, 25), 7), ((16, 200, 1), 1), ((5, 12, 9), 3)],
    small=[((2, 4, 3), 2), ((3, 5, 1), 1), ((2, 3, 4), 3)]))
def test_groupnorm(rng, backend, dtype, shape, groups):
    fast = fast_kernels(backend)
    x = (3 * rng.standard_normal(shape) + 1).astype(dtype)
    gamma, beta = rng.standard_normal((2, shape[1])).astype(dtype)
    _, xhat, inv_std = agree_with_spec(fast, "groupnorm_forward", (x, gamma, beta, groups, 1e-5), dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    agree_with_spec(fast, "groupnorm_backward", (dout, xhat, gamma, inv_std, groups), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend, shape", on_backends(  # (N, C, S): spatial batch norm
    [((8, 16, 49),), ((3, 5, 25),), ((50, 3, 1),)], small=[((2, 3, 4),), ((3, 2, 1),), ((1, 4, 5),)]))
def test_channel_batchnorm(rng, backend, dtype, shape):
    fast = fast_kernels(backend)
    x = (3 * rng.standard_normal(shape) + 1).astype(dtype)
    gamma, beta = rng.standard_normal((2, shape[1])).astype(dtype)
    _, xhat, mean, var, inv_std = agree_with_spec(fast, "channel_batchnorm_forward", (x, gamma, beta, 1e-5), dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    agree_with_spec(fast, "channel_batchnorm_backward", (dout, xhat, gamma, inv_std), dtype)
    agree_with_spec(fast, "channel_batchnorm_inference", (x, gamma, beta, mean, var, 1e-5), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend, shape", on_backends(  # N >= 3: with 2, dx is 0 up to rounding
    [((50, 200),), ((13, 65),)], small=[((3, 1),), ((9, 7),), ((3, 4),), ((20, 2),)]))
def test_batchnorm(rng, backend, dtype, shape):
    fast = fast_kernels(backend)
    x = (3 * rng.standard_normal(shape) + 1).astype(dtype)
    gamma, beta = rng.standard_normal((2, shape[1])).astype(dtype)
    _, xhat, mean, var, inv_std = agree_with_spec(fast, "batchnorm_forward", (x, gamma, beta, 1e-5), dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    agree_with_spec(fast, "batchnorm_backward", (dout, xhat, gamma, inv_std), dtype)
    agree_with_spec(fast, "batchnorm_inference", (x, gamma, beta, mean, var, 1e-5), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend, n, c", on_backends([(500, 3)], small=[(1, 2), (11, 4), (17, 10)]))
@pytest.mark.parametrize("name", ["svm_loss", "softmax_loss"])
def test_losses(rng, backend, dtype, name, n, c):
    scores = (5 * rng.standard_normal((n, c))).astype(dtype)
    y = rng.integers(c, size=n)
    # dscores are (p - onehot) / n: on a confident row, a small difference of numbers near 1 / n
    loss, _ = agree_with_spec(fast_kernels(backend), name, (scores, y), dtype, scale=1 / n)
    assert np.asarray(loss).dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend, m, n, d", on_backends(
    [(40, 70, 33)], small=[(1, 1, 1), (5, 9, 3), (6, 10, 9)]))
def test_pairwise_distances(rng, backend, dtype, m, n, d):
    a = rng.standard_normal((m, d)).astype(dtype)
    b = rng.standard_normal((n, d)).astype(dtype)
    agree_with_spec(fast_kernels(backend), "pairwise_distances", (a, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend, m, d, n", on_backends([], small=[(6, 5, 3), (9, 13, 6), (1, 1, 1)]))
def test_affine(rng, backend, dtype, m, d, n):
    fast = fast_kernels(backend)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((m, d), (d, n), (n,)))
    agree_with_spec(fast, "affine_forward", (x, w, b), dtype)
    agree_with_spec(fast, "affine_backward", (rng.standard_normal((m, n)).astype(dtype), x, w), dtype)
