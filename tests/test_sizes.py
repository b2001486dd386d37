"""The convolution arithmetic and the network figures of the lecture (CS231n's AlexNet, VGG-16 and
GoogLeNet tables), which the course must reproduce."""
import pytest

from course_lib import sizes
from course_lib.sizes import Conv, FC, Input, InvalidGeometryError, Pool, conv_output_size


@pytest.mark.parametrize("stride, expected", [(1, 5), (2, 3)])
def test_seven_by_seven_input_three_by_three_filter(stride, expected):
    assert conv_output_size(7, 3, stride) == expected


def test_stride_three_is_invalid_and_says_why():
    with pytest.raises(InvalidGeometryError) as err:
        conv_output_size(7, 3, 3)
    message = str(err.value)
    assert "(7 - 3 + 2*0) / 3 + 1 = 2.33333" in message and "not a whole number" in message
    assert "strides that fit here: 1, 2, 4" in message


@pytest.mark.parametrize("f, p", [(3, 1), (5, 2), (7, 3)])
def test_same_padding_preserves_size(f, p):
    assert sizes.same_padding(f) == p
    assert conv_output_size(32, f, 1, p) == 32


def test_even_filter_has_no_same_padding():
    with pytest.raises(InvalidGeometryError, match="odd filter"):
        sizes.same_padding(4)


def test_filter_larger_than_input():
    with pytest.raises(InvalidGeometryError, match="does not fit"):
        conv_output_size(3, 5)


def test_six_5x5_filters_on_32x32x3():
    rows = sizes.network_table([Input(32, 32, 3), Conv(6, 5)])
    assert rows[1].shape == (28, 28, 6)
    assert (rows[1].weights, rows[1].biases) == (450, 6)
    multiplies = 28 * 28 * 6 * 5 * 5 * 3
    assert 340_000 < multiplies < 360_000  # "about 350K multiplies"
    assert 32 * 32 * 3 * 28 * 28 * 6 == 14_450_688  # a fully connected layer instead: ~14.5M


def test_ten_5x5_filters_pad_2():
    rows = sizes.network_table([Input(32, 32, 3), Conv(10, 5, 1, 2)])
    assert rows[1].shape == (32, 32, 10)
    assert rows[1].params == 760 and rows[1].params // 10 == 76


def test_pooling_keeps_depth_and_has_no_parameters():
    rows = sizes.network_table([Input(32, 32, 16), Pool(2, 2), Pool(2, 2), Pool(2, 2)])
    assert [r.shape for r in rows[1:]] == [(16, 16, 16), (8, 8, 16), (4, 4, 16)]
    assert all(r.params == 0 for r in rows[1:])


def test_alexnet():
    rows = {r.name: r for r in sizes.network_table(sizes.ALEXNET)}
    assert rows["CONV1"].shape == (55, 55, 96) and rows["CONV1"].weights == 34_848
    assert rows["POOL1"].shape == (27, 27, 96)
    assert rows["CONV2"].shape == (27, 27, 256)
    assert rows["POOL2"].shape == (13, 13, 256)
    assert rows["CONV5"].shape == (13, 13, 256)
    assert rows["POOL3"].shape == (6, 6, 256)
    assert [rows[k].shape[2] for k in ("FC6", "FC7", "FC8")] == [4096, 4096, 1000]
    assert 58e6 < sizes.totals(sizes.ALEXNET)["params"] < 64e6  # "about 60M"


def test_vgg16():
    t = sizes.totals(sizes.VGG16)
    assert t["weights"] == 138_344_128
    assert t["params"] == 138_357_544
    assert t["activations"] == 15_237_608
    fc6 = next(r for r in sizes.network_table(sizes.VGG16) if r.name == "FC6")
    assert fc6.weights == 102_760_448 == 7 * 7 * 512 * 4096
    rows = sizes.network_table(sizes.VGG16)
    convs = [r for r in rows if r.name.startswith("CONV")]
    fcs = [r for r in rows if r.name.startswith("FC")]
    assert sum(r.activations for r in convs[:4]) > sum(r.activations for r in rows) / 2  # memory: early
    assert sum(r.params for r in fcs) > sum(r.params for r in rows) * 0.85  # parameters: late FC


