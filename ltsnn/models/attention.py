"""The attention VGGs of TA-SNN, MA-SNN and ASA-SNN (methods §6.2, §6.3; docs/methods/asa_trevsnn.md Part A),
CPU-sized, with the same network without attention as their baseline.

Every conv layer is conv3×3 → BN (over T·B) → attention on the currents → neuron, as BICLab's codes place it;
the FC head has none. The attention weights depend on T, so the models take ``time_steps`` and reject inputs
with another T (a config sets ``model.options.time_steps`` to ``data.n_time_bins``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ltsnn.layers import SeqToBatch
from ltsnn.layers.attention import AdvanceSpatialAttention, MultiDimAttention, TemporalAttention
from ltsnn.models.arch import conv_bn
from ltsnn.models.base import Size, SpikingModel
from ltsnn.models.registry import register_model
from ltsnn.neurons import NeuronSpec

ATTENTIONS = ("none", "ta", "ma", "asa")
# Why STSG by default: the attention gates shrink the currents (MA's three sigmoids by about 8x at init), so a
# deep layer can start silent, and SGP moves only the thresholds of neurons that fired.
STSG = NeuronSpec(threshold_grad="stsg")


class AttentionConv(nn.Module):
    """One layer: conv-BN, then the attention and the neuron (attention first unless ``attention_on_spikes``,
    ASA's ``asa_placement="spikes"``, which re-weights the output spikes instead)."""

    def __init__(self, conv: nn.Module, attention: nn.Module, neuron: nn.Module, *, attention_on_spikes: bool = False):
        super().__init__()
        self.conv, self.attention, self.neuron = conv, attention, neuron
        self.attention_on_spikes = attention_on_spikes

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        i_seq = self.conv(x_seq)
        if self.attention_on_spikes:
            return self.attention(self.neuron(i_seq))
        return self.neuron(self.attention(i_seq))


def _attention(kind: str, *, time_steps: int, channels: int, options: dict[str, Any]) -> nn.Module:
    if kind == "ta":
        return TemporalAttention(time_steps, **options)
    if kind == "ma":
        return MultiDimAttention(time_steps, channels, **options)
    if kind == "asa":
        return AdvanceSpatialAttention(time_steps, **options)
    return nn.Identity()


class AttentionVGG(SpikingModel):
    """``[input AP] → w C3 → AP2 → 2w C3 → AP2 → 2w C3 → AP2 → FC K``, attention in every conv layer.

    The shape follows the small DVS Gesture nets of the TA/MA-SNN codes (three conv layers, pooling after
    each), narrowed by ``width`` for CPU; ``input_pool`` average-pools the frames first (TA-SNN pools 128×128
    Gesture frames to 32×32). Convs are initialised Kaiming fan-out.

    Example:
        >>> ta_vgg(num_classes=5, time_steps=4)(torch.rand(4, 2, 2, 32, 32)).shape
        torch.Size([4, 2, 5])
    """

    def __init__(self, *, attention: str, in_channels: int, num_classes: int, input_size: Size, neuron: NeuronSpec,
                 time_steps: int, width: int, input_pool: int, attention_options: dict[str, Any],
                 attention_on_spikes: bool = False, name: str):
        super().__init__(name=name, in_channels=in_channels, input_size=input_size)
        if attention not in ATTENTIONS:
            raise ValueError(f"{name}: attention={attention!r}; expected one of {list(ATTENTIONS)}")
        if time_steps < 1 or width < 1 or input_pool < 1:
            raise ValueError(f"{name}: time_steps={time_steps}, width={width}, input_pool={input_pool}; "
                             f"expected each >= 1")
        self.time_steps = time_steps
        h, w = self.input_size
        h, w = h // input_pool // 8, w // input_pool // 8
        if h < 1 or w < 1:
            raise ValueError(f"{name}: input size {self.input_size} is too small for input_pool={input_pool} "
                             f"and three 2x2 poolings")
        layers: list[nn.Module] = [SeqToBatch(nn.AvgPool2d(input_pool))] if input_pool > 1 else []
        c = in_channels
        for i, out in enumerate((width, 2 * width, 2 * width)):
            conv = conv_bn(c, out)
            nn.init.kaiming_normal_(conv[0].weight, mode="fan_out", nonlinearity="relu")
            layers += [AttentionConv(conv,
                                     _attention(attention, time_steps=time_steps, channels=out,
                                                options=attention_options),
                                     neuron.build(channels=out, first=i == 0), attention_on_spikes=attention_on_spikes),
                       SeqToBatch(nn.AvgPool2d(2))]
            c = out
        self.features = nn.Sequential(*layers)
        self.head = SeqToBatch(nn.Flatten(), nn.Linear(c * h * w, num_classes))

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.shape[0] != self.time_steps:
            raise ValueError(f"{self.name} was built for time_steps={self.time_steps}, got T={x_seq.shape[0]}; "
                             f"expected the model option time_steps to equal the input's T")
        return self.features(x_seq)

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        return self.head(f_seq)


@register_model("gesture_vgg")
def gesture_vgg(*, in_channels: int = 2, num_classes: int = 11, input_size: Size = 32, neuron: NeuronSpec = STSG,
                time_steps: int = 2, width: int = 16, input_pool: int = 1) -> AttentionVGG:
    """The attention VGGs' baseline, no attention (ours: w C3-AP2-2w C3-AP2-2w C3-AP2-FC, w = 16)"""
    return AttentionVGG(attention="none", in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                        neuron=neuron, time_steps=time_steps, width=width, input_pool=input_pool,
                        attention_options={}, name="gesture_vgg")


@register_model("ta_vgg")
def ta_vgg(*, in_channels: int = 2, num_classes: int = 11, input_size: Size = 32, neuron: NeuronSpec = STSG,
           time_steps: int = 2, width: int = 16, input_pool: int = 1, ta_reduction: int = 1, ta_discard: str = "off",
           ta_discard_threshold: float = 0.5) -> AttentionVGG:
    """TA-SNN (Yao et al., ICCV 2021): gesture_vgg with temporal attention on every conv layer's currents"""
    return AttentionVGG(attention="ta", in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                        neuron=neuron, time_steps=time_steps, width=width, input_pool=input_pool,
                        attention_options={"reduction": ta_reduction, "discard": ta_discard,
                                           "discard_threshold": ta_discard_threshold}, name="ta_vgg")


@register_model("ma_vgg")
def ma_vgg(*, in_channels: int = 2, num_classes: int = 11, input_size: Size = 32, neuron: NeuronSpec = STSG,
           time_steps: int = 2, width: int = 16, input_pool: int = 1, ma_dims: str = "tcs", ma_t_ratio: int = 1,
           ma_c_ratio: int = 8, ma_kernel_size: int = 3, ma_output_relu: bool = True) -> AttentionVGG:
    """MA-SNN (Yao et al., TPAMI 2023): gesture_vgg with T, C and S attention on every conv layer's currents"""
    return AttentionVGG(attention="ma", in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                        neuron=neuron, time_steps=time_steps, width=width, input_pool=input_pool,
                        attention_options={"dims": ma_dims, "t_ratio": ma_t_ratio, "c_ratio": ma_c_ratio,
                                           "kernel_size": ma_kernel_size, "output_relu": ma_output_relu},
                        name="ma_vgg")


@register_model("asa_vgg")
def asa_vgg(*, in_channels: int = 2, num_classes: int = 11, input_size: Size = 32, neuron: NeuronSpec = STSG,
            time_steps: int = 2, width: int = 16, input_pool: int = 1, asa_reduction: int = 1, asa_split: float = 0.5,
            asa_combine: str = "xor", asa_batch_union: bool = True, asa_score_grad: str = "none",
            asa_avg_norm: str = "lambda", asa_placement: str = "input") -> AttentionVGG:
    """ASA-SNN (Yao et al., ICCV 2023): gesture_vgg with advance spatial attention on every conv layer's currents"""
    if asa_placement not in ("input", "spikes"):
        raise ValueError(f"asa_vgg: asa_placement={asa_placement!r}; expected 'input' or 'spikes'")
    return AttentionVGG(attention="asa", in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                        neuron=neuron, time_steps=time_steps, width=width, input_pool=input_pool,
                        attention_options={"reduction": asa_reduction, "split": asa_split, "combine": asa_combine,
                                           "batch_union": asa_batch_union, "score_grad": asa_score_grad,
                                           "avg_norm": asa_avg_norm},
                        attention_on_spikes=asa_placement == "spikes", name="asa_vgg")
