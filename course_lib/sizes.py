"""Convolution and pooling arithmetic, and parameter / activation-memory tables of whole networks.

    >>> conv_output_size(7, 3, stride=2)
    3
    >>> print(summarize(VGG16))          # per-layer rows, totals, and the lecture's figure compared

A network is a list of layer specs (Input, Conv, Pool, FC, Inception); `network_table` walks it and
gives one row per layer with the output shape, activations and parameters.
"""
from dataclasses import dataclass
from fractions import Fraction
import math


class InvalidGeometryError(ValueError):
    """A filter/stride/padding combination that does not tile the input."""


def _explain(size, filter_size, stride, pad, what):
    span = size - filter_size + 2 * pad
    exact = Fraction(span, stride) + 1
    valid = [s for s in range(1, min(span, 8) + 1) if span % s == 0] if span >= 0 else []
    hint = (f"strides that fit here: {', '.join(map(str, valid))}" if valid else
            "the filter is larger than the padded input")
    return (f"{what}: ({size} - {filter_size} + 2*{pad}) / {stride} + 1 = {float(exact):g} is not a "
            f"whole number, so the filter would not fit the input evenly; change the stride or "
            f"the padding ({hint}; padding (F-1)/2 with stride 1 keeps the size)")


def conv_output_size(size, filter_size, stride=1, pad=0, rounding="exact"):
    """Output length along one axis: (W - F + 2P) / S + 1.

    rounding="exact" (the default, and what the course's layers use) raises InvalidGeometryError
    when that is not a whole number; "floor" and "ceil" mimic frameworks that round instead, which
    some published networks (GoogLeNet) rely on.
    """
    for name, value, low in (("size", size, 1), ("filter_size", filter_size, 1),
                             ("stride", stride, 1), ("pad", pad, 0)):
        if int(value) != value or value < low:
            raise InvalidGeometryError(f"{name} must be a whole number >= {low}, got {value!r}")
    span = size - filter_size + 2 * pad
    if span < 0:
        raise InvalidGeometryError(
            f"a {filter_size}-wide filter does not fit an input of size {size} with padding {pad}")
    if rounding == "exact":
        if span % stride:
            raise InvalidGeometryError(_explain(size, filter_size, stride, pad, "invalid geometry"))
        return span // stride + 1
    if rounding == "floor":
        return span // stride + 1
    if rounding == "ceil":
        return -(-span // stride) + 1
    raise ValueError(f"rounding must be 'exact', 'floor' or 'ceil', got {rounding!r}")


def receptive_field(layers, filter_size, stride=1):
    """The side of the input region one output value sees through `layers` stacked conv layers of
    filter_size x filter_size and the same stride: each layer widens it by (F - 1) times the
    product of the strides below it.

    >>> receptive_field(3, 3)  # three 3x3 layers see 7x7, as one 7x7 layer does
    7
    """
    for name, value in (("layers", layers), ("filter_size", filter_size), ("stride", stride)):
        if int(value) != value or value < 1:
            raise InvalidGeometryError(f"{name} must be a whole number >= 1, got {value!r}")
    field, jump = 1, 1
    for _ in range(int(layers)):
        field += (filter_size - 1) * jump
        jump *= stride
    return field


def same_padding(filter_size):
    """The padding (F - 1) / 2 that keeps the spatial size with stride 1 (odd filters only)."""
    if filter_size % 2 == 0:
        raise InvalidGeometryError(f"an even filter ({filter_size}) cannot keep the size with a "
                                   f"symmetric padding; use an odd filter size")
    return (filter_size - 1) // 2


def conv_arithmetic(size, filter_size, stride=1, pad=0, filters=1, channels=3, bytes_per_value=4):
    """Everything about one conv layer on a size x size x channels input, for the explorer widget:
    the formula with its numbers, whether it is valid (and why not), the output size, the
    parameters, the activation memory, and where the filter windows start along one axis of the
    padded input (for an invalid stride, the windows that fit and the columns left over)."""
    span = size - filter_size + 2 * pad
    result = {"size": size, "filter_size": filter_size, "stride": stride, "pad": pad,
              "filters": filters, "channels": channels,
              "formula": f"({size} - {filter_size} + 2*{pad}) / {stride} + 1",
              "weights": filter_size * filter_size * channels * filters, "biases": filters}
    result["params"] = result["weights"] + result["biases"]
    try:
        out = conv_output_size(size, filter_size, stride, pad)
    except InvalidGeometryError as err:
        fits = span // stride + 1 if span >= 0 else 0
        result.update(valid=False, output=None, reason=str(err), activations=None, memory=None,
                      window_starts=[i * stride for i in range(fits)],
                      left_over=span - (fits - 1) * stride if fits else None)
        return result
    result.update(valid=True, output=out, reason=None, activations=out * out * filters,
                  memory=out * out * filters * bytes_per_value,
                  window_starts=[i * stride for i in range(out)], left_over=0)
    return result


# ---------------------------------------------------------------- layer specs
@dataclass(frozen=True)
class Input:
    height: int
    width: int
    channels: int
    name: str = "INPUT"


@dataclass(frozen=True)
class Conv:
    filters: int
    size: int
    stride: int = 1
    pad: int = 0
    name: str = "CONV"
    rounding: str = "exact"

    def apply(self, h, w, c):
        out = (conv_output_size(h, self.size, self.stride, self.pad, self.rounding),
               conv_output_size(w, self.size, self.stride, self.pad, self.rounding), self.filters)
        return out, self.size * self.size * c * self.filters, self.filters


@dataclass(frozen=True)
class Pool:
    size: int
    stride: int
    name: str = "POOL"
    rounding: str = "exact"

    def apply(self, h, w, c):
        """Pooling keeps the depth and has no parameters."""
        return (conv_output_size(h, self.size, self.stride, 0, self.rounding),
                conv_output_size(w, self.size, self.stride, 0, self.rounding), c), 0, 0


@dataclass(frozen=True)
class FC:
    units: int
    name: str = "FC"

    def apply(self, h, w, c):
        return (1, 1, self.units), h * w * c * self.units, self.units


@dataclass(frozen=True)
class Inception:
    """GoogLeNet's module: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1, concatenated in depth."""
    b1x1: int
    reduce3: int
    b3x3: int
    reduce5: int
    b5x5: int
    pool_proj: int
    name: str = "INCEPTION"

    def apply(self, h, w, c):
        weights = (c * self.b1x1 + c * self.reduce3 + 9 * self.reduce3 * self.b3x3
                   + c * self.reduce5 + 25 * self.reduce5 * self.b5x5 + c * self.pool_proj)
        biases = self.b1x1 + self.reduce3 + self.b3x3 + self.reduce5 + self.b5x5 + self.pool_proj
        return (h, w, self.b1x1 + self.b3x3 + self.b5x5 + self.pool_proj), weights, biases


@dataclass(frozen=True)
class Row:
    name: str
    shape: tuple  # (H, W, C) after the layer
    activations: int
    weights: int
    biases: int

    @property
    def params(self):
        return self.weights + self.biases


def network_table(specs):
    """One Row per layer spec; the first spec must be an Input."""
    if not specs or not isinstance(specs[0], Input):
        raise ValueError("a network spec must start with Input(height, width, channels)")
    first = specs[0]
    shape = (first.height, first.width, first.channels)
    rows = [Row(first.name, shape, math.prod(shape), 0, 0)]
    for spec in specs[1:]:
        try:
            shape, weights, biases = spec.apply(*shape)
        except InvalidGeometryError as err:
            raise InvalidGeometryError(f"layer {spec.name} on a {shape} input: {err}") from None
        rows.append(Row(spec.name, shape, math.prod(shape), weights, biases))
    return rows


def totals(specs):
    rows = network_table(specs)
    return {"activations": sum(r.activations for r in rows),
            "weights": sum(r.weights for r in rows),
            "biases": sum(r.biases for r in rows),
            "params": sum(r.params for r in rows)}


def summarize(specs, bytes_per_value=4, note=None):
    """The table as text: per-layer shape, activations ("memory") and parameters, then totals."""
    rows = network_table(specs)
    lines = [f"{'layer':<12}{'output':>16}{'activations':>14}{'weights':>14}{'biases':>9}"]
    for r in rows:
        shape = "x".join(map(str, r.shape))
        lines.append(f"{r.name:<12}{shape:>16}{r.activations:>14,}{r.weights:>14,}{r.biases:>9,}")
    t = totals(specs)
    lines.append(f"{'TOTAL':<12}{'':>16}{t['activations']:>14,}{t['weights']:>14,}{t['biases']:>9,}")
    lines.append(f"activations: {t['activations']:,} values = {t['activations'] * bytes_per_value / 1e6:.1f} MB "
                 f"per image forward at {bytes_per_value} bytes each; parameters: {t['params']:,}")
    if note:
        lines.append(note)
    return "\n".join(lines)


# ---------------------------------------------------------------- published networks
ALEXNET = [
    Input(227, 227, 3),
    Conv(96, 11, stride=4, name="CONV1"), Pool(3, 2, name="POOL1"),
    Conv(256, 5, pad=2, name="CONV2"), Pool(3, 2, name="POOL2"),
    Conv(384, 3, pad=1, name="CONV3"), Conv(384, 3, pad=1, name="CONV4"),
    Conv(256, 3, pad=1, name="CONV5"), Pool(3, 2, name="POOL3"),
    FC(4096, name="FC6"), FC(4096, name="FC7"), FC(1000, name="FC8"),
]


def _vgg_block(n_convs, filters, stage):
    convs = [Conv(filters, 3, pad=1, name=f"CONV{stage}_{k + 1}") for k in range(n_convs)]
    return convs + [Pool(2, 2, name=f"POOL{stage}")]


VGG16 = ([Input(224, 224, 3)] + _vgg_block(2, 64, 1) + _vgg_block(2, 128, 2) + _vgg_block(3, 256, 3)
         + _vgg_block(3, 512, 4) + _vgg_block(3, 512, 5)
         + [FC(4096, name="FC6"), FC(4096, name="FC7"), FC(1000, name="FC8")])

# The lecture slide's VGG-16 memory total. Its own per-layer rows add up to far less (see vgg16_note).
VGG16_SLIDE_ACTIVATIONS = 24_000_000
VGG16_SLIDE_MEGABYTES = 93

# GoogLeNet's published layer table; the stem convs and pools round like TensorFlow's "SAME" padding.
GOOGLENET = [
    Input(224, 224, 3),
    Conv(64, 7, stride=2, pad=3, name="CONV1", rounding="floor"),
    Pool(3, 2, name="POOL1", rounding="ceil"),
    Conv(64, 1, name="CONV2_RED"), Conv(192, 3, pad=1, name="CONV2"),
    Pool(3, 2, name="POOL2", rounding="ceil"),
    Inception(64, 96, 128, 16, 32, 32, name="INC3a"), Inception(128, 128, 192, 32, 96, 64, name="INC3b"),
    Pool(3, 2, name="POOL3", rounding="ceil"),
    Inception(192, 96, 208, 16, 48, 64, name="INC4a"), Inception(160, 112, 224, 24, 64, 64, name="INC4b"),
    Inception(128, 128, 256, 24, 64, 64, name="INC4c"), Inception(112, 144, 288, 32, 64, 64, name="INC4d"),
    Inception(256, 160, 320, 32, 128, 128, name="INC4e"),
    Pool(3, 2, name="POOL4", rounding="ceil"),
    Inception(256, 160, 320, 32, 128, 128, name="INC5a"), Inception(384, 192, 384, 48, 128, 128, name="INC5b"),
    Pool(7, 1, name="AVGPOOL"),
    FC(1000, name="FC"),
]


def vgg16_note(bytes_per_value=4):
    """Compare the slide's memory figure with the sum of the per-layer rows it lists."""
    total = totals(VGG16)["activations"]
    return (f"note: the lecture slide states about {VGG16_SLIDE_ACTIVATIONS / 1e6:.0f}M activations "
            f"(~{VGG16_SLIDE_MEGABYTES} MB per image forward), but its own per-layer rows, as above, "
            f"add up to {total:,} values = {total * bytes_per_value / 1e6:.0f} MB at "
            f"{bytes_per_value} bytes each; the slide's total does not match its rows")


def summaries():
    """Text tables of AlexNet, VGG-16 and GoogLeNet as the lecture presents them."""
    googlenet = totals(GOOGLENET)
    fc = network_table(GOOGLENET)[-1].params
    return {
        "AlexNet": summarize(ALEXNET),
        "VGG-16": summarize(VGG16, note=vgg16_note()),
        "GoogLeNet": summarize(GOOGLENET, note=(
            f"note: the published layer table adds up to {googlenet['params']:,} parameters, "
            f"{googlenet['params'] - fc:,} without the final classifier; the lecture rounds this to "
            f"'about 5M'. Either way about a tenth of AlexNet's, with no big FC layers")),
    }
