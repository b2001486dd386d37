"""The HOG explorer (assignment 1.4): an image, its grey version with each cell's histogram drawn
as a star of lines (one per orientation bin, as long as the bin's share of the largest), and the
feature count, for the chosen image, cell size and number of bins."""
import numpy as np

from .panel import YoursOrOurs, figure_html, layout, notes, shown_errors_in


def _features():
    """course_lib.features, imported when a HOG figure is made: importing the widgets must not
    set up Numba's kernels (every notebook imports them, and a notebook's first compilation should
    happen as it did before 08 existed)."""
    from .. import features
    return features


def hog_figure(image, hist, cell, bins, title=""):
    """image (C, H, W) in [0, 1], hist its (H // cell) * (W // cell) * bins HOG row: the picture,
    and its grey version with a star per cell. An edge's star lies across it: the gradient points
    across an edge, so each line is drawn at its bin's orientation plus 90 degrees."""
    from matplotlib.figure import Figure
    features = _features()
    fig = Figure(figsize=(7.0, 3.6))
    picture, glyphs = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    picture.imshow(np.moveaxis(image, 0, -1).squeeze(), cmap="gray", vmin=0, vmax=1)
    picture.set(title=title, xticks=[], yticks=[])
    gray = features.grayscale(image[None].astype(np.float64))[0]
    glyphs.imshow(gray, cmap="gray", vmin=0, vmax=1, alpha=0.35)
    rows, cols = gray.shape[0] // cell, gray.shape[1] // cell
    cells = hist.reshape(rows, cols, bins)
    largest = cells.max() or 1.0
    angles = (np.arange(bins) + 0.5) * np.pi / bins + np.pi / 2  # each bin's middle, turned along the edge
    for i in range(rows):
        for j in range(cols):
            cy, cx = (i + 0.5) * cell - 0.5, (j + 0.5) * cell - 0.5
            for angle, share in zip(angles, cells[i, j] / largest):
                dx, dy = 0.45 * cell * share * np.cos(angle), 0.45 * cell * share * np.sin(angle)
                glyphs.plot([cx - dx, cx + dx], [cy + dy, cy - dy], color="C1", linewidth=1.5)
    glyphs.set(title=f"HOG: {rows} x {cols} cells of {cell}, {bins} bins", xticks=[], yticks=[],
               xlim=(-0.5, gray.shape[1] - 0.5), ylim=(gray.shape[0] - 0.5, -0.5))
    fig.tight_layout()
    return fig


def hog_panel(images, labels, class_names, cell=2, bins=9, value_range=(0.0, 1.0), hog=None):
    """Sliders for the image, the cell size and the number of bins; hog: the student's
    hog_features(gray, cell, bins) (the course's, with a note, until it is written)."""
    import ipywidgets as w
    features = _features()
    smaller = min(images.shape[2:])
    controls = {
        "index": w.IntSlider(value=0, min=0, max=len(images) - 1, description="image"),
        "cell": w.IntSlider(value=cell, min=1, max=smaller, description="cell"),
        "bins": w.IntSlider(value=bins, min=1, max=18, description="bins"),
    }
    status = w.HTML()
    compute = YoursOrOurs(hog, features.hog_features_numpy, "hog_features")

    @shown_errors_in(status)
    def update(_=None):
        index, cell_, bins_ = (controls[k].value for k in ("index", "cell", "bins"))
        image = (images[index] - value_range[0]) / (value_range[1] - value_range[0])
        hist = np.asarray(compute(features.grayscale(images[index:index + 1].astype(np.float64)), cell_, bins_))[0]
        figure = hog_figure(np.clip(image, 0, 1), hist, cell_, bins_, class_names[labels[index]])
        status.value = (f"{hist.size} features for this image ({hist.size // bins_} cells x {bins_} bins), "
                        f"{int(np.count_nonzero(hist))} of them non-zero{notes(compute)}<br>"
                        f"{figure_html(figure, figure.axes[1].get_title())}")
        panel.result = hist

    for control in controls.values():
        control.observe(update, names="value")
    panel = layout([list(controls.values())], status, controls=controls, result=None)
    update()
    return panel
