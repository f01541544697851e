"""Every VGG: LT-SNN's Table 3 networks, TET's VGGSNN, DSR's VGG-11 and the QCFS / LM-HT VGG-13 and VGG-16.

All are an architecture string (:mod:`ltsnn.models.arch`) of spiking conv layers followed by a classifier;
they differ in the classifier and the initialisation, which each class below describes. Every conv layer's
activation is built from the model's :class:`~ltsnn.neurons.NeuronSpec`; the first one (which sees
real-valued frames) keeps a fixed threshold unless ``learn_first_threshold`` (LT-SNN's convention,
methods §1.3).
"""

from __future__ import annotations

import torch
from torch import nn

from ltsnn.layers import SeqToBatch
from ltsnn.models.arch import FC, check_dropout, conv_stack, parse_arch
from ltsnn.models.base import Size, SpikingModel
from ltsnn.models.registry import register_model
from ltsnn.models.resnet import time_input_layer
from ltsnn.neurons import NeuronSpec


class SpikingVGG(SpikingModel):
    """LT-SNN's VGGs: the string's conv layers, then its FC layers (methods §1.7).

    Hidden FC layers are followed by dropout only (no neuron and no nonlinearity between them, as in the
    LT-SNN code); the last FC is the classifier, its width replaced by ``num_classes``, and its per-step
    outputs are the logits ``[T, B, K]``. Convs are initialised Kaiming fan-out, as TET's VGGSNN.
    """

    def __init__(self, arch: str, *, in_channels: int, num_classes: int, input_size: Size, neuron: NeuronSpec,
                 dropout: float = 0.5, name: str = "vgg"):
        super().__init__(name=name, in_channels=in_channels, input_size=input_size)
        check_dropout(dropout, where=name)
        self.arch = arch
        layers = parse_arch(arch, where=name)
        n_conv = next((i for i, layer in enumerate(layers) if isinstance(layer, FC)), len(layers))
        fc_widths = [layer.width for layer in layers[n_conv:] if isinstance(layer, FC)]
        if not fc_widths:
            raise ValueError(f"{name}: architecture {arch!r} has no classifier (FC) layer")
        if len(fc_widths) != len(layers) - n_conv:
            raise ValueError(f"{name}: expected only FC layers after the first FC in {arch!r}")
        self.features, (c, h, w) = conv_stack(layers[:n_conv], in_channels=in_channels, input_size=self.input_size,
                                              neurons=neuron, where=f"{name} {arch!r}")
        head: list[nn.Module] = [nn.Flatten()]
        n = c * h * w
        for width in fc_widths[:-1]:
            head += [nn.Linear(n, width), nn.Dropout(dropout)]
            n = width
        head.append(nn.Linear(n, num_classes))
        self.head = SeqToBatch(*head)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.features(x_seq)

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        return self.head(f_seq)                                     # [T, B, C', H', W'] -> [T, B, K]


@register_model("vgg_tiny")
def vgg_tiny(*, in_channels: int = 2, num_classes: int = 10, input_size: Size = 34, neuron: NeuronSpec = NeuronSpec(),
             dropout: float = 0.0) -> SpikingVGG:
    """Small VGG for 34x34 event digits (the demo default; ours, not in the papers)

    Architecture: ``16C3-AP2-32C3-AP2-64C3-AP2-FC10`` (last FC = num_classes).
    """
    return SpikingVGG("16C3-AP2-32C3-AP2-64C3-AP2-FC10", in_channels=in_channels, num_classes=num_classes,
                      input_size=input_size, neuron=neuron, dropout=dropout, name="vgg_tiny")


@register_model("vgg7")
def vgg7(*, in_channels: int = 2, num_classes: int = 10, input_size: Size = 48, neuron: NeuronSpec = NeuronSpec(),
         dropout: float = 0.5) -> SpikingVGG:
    """VGG-7 of LT-SNN (Table 3)

    Architecture: ``32C3-32C3-AP2-64C3-64C3-AP2-128C3-128C3-AP2-256C3-256C3-AP2-FC256-FC10`` (last FC = num_classes).
    """
    return SpikingVGG("32C3-32C3-AP2-64C3-64C3-AP2-128C3-128C3-AP2-256C3-256C3-AP2-FC256-FC10",
                      in_channels=in_channels, num_classes=num_classes, input_size=input_size, neuron=neuron,
                      dropout=dropout, name="vgg7")


