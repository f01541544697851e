"""Every ResNet: TET's ResNet-19 (LT-SNN, LM-HT) and the CIFAR ResNet-18 / ResNet-20 of the LM-HT and QCFS codes.

Basic block (all of them): conv3×3-BN-activation-conv3×3-BN, plus the shortcut (1×1 conv + BN when the shape
changes), then an activation after the addition. Convs have no bias; BN is over T·B; the layers between
activations are applied per time step on ``[T*B, ...]``.

ResNet-19 (methods §4.2)::

    stem:    conv3×3 in→S, BN, neuron (fixed threshold: it sees real-valued frames)
    stage 1: 3 basic blocks × 128 ch, stride 1  (1×1 projection on the first block when S ≠ 128)
    stage 2: 3 basic blocks × 256 ch, first stride 2 (1×1 stride-2 projection)
    stage 3: 2 basic blocks × 512 ch, first stride 2 (1×1 stride-2 projection)
    head:    global average pool → FC 512→256 → neuron (fixed threshold, TET/LT-SNN's ``LIFSpike``)
             → FC 256→num_classes (per-step logits, no neuron)

The block neurons learn their thresholds (LT-SNN's ``ZIFArchTan``). ``stem_channels=64`` is the
TET/LT-SNN code (≈ 12.62 M parameters at 10 classes); ``stem_channels=128`` is the tdBN-paper description
(no projection in stage 1, ≈ 12.69 M).

ResNet-18 / ResNet-20 (methods §2.7-2.9) run the same network either as a QCFS ANN (``neuron="qcfs"``) or
as an SNN with any registered neuron (``"if_convert"``, ``"lmht"``, ``"lif"``, ...)::

    resnet18 (hzc1208/LMHT_SNN models/ResNet.py, CIFAR path):
        stem conv3×3 in→64, BN, act; basic blocks 64×2, 128×2 (s2), 256×2 (s2), 512×2 (s2); GAP → FC 512→K
    resnet20 (LMHT_SNN ann_models/ResNet.py = the QCFS ResNet-20, used for hybrid training):
        stem conv3×3 in→16, BN, act; basic blocks 16×3, 32×3 (s2), 64×3 (s2); GAP → FC 64→K

QCFS mode: each activation is a :class:`~ltsnn.neurons.qcfs.QCFS` (elementwise and stateless, so applying it
to ``[T, B, ...]`` is applying it to each step). Feed T = 1 for ANN training; with T > 1 every step is an
independent ANN pass. The neuron options then go to QCFS (``levels`` Q = 8, ``lam`` = 8, ``order``).

LM-HT: the T-GIM of each layer is a ``[T, T]`` matrix sized by the input's T. Static images are fed
repeated over T, which equals the official code's "stem once, then repeat" path. ``time_input="mean"``
averages the frames over time first and repeats the average ``mean_repeat`` times
(:class:`~ltsnn.layers.TimeInput`): ``mean_repeat=T`` is the static input of a converted SNN, ``mean_repeat=1``
what a QCFS ANN sees and the official DVS path (whose LM-HT neurons need ``steps=T``: one step in, T out).
The QCFS → IF / LM-HT conversion (θ = λ, v(0) = θ/2, ×L on the first LM-HT layer) is :mod:`ltsnn.convert.qcfs`.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ltsnn.layers import SeqToBatch, TimeInput, batchnorm_bt
from ltsnn.models.arch import conv_bn
from ltsnn.models.base import Size, SpikingModel
from ltsnn.models.registry import register_model
from ltsnn.neurons import NeuronSpec

Stages = tuple[tuple[int, int, int], ...]                           # (channels, blocks, first stride) per stage


class BasicBlock(nn.Module):
    """conv3×3-BN-activation-conv3×3-BN + shortcut, then an activation; ``[T, B, C, H, W] -> [T, B, C', H', W']``."""

    def __init__(self, c_in: int, c_out: int, *, stride: int, neuron: NeuronSpec):
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, stride=stride, bias=False)
        self.spike1 = neuron.build(channels=c_out)
        self.conv2 = conv_bn(c_out, c_out, bias=False)
        if stride != 1 or c_in != c_out:
            self.shortcut: nn.Module = SeqToBatch(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                                  batchnorm_bt(c_out))
        else:
            self.shortcut = nn.Identity()
        self.spike2 = neuron.build(channels=c_out)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        y_seq = self.conv2(self.spike1(self.conv1(x_seq)))
        return self.spike2(y_seq + self.shortcut(x_seq))


def resnet_body(in_channels: int, stem_channels: int, stages: Stages, *,
                neuron: NeuronSpec) -> tuple[nn.Sequential, nn.Sequential, int]:
    """The stem (conv3×3-BN-activation, the encoding layer: ``first=True``) and the stages of basic blocks.

    Returns:
        ``(stem, layers, channels out)``.
    """
    stem = nn.Sequential(conv_bn(in_channels, stem_channels, bias=False),
                         neuron.build(channels=stem_channels, first=True))
    blocks: list[nn.Module] = []
    c = stem_channels
    for c_out, n_blocks, stride in stages:
        for i in range(n_blocks):
            blocks.append(BasicBlock(c, c_out, stride=stride if i == 0 else 1, neuron=neuron))
            c = c_out
    return stem, nn.Sequential(*blocks), c