def test_vgg16_summary_points_out_the_slide_discrepancy():
    text = sizes.summaries()["VGG-16"]
    assert "15,237,608" in text and "24M" in text and "61 MB" in text and "93 MB" in text
    assert "CONV1_1" in text and "FC8" in text  # the per-layer rows are shown


def test_googlenet():
    rows = sizes.network_table(sizes.GOOGLENET)
    assert rows[-2].shape == (1, 1, 1024)  # 7x7 average pool at the end
    params = sizes.totals(sizes.GOOGLENET)["params"]
    assert 5e6 <= params <= 7e6  # lecture: "about 5M"; the published table sums to 7.0M
    assert params < sizes.totals(sizes.ALEXNET)["params"] / 8
    assert "about 5M" in sizes.summaries()["GoogLeNet"]


def test_bad_layer_in_a_network_names_the_layer():
    with pytest.raises(InvalidGeometryError, match="layer CONV_X on a \\(7, 7, 3\\) input"):
        sizes.network_table([Input(7, 7, 3), Conv(4, 3, stride=3, name="CONV_X")])


def test_rounding_modes():
    assert conv_output_size(224, 7, 2, 3, rounding="floor") == 112
    assert conv_output_size(112, 3, 2, 0, rounding="ceil") == 56
    with pytest.raises(ValueError, match="rounding"):
        conv_output_size(5, 3, 1, 0, rounding="nearest")


def test_network_must_start_with_input():
    with pytest.raises(ValueError, match="must start with Input"):
        sizes.network_table([Conv(3, 3), FC(10)])


def test_conv_arithmetic_of_a_valid_layer():
    r = sizes.conv_arithmetic(32, 5, stride=1, pad=2, filters=10, channels=3)
    assert r["valid"] and r["output"] == 32
    assert r["params"] == 5 * 5 * 3 * 10 + 10 == 760
    assert r["activations"] == 32 * 32 * 10 and r["memory"] == 4 * 32 * 32 * 10
    assert r["window_starts"] == list(range(32)) and r["left_over"] == 0


def test_conv_arithmetic_explains_an_impossible_stride():
    r = sizes.conv_arithmetic(7, 3, stride=3)
    assert not r["valid"] and r["output"] is None and r["memory"] is None
    assert "(7 - 3 + 2*0) / 3 + 1 = 2.33333 is not a whole number" in r["reason"]
    # windows start at 0 and 3 and cover columns 0..5: column 6 is left over
    assert r["window_starts"] == [0, 3] and r["left_over"] == 1
    too_big = sizes.conv_arithmetic(3, 5)
    assert not too_big["valid"] and too_big["window_starts"] == [] and "does not fit" in too_big["reason"]


def _field_by_walking(layers, filter_size, stride):
    """Which inputs output 0 of the last layer depends on, walked down layer by layer."""
    seen = {0}
    for _ in range(layers):
        seen = {i * stride + k for i in seen for k in range(filter_size)}
    return max(seen) - min(seen) + 1


@pytest.mark.parametrize("layers,filter_size,stride", [(1, 3, 1), (3, 3, 1), (2, 5, 1), (2, 3, 2), (4, 3, 2),
                                                        (3, 7, 3), (5, 1, 2), (1, 11, 4)])
def test_receptive_field_is_what_an_output_depends_on(layers, filter_size, stride):
    assert sizes.receptive_field(layers, filter_size, stride) == _field_by_walking(layers, filter_size, stride)


def test_receptive_field_refuses_what_is_not_a_layer_count():
    with pytest.raises(sizes.InvalidGeometryError, match="layers must be a whole number >= 1, got 0"):
        sizes.receptive_field(0, 3)
