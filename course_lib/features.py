"""Image features for linear classifiers and small networks (assignment 1's last topic): a
histogram of oriented gradients (HOG-like) and a colour histogram per image.

Images come in the course layout (N, C, H, W) with raw pixel values (add the dataset's mean back
to mean-subtracted images). Each feature has a NumPy specification (`*_numpy`) and a Numba kernel
that must give the same numbers; the public functions pick the Numba one unless the active
backend is "numpy". Features are float64, whatever the images' dtype.

HOG here is the simple version of CS231n's: no blocks, no normalisation across cells.
- The image goes to grey: luminance 0.299 R + 0.587 G + 0.114 B for 3 channels, the channel itself for 1.
- Gradients by central differences, (g[i+1] - g[i-1]) / 2, 0 on the border rows and columns.
- The orientation is unsigned: arctan2(gy, gx) folded into [0, pi), and split into `bins` equal bins.
- Cells of `cell` x `cell` pixels (a remainder at the right or bottom is left out).
- Each cell's histogram sums the gradient magnitudes of its pixels per bin, divided by the cell's area.
The colour histogram is the hue's (HSV) for 3 channels, as the fraction of pixels in each of `bins`
equal bins of [0, 1); for 1 channel, the intensity's over `value_range` (values outside fall in the
end bins). Hue does not change with brightness or contrast; HOG does not change with brightness.
"""
import numpy as np
from numba import njit, prange

from . import validate
from .backend import get_backend

LUMINANCE = np.array([0.299, 0.587, 0.114])
_JIT = dict(parallel=True, cache=True, nogil=True)


def _images(images, where, channels=(1, 3)):
    validate.float_array("images", images, 4, where)
    if images.shape[1] not in channels:
        raise ValueError(f"{where}: images must be (N, C, H, W) with C in {channels}, got shape {images.shape}")
    return np.ascontiguousarray(images, dtype=np.float64)


def _fast():
    return get_backend() != "numpy"


# ---------------------------------------------------------------- histograms of oriented gradients
def grayscale(images):
    """(N, H, W) grey images from (N, 1 or 3, H, W)."""
    images = _images(images, "grayscale")
    return images[:, 0] if images.shape[1] == 1 else np.tensordot(LUMINANCE, images, axes=([0], [1]))


def hog_features(images, cell=4, bins=9):
    """(N, (H // cell) * (W // cell) * bins) histograms of oriented gradients, cell by cell in
    row-major order, bins inside: see the module's docstring."""
    gray = grayscale(images)
    _check_cell(gray.shape, cell, bins)
    return _hog_numba(gray, cell, bins) if _fast() else hog_features_numpy(gray, cell, bins)


def _check_cell(shape, cell, bins):
    if isinstance(cell, bool) or not isinstance(cell, (int, np.integer)) or not 1 <= cell <= min(shape[1:]):
        raise ValueError(f"hog_features: cell = {cell!r} must be a whole number of pixels from 1 to the "
                         f"image's smaller side, {min(shape[1:])}, so that at least one cell fits")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"hog_features: bins = {bins!r} must be a whole number of at least 1")


def image_gradients(gray):
    """(gx, gy) of (N, H, W) grey images: central differences, 0 on the border."""
    gx, gy = np.zeros_like(gray), np.zeros_like(gray)
    gx[:, :, 1:-1] = (gray[:, :, 2:] - gray[:, :, :-2]) / 2
    gy[:, 1:-1, :] = (gray[:, 2:, :] - gray[:, :-2, :]) / 2
    return gx, gy