@register_model("vgg9")
def vgg9(*, in_channels: int = 2, num_classes: int = 10, input_size: Size = 48, neuron: NeuronSpec = NeuronSpec(),
         dropout: float = 0.5) -> SpikingVGG:
    """VGG-9 of LT-SNN (Table 3; 7.07 M at 2x48x48)

    Architecture: ``32C3-64C3-64C3-AP2-128C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-FC512-FC10`` (last FC =
    num_classes).
    """
    return SpikingVGG("32C3-64C3-64C3-AP2-128C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-FC512-FC10",
                      in_channels=in_channels, num_classes=num_classes, input_size=input_size, neuron=neuron,
                      dropout=dropout, name="vgg9")


@register_model("tet_vggsnn")
def tet_vggsnn(*, in_channels: int = 2, num_classes: int = 10, input_size: Size = 48, neuron: NeuronSpec = NeuronSpec(),
               dropout: float = 0.0) -> SpikingVGG:
    """VGGSNN of TET (Deng et al. 2022), the 'VGG-Like' of LT-SNN Table 4 (9.27 M at 2x48x48)

    Architecture: ``64C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-512C3-512C3-AP2-FC10`` (last FC = num_classes).
    """
    return SpikingVGG("64C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-512C3-512C3-AP2-FC10",
                      in_channels=in_channels, num_classes=num_classes, input_size=input_size, neuron=neuron,
                      dropout=dropout, name="tet_vggsnn")


