"""VGG-style spiking networks built from the architecture strings of LT-SNN Table 3.

A string such as ``"32C3-64C3-AP2-FC512-FC10"`` reads left to right:

- ``<c>C<k>``: conv k×k (stride 1, same padding, bias) → BN over T·B → spiking neuron
- ``<c>DW``: depthwise-separable block (Howard et al.): depthwise 3×3 → BN → neuron →
  pointwise 1×1 → BN → neuron
- ``AP2`` / ``MP2``: 2×2 average / max pooling, applied *after* the spikes (methods §1.7)
- ``FC<n>``: a linear layer. Hidden FC layers are followed by dropout only — no neuron and no
  nonlinearity between them, as in the LT-SNN code; the last FC is the classifier and its width is
  replaced by ``num_classes``. Its per-step outputs are the logits ``[T, B, K]``.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch
from torch import nn

from ltsnn.layers import SeqToBatch
from ltsnn.models.common import NeuronFactory, as_pair, check_input, conv_bn
from ltsnn.models.registry import register_model

_TOKEN = re.compile(r"^(?:(?P<c>\d+)C(?P<k>\d+)|(?P<dw>\d+)DW|(?P<pool>AP|MP)(?P<p>\d+)|FC(?P<fc>\d+))$")


class SpikingVGG(nn.Module):
    """A feed-forward spiking CNN described by an architecture string (see the module docstring)."""

    def __init__(self, arch: str, *, in_channels: int, num_classes: int, input_size: int | tuple[int, int],
                 neurons: NeuronFactory, dropout: float = 0.5, name: str = "vgg"):
        super().__init__()
        self.arch, self.name = arch, name
        self.in_channels, self.input_size = in_channels, as_pair(input_size)
        tokens = arch.split("-")
        features: list[nn.Module] = []
        c, (h, w) = in_channels, self.input_size
        first = True
        i = 0
        while i < len(tokens) and not tokens[i].startswith("FC"):
            m = _TOKEN.match(tokens[i])
            if m is None:
                raise ValueError(f"{name}: bad architecture token {tokens[i]!r} in {arch!r}")
            if m["c"]:
                c_out, k = int(m["c"]), int(m["k"])
                features += [conv_bn(c, c_out, kernel=k), neurons(channels=c_out, first=first)]
                c, first = c_out, False
            elif m["dw"]:
                c_out = int(m["dw"])
                features += [conv_bn(c, c, groups=c), neurons(channels=c, first=first),
                             conv_bn(c, c_out, kernel=1), neurons(channels=c_out)]
                c, first = c_out, False
            else:
                p = int(m["p"])
                features.append(SeqToBatch(nn.AvgPool2d(p) if m["pool"] == "AP" else nn.MaxPool2d(p)))
                h, w = h // p, w // p
            i += 1
        fc_widths = []
        for tok in tokens[i:]:
            m = _TOKEN.match(tok)
            if m is None or not m["fc"]:
                raise ValueError(f"{name}: expected only FC layers after the first FC in {arch!r}, got {tok!r}")
            fc_widths.append(int(m["fc"]))
        if not fc_widths:
            raise ValueError(f"{name}: architecture {arch!r} has no classifier (FC) layer")
        if h < 1 or w < 1:
            raise ValueError(f"{name}: input size {self.input_size} is too small for {arch!r}")
        self.features = nn.Sequential(*features)
        head: list[nn.Module] = [nn.Flatten()]
        n = c * h * w
        for width in fc_widths[:-1]:
            head += [nn.Linear(n, width), nn.Dropout(dropout)]
            n = width
        head.append(nn.Linear(n, num_classes))
        self.head = SeqToBatch(*head)
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):                          # as TET's VGGSNN
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` frames -> ``[T, B, C', H', W']`` feature spikes."""
        check_input(x_seq, self.in_channels, self.input_size, self.name)
        return self.features(x_seq)

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C', H', W']`` -> per-step logits ``[T, B, K]``."""
        return self.head(f_seq)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x_seq))


def _vgg(arch: str, name: str, *, in_channels: int, num_classes: int, input_size, neuron: str,
         threshold_grad: str, learn_first_threshold: bool, neuron_options: Mapping[str, Any] | None,
         dropout: float) -> SpikingVGG:
    neurons = NeuronFactory(neuron, threshold_grad=threshold_grad, learn_first_threshold=learn_first_threshold,
                            neuron_options=neuron_options)
    return SpikingVGG(arch, in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                      neurons=neurons, dropout=dropout, name=name)


def _register_vgg(name: str, arch: str, doc: str, *, default_size: int, default_dropout: float):
    def build(*, in_channels: int = 2, num_classes: int = 10, input_size: int | tuple[int, int] = default_size,
              neuron: str = "lif", threshold_grad: str = "sgp", learn_first_threshold: bool = False,
              neuron_options: Mapping[str, Any] | None = None, dropout: float = default_dropout) -> SpikingVGG:
        return _vgg(arch, name, in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                    neuron=neuron, threshold_grad=threshold_grad, learn_first_threshold=learn_first_threshold,
                    neuron_options=neuron_options, dropout=dropout)
    build.__doc__ = f"{doc}\n\nArchitecture: ``{arch}`` (last FC = num_classes)."
    build.__name__ = name
    register_model(name)(build)
    return build


ARCHS = {
    "vgg_tiny": ("16C3-AP2-32C3-AP2-64C3-AP2-FC10",
                 "Small VGG for 34x34 event digits (the demo default; ours, not in the papers)", 34, 0.0),
    "vgg7": ("32C3-32C3-AP2-64C3-64C3-AP2-128C3-128C3-AP2-256C3-256C3-AP2-FC256-FC10",
             "VGG-7 of LT-SNN Table 3", 48, 0.5),
    "vgg9": ("32C3-64C3-64C3-AP2-128C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-FC512-FC10",
             "VGG-9 of LT-SNN Table 3 (7.07 M at 2x48x48)", 48, 0.5),
    "tet_vggsnn": ("64C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-512C3-512C3-AP2-FC10",
                   "TET's VGGSNN, the 'VGG-Like' of LT-SNN Table 4 (9.27 M at 2x48x48)", 48, 0.0),
}

for _name, (_arch, _doc, _size, _drop) in ARCHS.items():
    _register_vgg(_name, _arch, _doc, default_size=_size, default_dropout=_drop)