def hog_features_numpy(gray, cell, bins):
    """The specification of hog_features, on (N, H, W) grey images."""
    n, h, w = gray.shape
    gx, gy = image_gradients(gray)
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    which = np.minimum((angle / (np.pi / bins)).astype(np.int64), bins - 1)
    cy, cx = h // cell, w // cell
    magnitude, which = magnitude[:, :cy * cell, :cx * cell], which[:, :cy * cell, :cx * cell]
    cell_y = (np.arange(cy * cell) // cell)[:, None]
    cell_x = (np.arange(cx * cell) // cell)[None, :]
    slot = ((cell_y * cx + cell_x) * bins)[None] + which  # the bin of each pixel in its image's row
    hist = np.zeros((n, cy * cx * bins))
    np.add.at(hist, (np.arange(n)[:, None, None], slot), magnitude)
    return hist / (cell * cell)


@njit(**_JIT)
def _hog(gray, cell, bins, out):
    n, h, w = gray.shape
    cx = w // cell
    width = np.pi / bins
    area = cell * cell
    for i in prange(n):
        g = gray[i]
        row = out[i]
        row[:] = 0.0
        for y in range((h // cell) * cell):
            for x in range(cx * cell):
                gx = (g[y, x + 1] - g[y, x - 1]) / 2 if 0 < x < w - 1 else 0.0
                gy = (g[y + 1, x] - g[y - 1, x]) / 2 if 0 < y < h - 1 else 0.0
                angle = np.arctan2(gy, gx) % np.pi
                b = min(int(angle / width), bins - 1)
                row[((y // cell) * cx + x // cell) * bins + b] += np.hypot(gx, gy) / area


def _hog_numba(gray, cell, bins):
    out = np.empty((gray.shape[0], (gray.shape[1] // cell) * (gray.shape[2] // cell) * bins))
    _hog(np.ascontiguousarray(gray), int(cell), int(bins), out)
    return out


# ---------------------------------------------------------------- colour histograms
def colour_histograms(images, bins=10, value_range=(0.0, 1.0)):
    """(N, bins): the fraction of each image's pixels in each bin of its hue (3 channels) or of its
    intensity over value_range (1 channel)."""
    images = _images(images, "colour_histograms")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"colour_histograms: bins = {bins!r} must be a whole number of at least 1")
    low, high = map(float, value_range)
    if not high > low:
        raise ValueError(f"colour_histograms: value_range = {value_range!r} must be (low, high) with high > low")
    if _fast():
        out = np.empty((images.shape[0], bins))
        _histograms(images, int(bins), low, high, out)
        return out
    return colour_histograms_numpy(images, bins, low, high)


def hue(images):
    """(N, H, W) hue in [0, 1) of (N, 3, H, W) RGB images (0 where the pixel is grey)."""
    r, g, b = images[:, 0], images[:, 1], images[:, 2]
    top, spread = np.max(images, axis=1), np.ptp(images, axis=1)
    safe = np.where(spread > 0, spread, 1.0)
    h = np.where(top == r, np.mod((g - b) / safe, 6), np.where(top == g, (b - r) / safe + 2, (r - g) / safe + 4))
    return np.where(spread > 0, h / 6, 0.0)


def colour_histograms_numpy(images, bins, low, high):
    """The specification of colour_histograms."""
    values = hue(images) if images.shape[1] == 3 else (images[:, 0] - low) / (high - low)
    which = np.clip((values * bins).astype(np.int64), 0, bins - 1).reshape(len(images), -1)
    counts = np.zeros((len(images), bins))
    np.add.at(counts, (np.arange(len(images))[:, None], which), 1.0)
    return counts / which.shape[1]


@njit(**_JIT)
def _histograms(images, bins, low, high, out):
    n, c, h, w = images.shape
    for i in prange(n):
        row = out[i]
        row[:] = 0.0
        for y in range(h):
            for x in range(w):
                if c == 3:
                    r, g, b = images[i, 0, y, x], images[i, 1, y, x], images[i, 2, y, x]
                    top, bottom = max(r, g, b), min(r, g, b)
                    spread = top - bottom
                    if spread <= 0:
                        v = 0.0
                    elif top == r:
                        v = ((g - b) / spread % 6) / 6
                    elif top == g:
                        v = ((b - r) / spread + 2) / 6
                    else:
                        v = ((r - g) / spread + 4) / 6
                else:
                    v = (images[i, 0, y, x] - low) / (high - low)
                k = int(np.floor(v * bins))
                row[min(max(k, 0), bins - 1)] += 1.0
        for k in range(bins):
            row[k] /= h * w


# ---------------------------------------------------------------- both, side by side
def extract_features(images, cell=4, bins=9, colour_bins=10, value_range=(0.0, 1.0)):
    """(N, F) features of raw images: HOG then the colour histogram, side by side."""
    return np.hstack([hog_features(images, cell, bins), colour_histograms(images, colour_bins, value_range)])
