"""Spiking ResNet-19 for CIFAR (TET's variant, also used by LT-SNN and LM-HT), methods §4.2.

Layout (conv 3×3 without bias; BN over T·B; pooling and FCs applied per step)::

    stem:    conv3×3 in→S, BN, neuron (fixed threshold: it sees real-valued frames)
    stage 1: 3 basic blocks × 128 ch, stride 1  (1×1 projection on the first block when S ≠ 128)
    stage 2: 3 basic blocks × 256 ch, first stride 2 (1×1 stride-2 projection)
    stage 3: 2 basic blocks × 512 ch, first stride 2 (1×1 stride-2 projection)
    head:    global average pool → FC 512→256 → neuron (fixed threshold, TET/LT-SNN's ``LIFSpike``)
             → FC 256→num_classes (per-step logits, no neuron)

Basic block: conv3×3-BN-neuron-conv3×3-BN, plus the shortcut, then a neuron after the addition. The
block neurons use the model's ``threshold_grad`` (LT-SNN's ``ZIFArchTan``, learnable).

``stem_channels=64`` is the TET/LT-SNN code (≈ 12.62 M parameters at 10 classes); ``stem_channels=128``
is the tdBN-paper description (no projection in stage 1, ≈ 12.69 M).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
from torch import nn

from ltsnn.layers import SeqToBatch, batchnorm_bt
from ltsnn.models.common import NeuronFactory, as_pair, check_input, conv_bn
from ltsnn.models.registry import register_model

# (channels, blocks, stride of the first block) per stage
RESNET19_STAGES = ((128, 3, 1), (256, 3, 2), (512, 2, 2))


class BasicBlock(nn.Module):
    """conv3×3-BN-neuron-conv3×3-BN + shortcut, then a neuron; ``[T, B, C, H, W] -> [T, B, C', H', W']``."""

    def __init__(self, c_in: int, c_out: int, *, stride: int, neurons: NeuronFactory):
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, stride=stride, bias=False)
        self.spike1 = neurons(channels=c_out)
        self.conv2 = conv_bn(c_out, c_out, bias=False)
        if stride != 1 or c_in != c_out:
            self.shortcut: nn.Module = SeqToBatch(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                                  batchnorm_bt(c_out))
        else:
            self.shortcut = nn.Identity()
        self.spike2 = neurons(channels=c_out)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        y_seq = self.conv2(self.spike1(self.conv1(x_seq)))
        return self.spike2(y_seq + self.shortcut(x_seq))


def resnet_body(in_channels: int, stem_channels: int, stages: tuple[tuple[int, int, int], ...], *,
                neurons: Callable[..., nn.Module]) -> tuple[nn.Sequential, nn.Sequential, int]:
    """The stem (conv3×3-BN-activation, the encoding layer) and the stages of basic blocks.

    ``stages``: (channels, blocks, stride of the first block) per stage; ``neurons(channels=, first=)``
    builds each activation. Returns ``(stem, layers, channels out)``.
    """
    stem = nn.Sequential(conv_bn(in_channels, stem_channels, bias=False), neurons(channels=stem_channels, first=True))
    blocks: list[nn.Module] = []
    c = stem_channels
    for c_out, n_blocks, stride in stages:
        for i in range(n_blocks):
            blocks.append(BasicBlock(c, c_out, stride=stride if i == 0 else 1, neurons=neurons))
            c = c_out
    return stem, nn.Sequential(*blocks), c


class SpikingResNet(nn.Module):
    """A CIFAR-style spiking ResNet of basic blocks with a two-layer FC head (see the module docstring)."""

    def __init__(self, *, in_channels: int, num_classes: int, input_size: int | tuple[int, int],
                 neurons: NeuronFactory, head_neurons: NeuronFactory, stem_channels: int = 64,
                 stages: tuple[tuple[int, int, int], ...] = RESNET19_STAGES, hidden: int = 256,
                 name: str = "resnet"):
        super().__init__()
        self.name = name
        self.in_channels, self.input_size = in_channels, as_pair(input_size)
        if stem_channels < 1 or hidden < 1:
            raise ValueError(f"{name}: stem_channels and hidden must be >= 1, got {stem_channels}, {hidden}")
        self.stem, self.layers, c = resnet_body(in_channels, stem_channels, stages, neurons=neurons)
        self.pool_fc = SeqToBatch(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, hidden))
        self.fc_spike = head_neurons(channels=hidden)
        self.classifier = SeqToBatch(nn.Linear(hidden, num_classes))

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` frames -> ``[T, B, 512, H/4, W/4]`` feature spikes."""
        check_input(x_seq, self.in_channels, self.input_size, self.name)
        return self.layers(self.stem(x_seq))

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C', H', W']`` -> per-step logits ``[T, B, K]``."""
        h_seq = self.fc_spike(self.pool_fc(f_seq))                  # [T, B, hidden] spikes
        return self.classifier(h_seq)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x_seq))


@register_model("resnet19")
def resnet19(*, in_channels: int = 3, num_classes: int = 10, input_size: int | tuple[int, int] = 32,
             neuron: str = "lif", threshold_grad: str = "sgp", learn_first_threshold: bool = False,
             neuron_options: Mapping[str, Any] | None = None, stem_channels: int = 64,
             learn_head_threshold: bool = False) -> SpikingResNet:
    """ResNet-19 (TET/LT-SNN code: 64-ch stem + projection; stem_channels=128 for the tdBN description)

    Args:
        in_channels, num_classes, input_size: input ``[T, B, in_channels, H, W]``; CIFAR: 3, 10, 32.
        neuron, threshold_grad, neuron_options: the spiking neuron (``ltsnn.neurons``) and its options;
            ``threshold_grad`` applies to the block neurons.
        learn_first_threshold: let the stem neuron learn its threshold (fixed in the LT-SNN code).
        stem_channels: 64 (TET/LT-SNN/LM-HT code) or 128 (tdBN paper, no projection in stage 1).
        learn_head_threshold: let the neuron between the two FC layers learn (fixed in the code).

    Returns:
        a :class:`SpikingResNet` mapping ``[T, B, C, H, W]`` to per-step logits ``[T, B, K]``.
    """
    neurons = NeuronFactory(neuron, threshold_grad=threshold_grad, learn_first_threshold=learn_first_threshold,
                            neuron_options=neuron_options)
    head_neurons = NeuronFactory(neuron, threshold_grad=threshold_grad if learn_head_threshold else "fixed",
                                 neuron_options=neuron_options)
    return SpikingResNet(in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                         neurons=neurons, head_neurons=head_neurons, stem_channels=stem_channels,
                         name="resnet19")
