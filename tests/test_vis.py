import numpy as np
import pytest
from matplotlib.figure import Figure

from course_lib import vis


def test_filter_grid_places_each_filter_rescaled(rng):
    w = rng.standard_normal((5, 3, 4, 4))
    grid = vis.filter_grid(w, padding=1)
    assert grid.shape == (2 * 5 - 1, 3 * 5 - 1, 3)  # 5 filters -> 3 columns, 2 rows
    first = grid[:4, :4]
    assert first.min() == 0.0 and first.max() == 1.0
    np.testing.assert_allclose(first, (w[0] - w[0].min()).transpose(1, 2, 0) / np.ptp(w[0]))
    assert np.all(grid[4, :] == 1.0)  # padding rows stay white


def test_class_templates_accept_a_bias_row(rng):
    fig = vis.show_class_templates(rng.standard_normal((65, 10)), [str(i) for i in range(10)], (1, 8, 8))
    assert isinstance(fig, Figure) and len(fig.axes) == 10
    with pytest.raises(ValueError, match="need 64"):
        vis.show_class_templates(rng.standard_normal((30, 10)), list("0123456789"), (1, 8, 8))


def test_class_templates_share_one_scale_so_weaker_ones_look_fainter():
    W = np.zeros((4, 2))
    W[:, 0], W[:, 1] = [1.0, -1.0, 0.5, 0.0], [0.5, -0.5, 0.25, 0.0]  # the second at half strength
    images = [ax.images[0].get_array() for ax in vis.show_class_templates(W, ["a", "b"], (1, 2, 2)).axes]
    assert np.allclose(images[0], [[1.0, 0.0], [0.75, 0.5]]) and np.allclose(images[1], [[0.75, 0.25], [0.625, 0.5]])
    faded = vis.show_class_templates(W / 10, ["a", "b"], (1, 2, 2), scale=1.0).axes[0].images[0].get_array()
    assert np.allclose(faded, [[0.55, 0.45], [0.525, 0.5]])  # the same scale: a tenth of the contrast


def test_filters_and_history_render(rng, tmp_path):
    vis.show_filters(rng.standard_normal((8, 3, 5, 5)), title="conv1").savefig(tmp_path / "f.png")
    history = {"loss_history": [2.3, 1.0, 0.5], "train_acc_history": [0.1, 0.8],
               "val_acc_history": [0.1, 0.7]}
    fig = vis.plot_history(history)
    fig.savefig(tmp_path / "h.png")
    assert (tmp_path / "f.png").stat().st_size > 1000 and (tmp_path / "h.png").stat().st_size > 1000
    assert list(fig.axes[0].lines[0].get_ydata()) == [2.3, 1.0, 0.5]


def test_images_are_shown_with_the_training_mean_added_back():
    """A mean-subtracted digit is hard to read; with data["mean"] given, the picture is the image
    as it was taken (then rescaled to [0, 1])."""
    mean = np.zeros((1, 2, 2))
    mean[0, 0, 0] = 4.0
    centred = np.array([[[-4.0, 1.0], [0.0, 2.0]]])  # the original is [[0, 1], [0, 2]]
    shown = vis.show_images([centred], mean=mean).axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, [[0.0, 0.5], [0.0, 1.0]])
    plain = vis.show_images([centred]).axes[0].images[0].get_array()
    np.testing.assert_allclose(plain, [[0.0, 5 / 6], [4 / 6, 1.0]])


def test_the_knn_panel_shows_neighbours_as_taken():
    from course_lib.widgets.knn import _image
    mean = np.array([[[4.0, 0.0], [0.0, 0.0]]])
    np.testing.assert_allclose(_image(np.array([-4.0, 1.0, 0.0, 2.0]), (1, 2, 2), mean),
                               [[0.0, 0.5], [0.0, 1.0]])


def test_feature_maps_share_one_scale_and_show_the_image_as_taken():
    mean = np.full((1, 2, 2), 2.0)
    image = np.array([[[-2.0, 0.0], [1.0, 2.0]]])  # taken as [[0, 2], [3, 4]]
    maps = np.array([[[0.0, 1.0], [2.0, 4.0]], [[0.0, 0.0], [0.0, 0.5]]])
    fig = vis.show_feature_maps(image, maps, mean=mean)
    assert len(fig.axes) == 3 and [ax.get_title() for ax in fig.axes] == ["image", "filter 0", "filter 1"]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), [[0.0, 0.5], [0.75, 1.0]])
    # one scale for all maps, black at 0: the second filter barely responds, and looks it
    assert [ax.images[0].get_clim() for ax in fig.axes[1:]] == [(0.0, 4.0), (0.0, 4.0)]
    with pytest.raises(ValueError, match=r"one map per filter; got shape \(2, 2\)"):
        vis.show_feature_maps(image, maps[0])