class DSRVGG(SpikingModel):
    """DSR's VGG (``cifar/modules/vgg.py``; methods §1.7, §4.3): conv stack, adaptive pooling, spiking output.

    Each conv is conv3×3 (bias) → BN → neuron → dropout (the output neuron has none, as DSR's code), then
    AdaptiveAvgPool(``pool_size``) → flatten → Linear → BN1d → neuron. The output is the last neuron's per-step
    output ``[T, B, K]``; with a DSR neuron its mean over T is DSR's firing rate (DSR's LIF reads out an
    exponentially *weighted* rate instead; a plain mean is used for every neuron here). DSR's
    initialisation: Kaiming fan-out convs, N(0, 0.01) Linear, zero biases.
    """

    def __init__(self, arch: str, *, in_channels: int, num_classes: int, input_size: Size, neuron: NeuronSpec,
                 dropout: float = 0.1, pool_size: int = 7, name: str = "vgg11"):
        super().__init__(name=name, in_channels=in_channels, input_size=input_size)
        check_dropout(dropout, where=name)
        self.features, (c, _, _) = conv_stack(parse_arch(arch, where=name), in_channels=in_channels,
                                              input_size=self.input_size,
                                              neurons=neuron, dropout=dropout, where=name)
        self.fc = SeqToBatch(nn.AdaptiveAvgPool2d(pool_size), nn.Flatten(),
                             nn.Linear(c * pool_size * pool_size, num_classes), nn.BatchNorm1d(num_classes))
        self.out_spike = neuron.build(channels=num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.features(x_seq)

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        return self.out_spike(self.fc(f_seq))                      # fc: [T, B, C', H', W'] -> [T, B, K]


@register_model("vgg11")
def vgg11(*, in_channels: int = 2, num_classes: int = 10, input_size: Size = 48, neuron: NeuronSpec = NeuronSpec(),
          dropout: float = 0.1) -> DSRVGG:
    """VGG-11 of DSR (Meng et al. 2022), the 'VGG-11' of LT-SNN Tables 1/4 (spiking output layer; 9.48 M at 2x48x48)

    Layout (DSR's cfg 'VGG11'): ``64C3-AP2-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-512C3-512C3-AP2``, then
    AdaptiveAvgPool(7×7) → Linear(25088, K) → BN1d → neuron. At 48×48 the five poolings leave 1×1, which the
    adaptive pool replicates to 7×7, so the classifier has 25088 inputs whatever the input size (H and W must
    be at least 32). DSR learns every threshold; ``NeuronSpec("dsr_lif", learn_first_threshold=True)`` is DSR
    itself. ``dropout`` follows each conv neuron (DSR: 0.1).
    """
    return DSRVGG("64C3-AP2-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-512C3-512C3-AP2", in_channels=in_channels,
                  num_classes=num_classes, input_size=input_size, neuron=neuron, dropout=dropout, name="vgg11")


class CifarVGG(SpikingModel):
    """The VGG of the QCFS code (``putshua/ANN_SNN_QCFS`` Models/VGG.py; LM-HT's ann_models/VGG.py is the same).

    Conv stages of [conv3×3 (bias), BN, activation, dropout] with 2×2 *average* pooling after each, then
    flatten → FC 512·h·w→4096, activation, dropout → FC 4096→4096, activation, dropout → FC 4096→K. The
    activations are QCFS (``neuron="qcfs"``, the ANN) or any spiking neuron, and the input goes through
    :class:`~ltsnn.layers.TimeInput` (``time_input``, ``mean_repeat``); see :mod:`ltsnn.models.resnet` for
    what the QCFS and LM-HT modes mean.
    """

    def __init__(self, arch: str, *, in_channels: int, num_classes: int, input_size: Size, neuron: NeuronSpec,
                 dropout: float, time_input: str, mean_repeat: int, name: str):
        super().__init__(name=name, in_channels=in_channels, input_size=input_size)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        self.time_input = time_input_layer(time_input, mean_repeat, neuron, name=name)
        self.features, (c, h, w) = conv_stack(parse_arch(arch, where=name), in_channels=in_channels,
                                              input_size=self.input_size,
                                              neurons=neuron, dropout=dropout, where=name)
        self.fc1 = SeqToBatch(nn.Flatten(), nn.Linear(c * h * w, 4096))
        self.fc1_act = neuron.build(channels=4096)
        self.fc2 = SeqToBatch(nn.Dropout(dropout), nn.Linear(4096, 4096))
        self.fc2_act = neuron.build(channels=4096)
        self.classifier = SeqToBatch(nn.Dropout(dropout), nn.Linear(4096, num_classes))
        # Conv init as the QCFS code. Its zero Linear biases are not copied: with spiking neurons a silent
        # fc1 then leaves fc2's membrane at exactly 0, where the surrogate is 0 and no gradient flows at all.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.features(self.time_input(x_seq))

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        h_seq = self.fc1_act(self.fc1(f_seq))                       # [T, B, 4096]
        h_seq = self.fc2_act(self.fc2(h_seq))                       # [T, B, 4096]
        return self.classifier(h_seq)


@register_model("vgg13")
def vgg13(*, in_channels: int = 3, num_classes: int = 10, input_size: Size = 32,
          neuron: NeuronSpec = NeuronSpec(threshold_grad="auto"), dropout: float = 0.0, time_input: str = "frames",
          mean_repeat: int = 1) -> CifarVGG:
    """VGG-13 of QCFS (Bu et al. 2022) and LM-HT (Hao et al. 2024): avg-pool, FC 4096-4096-K, swappable activation

    Widths 64-128-256-512-512, 2 convs per stage; CIFAR: 3 channels, 10 classes, 32×32 (the least: five
    poolings). ``neuron``: ``"qcfs"`` (the ANN) or any neuron; ``time_input`` / ``mean_repeat``: see
    :class:`~ltsnn.layers.TimeInput`.
    """
    return CifarVGG("64C3-64C3-AP2-128C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-512C3-512C3-AP2",
                    in_channels=in_channels, num_classes=num_classes, input_size=input_size, neuron=neuron,
                    dropout=dropout, time_input=time_input, mean_repeat=mean_repeat, name="vgg13")


@register_model("vgg16")
def vgg16(*, in_channels: int = 3, num_classes: int = 10, input_size: Size = 32,
          neuron: NeuronSpec = NeuronSpec(threshold_grad="auto"), dropout: float = 0.0, time_input: str = "frames",
          mean_repeat: int = 1) -> CifarVGG:
    """VGG-16 of QCFS (Bu et al. 2022) and LM-HT (Hao et al. 2024): avg-pool, FC 4096-4096-K, swappable activation

    As :func:`vgg13` with 2-2-3-3-3 convs per stage.
    """
    return CifarVGG("64C3-64C3-AP2-128C3-128C3-AP2-256C3-256C3-256C3-AP2-"
                    "512C3-512C3-512C3-AP2-512C3-512C3-512C3-AP2", in_channels=in_channels, num_classes=num_classes,
                    input_size=input_size, neuron=neuron, dropout=dropout, time_input=time_input,
                    mean_repeat=mean_repeat, name="vgg16")
