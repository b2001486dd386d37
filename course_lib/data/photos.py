"""Two colour photos from scikit-learn's sample images (a Chinese temple and a flower, CC BY 2.0:
photos/README.txt), shipped in this package, for demos of what a convolution filter does to a
real image."""
from importlib import resources

import numpy as np

PHOTOS = ("china.jpg", "flower.jpg")


def load_sample_photos(size=200, dtype=np.float64):
    """Both photos as (2, 3, size, size), values 0..255: a centred square crop, downsampled by
    averaging whole blocks of pixels, then cut to size."""
    from PIL import Image  # here: only the demo needs it

    photos = []
    for name in PHOTOS:
        with resources.files(__package__).joinpath("photos", name).open("rb") as f:
            image = np.asarray(Image.open(f).convert("RGB"))
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