class SpikingResNet(SpikingModel):
    """TET's spiking ResNet with a two-layer FC head (ResNet-19 in the module docstring)."""

    def __init__(self, *, in_channels: int, num_classes: int, input_size: Size, neuron: NeuronSpec,
                 head_neuron: NeuronSpec, stem_channels: int = 64,
                 stages: Stages = ((128, 3, 1), (256, 3, 2), (512, 2, 2)), hidden: int = 256, name: str = "resnet19"):
        super().__init__(name=name, in_channels=in_channels, input_size=input_size)
        if stem_channels < 1 or hidden < 1:
            raise ValueError(f"{name}: stem_channels and hidden must be >= 1, got {stem_channels}, {hidden}")
        self.stem, self.layers, c = resnet_body(in_channels, stem_channels, stages, neuron=neuron)
        self.pool_fc = SeqToBatch(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, hidden))
        self.fc_spike = head_neuron.build(channels=hidden)
        self.classifier = SeqToBatch(nn.Linear(hidden, num_classes))

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(x_seq))                        # [T, B, 512, H/4, W/4] spikes

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        h_seq = self.fc_spike(self.pool_fc(f_seq))                  # [T, B, hidden] spikes
        return self.classifier(h_seq)


@register_model("resnet19")
def resnet19(*, in_channels: int = 3, num_classes: int = 10, input_size: Size = 32,
             neuron: NeuronSpec = NeuronSpec(), stem_channels: int = 64,
             learn_head_threshold: bool = False) -> SpikingResNet:
    """ResNet-19 of TET (Deng et al. 2022) as LT-SNN and LM-HT use it (64-ch stem; 128 for tdBN's, Zheng et al. 2021)

    ``stem_channels``: 64 (TET/LT-SNN/LM-HT code) or 128 (tdBN paper, no projection in stage 1);
    ``learn_head_threshold``: let the neuron between the two FC layers learn its threshold, which the
    code keeps fixed (as the stem's, unless the spec's ``learn_first_threshold``).
    """
    head = neuron if learn_head_threshold else dataclasses.replace(neuron, threshold_grad="fixed")
    return SpikingResNet(in_channels=in_channels, num_classes=num_classes, input_size=input_size, neuron=neuron,
                         head_neuron=head, stem_channels=stem_channels, name="resnet19")


def time_input_layer(time_input: str, mean_repeat: int, neuron: NeuronSpec, *, name: str) -> TimeInput:
    """The :class:`~ltsnn.layers.TimeInput` of an LM-HT / QCFS network. The official DVS path (the frames
    averaged into one step) needs LM-HT neurons told T (``steps``): their T-GIM turns that one step into T,
    and sized from the input it would silently run a single step."""
    if (time_input == "mean" and mean_repeat == 1 and neuron.name in ("lmht", "lmht_binary")
            and "steps" not in neuron.options):
        raise ValueError(f"{name}: time_input='mean' with mean_repeat=1 feeds one averaged step; {neuron.name!r} "
                         f"neurons then need T as an option (neuron options steps=T), else they run T = 1")
    return TimeInput(time_input, repeat=mean_repeat)


class CifarResNet(SpikingModel):
    """CIFAR ResNet of basic blocks with a single FC head and a swappable activation (module docstring)."""

    def __init__(self, *, in_channels: int, num_classes: int, input_size: Size, neuron: NeuronSpec,
                 stem_channels: int, stages: Stages, time_input: str, mean_repeat: int, name: str):
        super().__init__(name=name, in_channels=in_channels, input_size=input_size)
        self.time_input = time_input_layer(time_input, mean_repeat, neuron, name=name)
        self.stem, self.layers, c = resnet_body(in_channels, stem_channels, stages, neuron=neuron)
        self.head = SeqToBatch(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):                            # as the LM-HT code
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(self.time_input(x_seq)))       # spikes, or QCFS values

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        return self.head(f_seq)                                     # [T, B, C', H', W'] -> [T, B, K]


@register_model("resnet18")
def resnet18(*, in_channels: int = 3, num_classes: int = 10, input_size: Size = 32,
             neuron: NeuronSpec = NeuronSpec(threshold_grad="auto"), time_input: str = "frames",
             mean_repeat: int = 1) -> CifarResNet:
    """CIFAR ResNet-18 of LM-HT (Hao et al. 2024; 64-128-256-512 × [2,2,2,2], 3×3 stem), swappable activation

    ``neuron``: ``"qcfs"`` (the ANN) or any neuron; ``time_input`` / ``mean_repeat``: see
    :class:`~ltsnn.layers.TimeInput`.
    """
    return CifarResNet(in_channels=in_channels, num_classes=num_classes, input_size=input_size, neuron=neuron,
                       stem_channels=64, stages=((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)),
                       time_input=time_input, mean_repeat=mean_repeat, name="resnet18")


@register_model("resnet20")
def resnet20(*, in_channels: int = 3, num_classes: int = 10, input_size: Size = 32,
             neuron: NeuronSpec = NeuronSpec(threshold_grad="auto"), time_input: str = "frames",
             mean_repeat: int = 1) -> CifarResNet:
    """ResNet-20 of QCFS (Bu et al. 2022) and LM-HT's hybrid training (16-32-64 × [3,3,3]), swappable activation

    3×3 stem, FC 64→K. As :func:`resnet18`.
    """
    return CifarResNet(in_channels=in_channels, num_classes=num_classes, input_size=input_size, neuron=neuron,
                       stem_channels=16, stages=((16, 3, 1), (32, 3, 2), (64, 3, 2)),
                       time_input=time_input, mean_repeat=mean_repeat, name="resnet20")
