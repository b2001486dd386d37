"""Plots for the notebooks: weights as class templates, filter grids, training curves.

Each function builds and returns a matplotlib Figure without touching pyplot's global state, so it
works the same headless (tests, grading) and in JupyterLab (a returned Figure displays itself).
"""
import numpy as np
from matplotlib.figure import Figure


def _to_unit_range(a):
    low, high = a.min(), a.max()
    return (a - low) / (high - low) if high > low else np.zeros_like(a)


def _as_hwc(image):
    """(C, H, W) -> (H, W, C), or (H, W) for one channel: what imshow wants."""
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def show_class_templates(W, class_names, image_shape, scale=None):
    """Each column of W (D, C), or (D + 1, C) with a bias row, drawn as an image of image_shape
    (C, H, W): what a linear classifier 'looks for' in each class. All templates share one scale,
    with 0 as mid grey and +-scale as full contrast, so weaker templates look fainter; scale
    defaults to the largest |weight|. Pass the same scale to compare figures (stronger
    regularisation then shows as templates fading toward grey)."""
    size = int(np.prod(image_shape))
    if W.shape[0] not in (size, size + 1):
        raise ValueError(f"W has {W.shape[0]} rows; images of shape {image_shape} need {size} "
                         f"(or {size + 1} with a bias row)")
    if W.shape[1] != len(class_names):
        raise ValueError(f"W has {W.shape[1]} columns but {len(class_names)} class names were given")
    weights = np.asarray(W[:size], dtype=np.float64)
    scale = float(scale) if scale is not None else float(np.max(np.abs(weights)))
    fig = Figure(figsize=(1.5 * len(class_names), 2.0))
    for c, name in enumerate(class_names):
        ax = fig.add_subplot(1, len(class_names), c + 1)
        unit = np.clip(0.5 + weights[:, c].reshape(image_shape) / (2 * scale), 0, 1) if scale > 0 \
            else np.full(image_shape, 0.5)
        ax.imshow(_as_hwc(unit), cmap="gray" if image_shape[0] == 1 else None, vmin=0, vmax=1)
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(f"grey = 0, full contrast = |w| {scale:.3g}; largest |w| here {np.max(np.abs(weights)):.3g}",
                 fontsize=8)
    return fig


def filter_grid(w, padding=1):
    """Tile filters w (F, C, HH, WW) into one image (grid_h, grid_w, C), each filter rescaled to
    [0, 1] on its own, separated by `padding` pixels."""
    n, c, hh, ww = w.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.ones((rows * (hh + padding) - padding, cols * (ww + padding) - padding, c))
    for k in range(n):
        r, q = divmod(k, cols)
        top, left = r * (hh + padding), q * (ww + padding)
        grid[top:top + hh, left:left + ww] = _to_unit_range(w[k]).transpose(1, 2, 0)
    return grid


def show_filters(w, title=None):
    """First-layer filters as an image grid (colour for 3 channels, gray for 1)."""
    grid = filter_grid(w)
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(grid[..., 0] if grid.shape[2] == 1 else grid, cmap="gray" if grid.shape[2] == 1 else None)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig


def show_feature_maps(image, maps, mean=None, title=None, columns=9):
    """An image (C, H, W) and the maps a layer makes of it (F, H', W'), e.g. the first conv layer's
    ReLU outputs: what each filter responds to, which says more than a 3x3 filter's nine numbers.
    The maps share one scale (black = 0), so a filter that stays dark finds nothing in the image.
    mean: the training mean the image had subtracted, added back to show it as taken."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (F, H, W), one map per filter; got shape {maps.shape}")
    count = len(maps) + 1
    rows = -(-count // columns)
    fig = Figure(figsize=(1.2 * min(count, columns), 1.25 * rows + (0.3 if title else 0)))
    image = np.asarray(image) + (0 if mean is None else np.asarray(mean).reshape(np.shape(image)))
    ax = fig.add_subplot(rows, columns, 1)
    ax.imshow(_as_hwc(_to_unit_range(image)).squeeze(), cmap="gray" if image.shape[0] == 1 else None)
    ax.set_title("image", fontsize=8)
    ax.axis("off")
    top = float(maps.max()) or 1.0
    for f, response in enumerate(maps):
        ax = fig.add_subplot(rows, columns, f + 2)
        ax.imshow(response, cmap="gray", vmin=0.0, vmax=top)
        ax.set_title(f"filter {f}", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history):
    """Loss per iteration and train/validation accuracy per epoch, from a Solver or a dict with
    loss_history, train_acc_history and val_acc_history."""
    get = (lambda k: history[k]) if isinstance(history, dict) else (lambda k: getattr(history, k))
    fig = Figure(figsize=(10, 4))
    loss_ax, acc_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    loss_ax.plot(get("loss_history"), ".", markersize=2)
    loss_ax.set(xlabel="iteration", ylabel="training loss", title="loss")
    acc_ax.plot(get("train_acc_history"), "-o", label="train")
    acc_ax.plot(get("val_acc_history"), "-o", label="validation")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    acc_ax.legend()
    fig.tight_layout()
    return fig


def show_images(images, titles=(), size=1.6, cmap=None, mean=None):
    """A row of images (C, H, W), each rescaled to [0, 1] on its own, with optional titles. mean:
    the training mean the images had subtracted (data["mean"]), added back first so that they
    look as a person would recognise them."""
    fig = Figure(figsize=(size * len(images), size + 0.3))
    for i, image in enumerate(images):
        ax = fig.add_subplot(1, len(images), i + 1)
        image = np.asarray(image)
        if mean is not None:
            image = image + np.asarray(mean).reshape(image.shape)
        unit = _as_hwc(_to_unit_range(image)) if image.ndim == 3 else _to_unit_range(image)
        ax.imshow(unit, cmap=cmap or ("gray" if unit.ndim == 2 else None))
        if i < len(titles):
            ax.set_title(titles[i], fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig
