"""Wrong shapes, dtypes and labels get errors that name the problem."""
import numpy as np
import pytest

from course_lib import layers
from course_lib.classifiers import KNearestNeighbor, svm_loss_vectorized, softmax_loss_naive
from course_lib.sizes import InvalidGeometryError

CONV = {"stride": 1, "pad": 1}


def test_affine_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"x has shape \(2, 3, 4\), w has shape \(10, 5\)"):
        layers.affine_forward(np.ones((2, 3, 4)), np.ones((10, 5)), np.ones(5))


def test_conv_channel_mismatch():
    with pytest.raises(ValueError, match=r"input channels.*x has shape \(1, 3, 5, 5\), w has shape \(2, 4, 3, 3\)"):
        layers.conv_forward(np.ones((1, 3, 5, 5)), np.ones((2, 4, 3, 3)), np.ones(2), CONV)


def test_conv_impossible_stride_explains_the_fraction():
    with pytest.raises(InvalidGeometryError, match=r"\(7 - 3 \+ 2\*0\) / 3 \+ 1 = 2.33333 is not a whole number"):
        layers.conv_forward(np.ones((1, 1, 7, 7)), np.ones((1, 1, 3, 3)), np.ones(1), {"stride": 3, "pad": 0})


def test_pool_that_does_not_tile():
    with pytest.raises(InvalidGeometryError, match="max_pool_forward"):
        layers.max_pool_forward(np.ones((1, 1, 5, 5)), {"pool_height": 2, "pool_width": 2, "stride": 2})


def test_missing_conv_param_key():
    with pytest.raises(KeyError, match="'pad'"):
        layers.conv_forward(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), np.ones(1), {"stride": 1})


def test_integer_input_is_refused_with_a_fix():
    with pytest.raises(TypeError, match=r"dtype int64; pass float32 or float64"):
        layers.relu_forward(np.ones((2, 2), dtype=np.int64))


def test_mixed_dtypes_are_refused():
    with pytest.raises(TypeError, match="x is float32, w is float64"):
        layers.affine_forward(np.ones((2, 3), np.float32), np.ones((3, 2)), np.ones(2))


def test_list_instead_of_array():
    with pytest.raises(TypeError, match="np.asarray"):
        layers.relu_forward([1.0, -1.0])


def test_wrong_dimensionality():
    with pytest.raises(ValueError, match=r"4 dimensions, got shape \(5, 5\)"):
        layers.conv_forward(np.ones((5, 5)), np.ones((1, 1, 3, 3)), np.ones(1), CONV)


def test_dout_shape_mismatch():
    _, cache = layers.relu_forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dout has shape \(3, 2\), the forward output has shape \(2, 3\)"):
        layers.relu_backward(np.ones((3, 2)), cache)


@pytest.mark.parametrize("loss", [layers.svm_loss, layers.softmax_loss])
def test_label_out_of_range(loss):
    with pytest.raises(ValueError, match="label 10 is out of range; with 10 classes labels must lie in 0..9"):
        loss(np.zeros((3, 10)), np.array([1, 10, 2]))


def test_negative_label():
    with pytest.raises(ValueError, match="label -1 is negative"):
        layers.svm_loss(np.zeros((2, 3)), np.array([0, -1]))


def test_float_labels():
    with pytest.raises(TypeError, match="labels y must be integers"):
        layers.softmax_loss(np.zeros((2, 3)), np.array([0.0, 1.0]))


def test_label_count_mismatch():
    with pytest.raises(ValueError, match=r"shape \(4,\) to match the 4 samples, got shape \(3,\)"):
        layers.svm_loss(np.zeros((4, 3)), np.array([0, 1, 2]))


def test_classifier_loss_dimension_mismatch():
    with pytest.raises(ValueError, match=r"X has shape \(5, 4\), W has shape \(3, 2\)"):
        svm_loss_vectorized(np.zeros((3, 2)), np.zeros((5, 4)), np.zeros(5, int), 0.0)
    with pytest.raises(ValueError, match="out of range"):
        softmax_loss_naive(np.zeros((4, 2)), np.zeros((2, 4)), np.array([0, 2]), 0.0)


def test_knn_feature_mismatch_and_untrained():
    with pytest.raises(RuntimeError, match="call train"):
        KNearestNeighbor().compute_distances_no_loops(np.zeros((2, 3)))
    knn = KNearestNeighbor().train(np.zeros((4, 3)), np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match=r"X has shape \(2, 5\), X_train has shape \(4, 3\)"):
        knn.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="k must lie in 1..4"):
        knn.predict(np.zeros((2, 3)), k=5)


def test_dropout_probability_is_keep():
    with pytest.raises(ValueError, match="probability of KEEPING"):
        layers.dropout_forward(np.ones(3), {"p": 0.0, "mode": "train"})


def test_batchnorm_backward_after_test_mode():
    out, cache = layers.batchnorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), {"mode": "test"})
    with pytest.raises(ValueError, match="test mode"):
        layers.batchnorm_backward(np.ones((2, 3)), cache)


def test_group_norm_groups_must_divide_the_channels():
    x = np.ones((2, 6, 3, 3))
    for groups in (4, 0, 7, 2.0):
        with pytest.raises(ValueError, match=r"groups must divide the C = 6 channels.*choose a divisor of 6"):
            layers.spatial_groupnorm_forward(x, np.ones(6), np.zeros(6), groups)


def test_normalisation_scale_of_the_wrong_size_names_both_shapes():
    mismatch = r"gamma and the channels of x.*gamma has shape \(4,\), x has shape \(2, 3, 5, 5\)"
    with pytest.raises(ValueError, match=mismatch):
        layers.spatial_batchnorm_forward(np.ones((2, 3, 5, 5)), np.ones(4), np.zeros(3), {"mode": "train"})
    with pytest.raises(ValueError, match=r"beta and the features of x"):
        layers.layernorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"x must have 4 dimensions|4-d|ndim"):
        layers.spatial_groupnorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), 1)


def test_normalisation_backward_checks_the_upstream_gradient():
    _, cache = layers.layernorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"dout has shape \(3, 2\).*\(2, 3\)"):
        layers.layernorm_backward(np.ones((3, 2)), cache)
    _, cache = layers.spatial_batchnorm_forward(np.ones((2, 3, 2, 2)), np.ones(3), np.zeros(3), {"mode": "test"})
    with pytest.raises(ValueError, match="the forward pass ran in test mode"):
        layers.spatial_batchnorm_backward(np.ones((2, 3, 2, 2)), cache)
