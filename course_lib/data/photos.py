"""Two colour photos that ship with scikit-learn (a Chinese temple and a flower), for demos of
what a convolution filter does to a real image."""
import numpy as np


def load_sample_photos(size=200, dtype=np.float64):
    """Both photos as (2, 3, size, size), values 0..255: a centred square crop, downsampled by
    averaging whole blocks of pixels, then cut to size."""
    from sklearn.datasets import load_sample_images  # here: scikit-learn takes ~0.9 s to import

    photos = []
    for image in load_sample_images().images:
        h, w, _ = image.shape
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = image[top:top + side, left:left + side].astype(np.float64)
        factor = max(side // size, 1)
        if side // factor < size:
            raise ValueError(f"load_sample_photos: size {size} exceeds the photos' {side} pixels")
        n = side // factor
        blocks = square[:n * factor, :n * factor].reshape(n, factor, n, factor, 3).mean(axis=(1, 3))
        photos.append(blocks[:size, :size].transpose(2, 0, 1))
    return np.stack(photos).astype(dtype)
