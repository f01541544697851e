"""Pieces shared by the spiking models: the neuron factory and the conv-BN-neuron block."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ltsnn.layers import SeqToBatch, batchnorm_bt
from ltsnn.neurons import create_neuron


class NeuronFactory:
    """Builds the neurons of one model with shared options.

    ``threshold_grad`` applies to every learnable layer; layers built with ``first=True`` (the encoding
    layer, which sees real-valued frames) keep a fixed threshold unless ``learn_first_threshold``, as in
    the LT-SNN code (methods §1.3).
    """

    def __init__(self, neuron: str = "lif", *, threshold_grad: str = "sgp", learn_first_threshold: bool = False,
                 neuron_options: Mapping[str, Any] | None = None):
        self.neuron = neuron
        self.threshold_grad = threshold_grad
        self.learn_first_threshold = learn_first_threshold
        self.options = dict(neuron_options or {})
        self(channels=1)                                            # fail now on a bad name or option

    def __call__(self, *, channels: int, first: bool = False) -> nn.Module:
        grad = "fixed" if first and not self.learn_first_threshold else self.threshold_grad
        kw = dict(self.options)
        if kw.get("threshold_shape") == "channel":
            kw["channels"] = channels
        try:
            return create_neuron(self.neuron, threshold_grad=grad, **kw)
        except TypeError as e:
            raise ValueError(f"neuron {self.neuron!r}: bad neuron_options {sorted(self.options)}: {e}") from None


def conv_bn(c_in: int, c_out: int, *, kernel: int = 3, stride: int = 1, groups: int = 1,
            bias: bool = True) -> SeqToBatch:
    """Conv (padding keeps the size at stride 1) + BN over T·B, applied per time step."""
    return SeqToBatch(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=bias),
                      batchnorm_bt(c_out))


def as_pair(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    if len(size) != 2:
        raise ValueError(f"input_size must be an int or (H, W), got {size!r}")
    return int(size[0]), int(size[1])


def check_input(x_seq: torch.Tensor, in_channels: int, input_size: tuple[int, int], model: str) -> None:
    """One-line error for an input of the wrong shape."""
    if x_seq.dim() != 5 or x_seq.shape[2] != in_channels or tuple(x_seq.shape[3:]) != input_size:
        raise ValueError(f"{model} expects input [T, B, {in_channels}, {input_size[0]}, {input_size[1]}], "
                         f"got {tuple(x_seq.shape)}")
