"""Network visualisation by gradients with respect to the input image (the reference answers of
assignment 2.4): saliency maps, fooling images and class visualisation.

All three need only `model.score_gradient(X, classes)`, which returns the scores and the gradient
of the chosen classes' scores with respect to X, with the weights held fixed (ThreeLayerConvNet has
it). Images are (N, C, H, W), in the preprocessed space the model was trained on.
"""
import numpy as np

from . import validate


def saliency_maps(model, X, y):
    """(N, H, W): for each image, the largest absolute gradient of its correct-class score over the
    channels at each pixel. Bright pixels are those whose change moves the score most."""
    _, dX = model.score_gradient(validate.float_array("X", X, 4, "saliency_maps"), y)
    return np.abs(dX).max(axis=1)


def _normalised(g):
    """g scaled to unit L2 norm (a zero gradient stays zero): steps of a fixed length."""
    norm = np.linalg.norm(g)
    return g / norm if norm > 0 else g


def fooling_image(model, X, target, learning_rate=1.0, max_iters=100):
    """Change one image X (1, C, H, W) by normalised gradient ascent on the target class's score
    until the model predicts `target`. Returns (the changed image, the number of steps taken);
    if max_iters steps did not fool the model, the model's prediction on the result says so."""
    X = validate.float_array("X", X, 4, "fooling_image")
    if X.shape[0] != 1:
        raise ValueError(f"fooling_image: one image of shape (1, C, H, W) expected, got {X.shape}")
    fooled = X.copy()
    for step in range(max_iters + 1):
        scores, dX = model.score_gradient(fooled, [target])
        if step == max_iters or np.argmax(scores[0]) == target:
            return fooled, step
        fooled += fooled.dtype.type(learning_rate) * _normalised(dX).astype(fooled.dtype)


def class_visualization_step(model, image, target, l2_reg=1e-3, learning_rate=1.0):
    """One step of gradient ascent on score_target(I) - l2_reg * |I|^2 for image (1, C, H, W),
    of length learning_rate (the gradient is normalised). Returns the new image."""
    _, grad = model.score_gradient(image, [target])
    grad = grad - 2 * l2_reg * image
    return image + image.dtype.type(learning_rate) * _normalised(grad).astype(image.dtype)


def class_visualization(model, target, image_shape, num_iterations=200, learning_rate=1.0,
                        l2_reg=1e-3, blur_every=10, blur_sigma=0.5, max_jitter=1, clamp=None,
                        seed=0, dtype=None):
    """An image (C, H, W) that the model scores highly as `target`: gradient ascent on
    score_target(I) - l2_reg * |I|^2 from small noise, with the regularisers that make the result
    look like something: a random shift (jitter) before each step and undone after, a Gaussian
    blur every blur_every steps, and pixel values clipped to clamp=(low, high) if given."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype or getattr(model, "dtype", np.float64))
    image = (0.01 * rng.standard_normal((1, *image_shape))).astype(dtype)
    for t in range(num_iterations):
        dy, dx = (rng.integers(-max_jitter, max_jitter + 1, size=2) if max_jitter else (0, 0))
        image = np.roll(image, (dy, dx), axis=(2, 3))
        image = class_visualization_step(model, image, target, l2_reg, learning_rate)
        image = np.roll(image, (-dy, -dx), axis=(2, 3))
        if clamp is not None:
            image = np.clip(image, *clamp)
        if blur_every and (t + 1) % blur_every == 0:
            # imported here: scipy.ndimage takes 0.2 s, and every notebook's setup (the widgets)
            # imports this module, the grader's runs too
            from scipy.ndimage import gaussian_filter
            image = gaussian_filter(image, sigma=(0, 0, blur_sigma, blur_sigma)).astype(dtype)
    return image[0]
