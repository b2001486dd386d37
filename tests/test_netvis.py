"""Network visualisation: input gradients of the ConvNet, saliency, fooling images, class images."""
import numpy as np
import pytest

from course_lib import netvis
from course_lib.classifiers.nets import ThreeLayerConvNet
from course_lib.gradcheck import eval_numerical_gradient
from course_lib.solver import Solver


def small_net(seed=0, dtype=np.float64):
    return ThreeLayerConvNet((2, 6, 6), num_filters=3, filter_size=3, hidden_dim=7,
                             num_classes=4, weight_scale=0.3, dtype=dtype, seed=seed)


@pytest.fixture(scope="module")
def trained(digits):
    """A ConvNet trained on the digits for a few epochs (well above chance)."""
    model = ThreeLayerConvNet((1, 8, 8), num_filters=8, filter_size=3, hidden_dim=32,
                              num_classes=10, weight_scale=1e-2, dtype=np.float64, seed=0)
    Solver(model, digits, update_rule="adam", optim_config={"learning_rate": 1e-2}, num_epochs=4,
           batch_size=50, verbose=False, seed=0).train()
    assert np.mean(np.argmax(model.loss(digits["X_val"]), axis=1) == digits["y_val"]) > 0.8
    return model


def test_score_gradient_matches_central_differences(rng):
    model = small_net()
    X = rng.standard_normal((3, 2, 6, 6))
    classes = rng.integers(4, size=3)
    scores, dX = model.score_gradient(X, classes)
    np.testing.assert_allclose(scores, model.loss(X))
    numerical = eval_numerical_gradient(lambda x: model.loss(x)[np.arange(3), classes].sum(), X)
    np.testing.assert_allclose(dX, numerical, rtol=1e-6, atol=1e-9)


def test_score_gradient_refuses_bad_classes():
    X = np.zeros((2, 2, 6, 6))
    with pytest.raises(ValueError, match=r"one class per image.*\(3,\).*\(2, 2, 6, 6\)"):
        small_net().score_gradient(X, [0, 1, 2])
    with pytest.raises(ValueError, match=r"classes must lie in \[0, 4\)"):
        small_net().score_gradient(X, [0, 4])


def test_saliency_is_the_channel_max_of_the_absolute_gradient(rng):
    model = small_net()
    X, y = rng.standard_normal((2, 2, 6, 6)), np.array([3, 1])
    saliency = netvis.saliency_maps(model, X, y)
    assert saliency.shape == (2, 6, 6)
    for i in range(2):
        grad = eval_numerical_gradient(lambda x: model.loss(x[None])[0, y[i]], X[i].copy())
        np.testing.assert_allclose(saliency[i], np.abs(grad).max(axis=0), rtol=1e-6, atol=1e-9)


def test_fooling_images_change_the_prediction_a_little(trained, digits):
    image = digits["X_val"][:1]
    label = int(np.argmax(trained.loss(image)))
    for target in {(label + 1) % 10, (label + 5) % 10}:
        fooled, steps = netvis.fooling_image(trained, image, target, learning_rate=0.2)
        assert np.argmax(trained.loss(fooled)) == target
        assert 0 < steps < 100
        # each step is 0.2 long, so the image moved no further than the steps taken
        assert np.linalg.norm(fooled - image) <= 0.2 * steps + 1e-9


def test_fooling_an_image_already_of_the_target_class_changes_nothing(trained, digits):
    image = digits["X_val"][:1]
    label = int(np.argmax(trained.loss(image)))
    fooled, steps = netvis.fooling_image(trained, image, label)
    assert steps == 0 and np.array_equal(fooled, image)
    with pytest.raises(ValueError, match=r"one image of shape \(1, C, H, W\)"):
        netvis.fooling_image(trained, digits["X_val"][:2], 0)


def test_class_visualization_makes_the_target_the_top_class(trained):
    for target in (0, 3, 7):
        image = netvis.class_visualization(trained, target, (1, 8, 8), num_iterations=60,
                                           learning_rate=0.5, seed=target)
        assert image.shape == (1, 8, 8) and image.dtype == np.float64
        assert np.argmax(trained.loss(image[None])) == target


def test_class_visualization_step_climbs_the_regularised_objective(trained, rng):
    image = 0.1 * rng.standard_normal((1, 1, 8, 8))
    objective = lambda im: trained.loss(im)[0, 2] - 1e-3 * np.sum(im * im)  # noqa: E731
    stepped = netvis.class_visualization_step(trained, image, 2, l2_reg=1e-3, learning_rate=0.05)
    assert np.isclose(np.linalg.norm(stepped - image), 0.05)
    assert objective(stepped) > objective(image)


def test_float32_models_give_float32_images(trained):
    model = small_net(dtype=np.float32)
    image = netvis.class_visualization(model, 1, (2, 6, 6), num_iterations=5)
    assert image.dtype == np.float32
    fooled, _ = netvis.fooling_image(model, np.ones((1, 2, 6, 6), np.float32), 2, max_iters=3)
    assert fooled.dtype == np.float32
