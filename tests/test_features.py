"""Image features: the Numba kernels against the NumPy specification, and each feature against
what it must measure (an edge's orientation, a colour's hue, brightness and contrast)."""
import matplotlib.colors
import numpy as np
import pytest

from course_lib import features, use_backend

SHAPES = [((3, 1, 8, 8), 4), ((2, 3, 11, 13), 3), ((4, 3, 32, 32), 8), ((1, 1, 5, 7), 2), ((2, 1, 6, 6), 6)]


@pytest.mark.parametrize("shape,cell", SHAPES)
@pytest.mark.parametrize("bins", [9, 8, 1])
def test_numba_agrees_with_the_specification(rng, shape, cell, bins):
    images = rng.random(shape) * 255
    images[0, :, 2:4, :] = 100.0  # flat patches and axis-aligned edges: angles on bin borders
    with use_backend("numpy"):
        spec = features.extract_features(images, cell, bins, 10, (0, 255))
    with use_backend("numba"):
        fast = features.extract_features(images, cell, bins, 10, (0, 255))
    assert spec.shape == fast.shape == (shape[0], (shape[2] // cell) * (shape[3] // cell) * bins + 10)
    np.testing.assert_allclose(fast, spec, rtol=1e-12, atol=1e-12)


@pytest.fixture(params=["numpy", "numba"])
def backend(request):
    with use_backend(request.param):
        yield request.param


def test_an_edge_puts_its_gradient_in_the_bin_of_its_orientation(backend):
    vertical = np.zeros((1, 1, 8, 8))
    vertical[..., 4:] = 1.0  # the intensity changes along x: orientation 0
    hist = features.hog_features(vertical, cell=8, bins=9)[0]
    assert hist[0] > 0 and np.all(hist[1:] == 0)
    horizontal = np.swapaxes(vertical, 2, 3).copy()  # along y: orientation 90 degrees, bin 4 of 9
    hist = features.hog_features(horizontal, cell=8, bins=9)[0]
    assert hist[4] > 0 and np.count_nonzero(hist) == 1
    # two central differences of 1/2 per row, over the 8 rows, divided by the cell's 64 pixels
    assert hist[4] == pytest.approx(8 * (0.5 + 0.5) / 64)


def test_a_diagonal_edge_and_the_edges_cell(backend):
    y, x = np.mgrid[:12, :12]
    diagonal = (x + y > 11).astype(float)[None, None]  # the gradient points at 45 degrees
    hist = features.hog_features(diagonal, cell=12, bins=4)[0]  # bins of 45 degrees: [45, 90) is bin 1
    assert np.argmax(hist) == 1 and hist[1] > 0.9 * hist.sum()
    left = np.zeros((1, 1, 8, 16))
    left[..., 3:] = 1.0  # an edge in the left cell only
    cells = features.hog_features(left, cell=8, bins=9)[0].reshape(2, 9)
    assert cells[0].sum() > 0 and cells[1].sum() == 0


def test_hog_ignores_brightness_and_follows_contrast(backend, rng):
    images = rng.random((3, 3, 12, 12))
    base = features.hog_features(images)
    np.testing.assert_allclose(features.hog_features(images + 5.0), base, atol=1e-12)
    np.testing.assert_allclose(features.hog_features(3.0 * images), 3.0 * base, rtol=1e-12)


def test_hue_matches_matplotlib(rng):
    images = rng.random((2, 3, 5, 6))
    images[0, :, 0, 0] = 0.5  # a grey pixel: hue 0
    expected = matplotlib.colors.rgb_to_hsv(np.moveaxis(images, 1, -1))[..., 0]
    np.testing.assert_allclose(features.hue(images), expected, atol=1e-12)


def test_colour_histograms_of_known_colours(backend):
    red, green, blue = np.zeros((1, 3, 4, 4)), np.zeros((1, 3, 4, 4)), np.zeros((1, 3, 4, 4))
    red[:, 0], green[:, 1], blue[:, 2] = 200.0, 200.0, 200.0
    for image, hue_bin in ((red, 0), (green, 3), (blue, 6)):  # hues 0, 1/3, 2/3 in 9 bins
        hist = features.colour_histograms(image, bins=9)[0]
        assert hist[hue_bin] == 1.0 and hist.sum() == 1.0
    half = np.concatenate([red[..., :2], 0.5 * green[..., 2:]], axis=3)  # hue ignores brightness
    np.testing.assert_allclose(features.colour_histograms(half, bins=9)[0][[0, 3]], [0.5, 0.5])


def test_intensity_histogram_of_grey_images(backend):
    grey = np.array([[0.0, 0.1, 0.5, 0.99], [1.0, 1.5, -0.2, 0.7]]).reshape(1, 1, 2, 4)
    hist = features.colour_histograms(grey, bins=4, value_range=(0.0, 1.0))[0]
    np.testing.assert_allclose(hist, [3 / 8, 0, 2 / 8, 3 / 8])  # -0.2 and 1.5 fall in the end bins


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match=r"cell = 9 must be a whole number of pixels from 1 to the image's smaller side, 8"):
        features.hog_features(np.zeros((1, 1, 8, 8)), cell=9)
    with pytest.raises(ValueError, match=r"C in \(1, 3\), got shape \(1, 2, 8, 8\)"):
        features.hog_features(np.zeros((1, 2, 8, 8)))
    with pytest.raises(ValueError, match="high > low"):
        features.colour_histograms(np.zeros((1, 1, 4, 4)), value_range=(1, 1))
    with pytest.raises(TypeError, match="dtype int64"):
        features.colour_histograms(np.zeros((1, 3, 4, 4), dtype=np.int64))
