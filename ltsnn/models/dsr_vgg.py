"""DSR's VGG-11 for DVS-CIFAR10, the "VGG-11" of LT-SNN Tables 1 and 4 (methods §1.7, §4.3).

Layout (DSR `cifar/modules/vgg.py`, cfg 'VGG11')::

    64C-AP-128C-AP-256C-256C-AP-512C-512C-AP-512C-512C-AP       C = conv3×3 (bias) → BN → neuron → dropout
    → AdaptiveAvgPool(7×7) → flatten (512·7·7 = 25088) → Linear(25088, K) → BN1d → neuron

The output is the last neuron's per-step output ``[T, B, K]``; with a DSR neuron its mean over T is
DSR's firing rate (DSR's LIF reads out an exponentially *weighted* rate instead; a plain mean is used
for every neuron here). Dropout (0.1) follows each conv neuron, not the output neuron, as in DSR's
code. At 48×48 input the five poolings leave 1×1, which the adaptive pool replicates to 7×7, so the
classifier has 25088 inputs whatever the input size (≈ 9.48 M parameters at 2 channels, 10 classes).
DSR learns every threshold; here the first conv's neuron keeps a fixed threshold unless
``learn_first_threshold`` (the LT-SNN convention shared by all models of this package).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ltsnn.layers import SeqToBatch
from ltsnn.models.common import NeuronFactory, as_pair, check_input, conv_bn
from ltsnn.models.registry import register_model

DSR_VGG11 = (64, "AP", 128, "AP", 256, 256, "AP", 512, 512, "AP", 512, 512, "AP")


class DSRVGG(nn.Module):
    """Conv stack of DSR's VGG, adaptive pooling to 7×7, and a spiking Linear-BN1d-neuron output layer."""

    def __init__(self, cfg: tuple[int | str, ...], *, in_channels: int, num_classes: int,
                 input_size: int | tuple[int, int], neurons: NeuronFactory, dropout: float = 0.1,
                 pool_size: int = 7, name: str = "vgg11"):
        super().__init__()
        self.name = name
        self.in_channels, self.input_size = in_channels, as_pair(input_size)
        h, w = self.input_size
        layers: list[nn.Module] = []
        c, first = in_channels, True
        for item in cfg:
            if item == "AP":
                layers.append(SeqToBatch(nn.AvgPool2d(2)))
                h, w = h // 2, w // 2
            else:
                layers += [conv_bn(c, int(item)), neurons(channels=int(item), first=first),
                           SeqToBatch(nn.Dropout(dropout))]
                c, first = int(item), False
        if h < 1 or w < 1:
            raise ValueError(f"{name}: input size {self.input_size} is too small ({cfg.count('AP')} poolings)")
        self.features = nn.Sequential(*layers)
        self.fc = SeqToBatch(nn.AdaptiveAvgPool2d(pool_size), nn.Flatten(),
                             nn.Linear(c * pool_size * pool_size, num_classes), nn.BatchNorm1d(num_classes))
        self.out_spike = neurons(channels=num_classes)
        for m in self.modules():                                    # DSR's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` frames -> ``[T, B, 512, H/32, W/32]`` feature spikes."""
        check_input(x_seq, self.in_channels, self.input_size, self.name)
        return self.features(x_seq)

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C', H', W']`` -> per-step outputs of the spiking output layer ``[T, B, K]``."""
        return self.out_spike(self.fc(f_seq))                      # fc: [T, B, C', H', W'] -> [T, B, K]

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x_seq))


@register_model("vgg11")
def vgg11(*, in_channels: int = 2, num_classes: int = 10, input_size: int | tuple[int, int] = 48,
          neuron: str = "lif", threshold_grad: str = "sgp", learn_first_threshold: bool = False,
          neuron_options: Mapping[str, Any] | None = None, dropout: float = 0.1) -> DSRVGG:
    """DSR's VGG-11, the 'VGG-11' of LT-SNN Tables 1/4 (spiking output layer; 9.48 M at 2x48x48)

    Args:
        in_channels, num_classes, input_size: input ``[T, B, in_channels, H, W]`` (DVS-CIFAR10: 2, 10, 48);
            H and W must be at least 32.
        neuron, threshold_grad, neuron_options: the spiking neuron (e.g. ``"dsr_lif"`` for DSR itself).
        learn_first_threshold: let the first conv's neuron learn its threshold (DSR does).
        dropout: after each conv neuron (DSR: 0.1).

    Returns:
        a :class:`DSRVGG` mapping ``[T, B, C, H, W]`` to per-step outputs ``[T, B, K]``.
    """
    neurons = NeuronFactory(neuron, threshold_grad=threshold_grad, learn_first_threshold=learn_first_threshold,
                            neuron_options=neuron_options)
    return DSRVGG(DSR_VGG11, in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                  neurons=neurons, dropout=dropout, name="vgg11")
