"""Architecture strings, the one parser, and the conv-BN block every model is built from.

A string such as ``"32C3-64DW-AP2-FC512-FC10"`` reads left to right:

- ``<c>C<k>``: conv k×k (stride 1, bias, padding k//2) → BN over T·B → spiking neuron;
  ``<c>C<k>p<n>``: the same with padding n (the LT-SNN detector code pads its 1×1 convs by 1)
- ``<c>DW``: depthwise-separable block (Howard et al. 2017): depthwise 3×3 → BN → neuron →
  pointwise 1×1 → BN → neuron
- ``AP<n>`` / ``MP<n>``: n×n average / max pooling, applied *after* the spikes (methods §1.7)
- ``FC<n>``: a linear layer of width n; what follows the convolutions is up to the model
  (:class:`~ltsnn.models.vgg.SpikingVGG` reads a classifier, the detectors take none)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from ltsnn.layers import SeqToBatch, batchnorm_bt
from ltsnn.neurons import NeuronSpec

_TOKEN = re.compile(r"^(?:(?P<c>\d+)C(?P<k>\d+)(?:p(?P<pad>\d+))?|(?P<dw>\d+)DW|(?P<pool>AP|MP)(?P<p>\d+)"
                    r"|FC(?P<fc>\d+))$")
GRAMMAR = "<c>C<k>[p<pad>], <c>DW, AP<n>, MP<n> or FC<n>"


@dataclass(frozen=True)
class Conv:
    channels: int
    kernel: int
    padding: int


@dataclass(frozen=True)
class DepthwiseSeparable:
    channels: int


@dataclass(frozen=True)
class Pool:
    kind: str                                                       # "AP" or "MP"
    size: int


@dataclass(frozen=True)
class FC:
    width: int


Layer = Conv | DepthwiseSeparable | Pool | FC


def parse_arch(arch: str, *, where: str = "architecture") -> list[Layer]:
    """The layers of an architecture string (module docstring), in order.

    Example:
        >>> parse_arch("16C3-64C1p1-AP2-FC10")   # doctest: +NORMALIZE_WHITESPACE
        [Conv(channels=16, kernel=3, padding=1), Conv(channels=64, kernel=1, padding=1),
         Pool(kind='AP', size=2), FC(width=10)]

    Raises:
        ValueError: naming the bad token and the grammar.
    """
    layers: list[Layer] = []
    for tok in arch.split("-"):
        m = _TOKEN.match(tok)
        if m is None:
            raise ValueError(f"{where}: bad architecture token {tok!r} in {arch!r}; expected {GRAMMAR}")
        if m["c"]:
            k = int(m["k"])
            layers.append(Conv(int(m["c"]), k, int(m["pad"]) if m["pad"] is not None else k // 2))
        elif m["dw"]:
            layers.append(DepthwiseSeparable(int(m["dw"])))
        elif m["pool"]:
            layers.append(Pool(m["pool"], int(m["p"])))
        else:
            layers.append(FC(int(m["fc"])))
    return layers


def conv_bn(c_in: int, c_out: int, *, kernel: int = 3, stride: int = 1, padding: int | None = None,
            groups: int = 1, bias: bool = True) -> SeqToBatch:
    """Conv (padding k//2 by default: the size is kept at stride 1) + BN over T·B, applied per time step."""
    return SeqToBatch(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2 if padding is None else padding,
                                groups=groups, bias=bias),
                      batchnorm_bt(c_out))


def check_dropout(p: float, *, where: str) -> None:
    """A dropout rate must lie in [0, 1): checked even when the architecture has no layer that uses it, so a
    mistyped rate is never silently ignored."""
    if not 0 <= p < 1:
        raise ValueError(f"{where}: dropout={p!r}; expected a probability in [0, 1)")


def conv_stack(layers: list[Layer], *, in_channels: int, input_size: tuple[int, int], neurons: NeuronSpec,
               dropout: float | None = None, where: str) -> tuple[nn.Sequential, tuple[int, int, int]]:
    """The spiking conv layers of ``layers`` (convs, depthwise-separable blocks and poolings).

    The first neuron is built with ``first=True`` (the encoding layer). With ``dropout`` (DSR's VGG, the QCFS
    VGGs) an ``nn.Dropout(dropout)`` follows each conv layer's neuron, even at p = 0, so that the layer
    indices (the ``state_dict`` keys) do not depend on the rate. ``where`` names the model in messages.

    Returns:
        ``(features, (C, H, W))``: the layers, mapping ``[T, B, in_channels, *input_size]`` to
        ``[T, B, C, H, W]``.

    Raises:
        ValueError: an FC layer among them, or an input too small for the poolings (the map would be empty).
    """
    modules: list[nn.Module] = []
    c, (h, w) = in_channels, input_size
    first = True
    for layer in layers:
        if isinstance(layer, Conv):
            modules += [conv_bn(c, layer.channels, kernel=layer.kernel, padding=layer.padding),
                        neurons.build(channels=layer.channels, first=first)]
            c, first = layer.channels, False
            modules += [nn.Dropout(dropout)] if dropout is not None else []
            h, w = h + 2 * layer.padding - layer.kernel + 1, w + 2 * layer.padding - layer.kernel + 1
        elif isinstance(layer, DepthwiseSeparable):
            modules += [conv_bn(c, c, groups=c), neurons.build(channels=c, first=first),
                        conv_bn(c, layer.channels, kernel=1), neurons.build(channels=layer.channels)]
            c, first = layer.channels, False
            modules += [nn.Dropout(dropout)] if dropout is not None else []
        elif isinstance(layer, Pool):
            modules.append(SeqToBatch(nn.AvgPool2d(layer.size) if layer.kind == "AP" else nn.MaxPool2d(layer.size)))
            h, w = h // layer.size, w // layer.size
        else:
            raise ValueError(f"{where}: an FC layer cannot be part of the convolutional layers, got {layer}")
        if h < 1 or w < 1:
            raise ValueError(f"{where}: input size {input_size} is too small (empty map after {layer})")
    return nn.Sequential(*modules), (c, h, w)
