"""The numba backend must reproduce the NumPy specification: float64 to 1e-10, float32 to 1e-5
(max |difference| relative to max |reference|), on odd sizes, strides above 1 and padding."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from course_lib.backend import kernels
from conftest import agree as agree_with_spec

spec, fast = kernels("numpy"), kernels("numba")
DTYPES = [np.float64, np.float32]


def agree(name, args, dtype):
    return agree_with_spec(fast, name, args, dtype)


def conv_case(rng, dtype, n, c, h, w, f, hh, ww, stride, pad):
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((f, c, hh, ww)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    out = agree("conv_forward", (x, wt, b, stride, pad), dtype)[0]
    dout = rng.standard_normal(out.shape).astype(dtype)
    agree("conv_backward", (dout, x, wt, stride, pad), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [
    (2, 3, 7, 7, 4, 3, 3, 2, 1), (3, 1, 9, 5, 2, 5, 1, 2, 0), (1, 5, 8, 11, 3, 2, 3, 3, 2),
    (4, 3, 32, 32, 8, 7, 7, 1, 3), (5, 16, 15, 15, 7, 3, 3, 1, 1), (2, 2, 6, 6, 3, 6, 6, 1, 0),
])
def test_conv(rng, dtype, shape):
    conv_case(rng, dtype, *shape)


def test_conv_chunks_over_images(rng, monkeypatch):
    """A batch larger than one im2col chunk is processed in several pieces with the same result."""
    monkeypatch.setattr(fast, "_COLS_BUDGET", 2 * 3 * 9 * 25)  # two images per chunk
    conv_case(rng, np.float64, 5, 3, 5, 5, 4, 3, 3, 1, 1)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_conv_random_geometry(data):
    draw = lambda lo, hi: data.draw(st.integers(lo, hi))  # noqa: E731
    hh, ww, stride, pad = draw(1, 4), draw(1, 4), draw(1, 3), draw(0, 2)
    # choose output sizes first, then the input sizes that make the geometry exact
    h = (draw(1, 4) - 1) * stride + hh - 2 * pad
    w = (draw(1, 4) - 1) * stride + ww - 2 * pad
    if h < 1 or w < 1:
        return
    rng = np.random.default_rng(draw(0, 2 ** 32 - 1))
    conv_case(rng, data.draw(st.sampled_from(DTYPES)), draw(1, 3), draw(1, 3), h, w, draw(1, 4),
              hh, ww, stride, pad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, ph, pw, stride", [
    ((2, 3, 8, 8), 2, 2, 2), ((3, 2, 7, 9), 3, 3, 2), ((1, 4, 5, 6), 2, 3, 1), ((2, 1, 9, 9), 3, 3, 3)])
def test_max_pool(rng, dtype, shape, ph, pw, stride):
    x = rng.standard_normal(shape).astype(dtype)
    out, argmax = agree("maxpool_forward", (x, ph, pw, stride), dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    agree("maxpool_backward", (dout, argmax, x.shape, x.dtype, ph, pw, stride), dtype)


def test_max_pool_ties_agree():
    x = np.zeros((2, 2, 4, 4))
    x[:, :, 1::2, ::2] = 1.0  # two equal maxima in every window
    for dtype in DTYPES:
        agree("maxpool_forward", (x.astype(dtype), 2, 2, 2), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (64, 130), (3, 2, 5)])
def test_elementwise(rng, dtype, shape):
    x = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    agree("relu_forward", (x,), dtype)
    agree("relu_backward", (dout, x), dtype)
    out, mask = agree("dropout_forward", (x, rng.random(shape).astype(dtype), 0.7), dtype)
    agree("dropout_backward", (dout, mask), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 1), (9, 7), (50, 200), (13, 65)])
def test_batchnorm(rng, dtype, shape):
    x = (3 * rng.standard_normal(shape) + 1).astype(dtype)
    gamma, beta = rng.standard_normal((2, shape[1])).astype(dtype)
    out, xhat, mean, var, inv_std = agree("batchnorm_forward", (x, gamma, beta, 1e-5), dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    agree("batchnorm_backward", (dout, xhat, gamma, inv_std), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["svm_loss", "softmax_loss"])
@pytest.mark.parametrize("n, c", [(1, 2), (17, 10), (500, 3)])
def test_losses(rng, dtype, name, n, c):
    scores = (5 * rng.standard_normal((n, c))).astype(dtype)
    y = rng.integers(c, size=n)
    loss, dscores = agree(name, (scores, y), dtype)
    assert np.asarray(loss).dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n, d", [(1, 1, 1), (5, 9, 3), (40, 70, 33)])
def test_pairwise_distances(rng, dtype, m, n, d):
    a = rng.standard_normal((m, d)).astype(dtype)
    b = rng.standard_normal((n, d)).astype(dtype)
    agree("pairwise_distances", (a, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_affine(rng, dtype):
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((6, 5), (5, 3), (3,)))
    agree("affine_forward", (x, w, b), dtype)
    agree("affine_backward", (rng.standard_normal((6, 3)).astype(dtype), x, w), dtype)
