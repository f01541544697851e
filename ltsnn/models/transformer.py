"""The Spike-driven Transformer (Yao et al., NeurIPS 2023; methods §6.1): SDSA, the MLP block and a small network.

Membrane-shortcut ("MS") residuals: the residual stream carries real-valued membrane inputs and every branch
starts with a spiking neuron, so every conv sees binary spikes. SDSA is the mask-and-add form of the code
(``module/ms_conv.py::MS_SSA_Conv``): Q ⊙ SN(Σ_tokens K ⊙ V), linear in tokens and channels.
"""

from __future__ import annotations

import dataclasses
import inspect

import torch
from torch import nn

from ltsnn.layers import SeqToBatch
from ltsnn.models.arch import conv_bn
from ltsnn.models.base import Size, SpikingModel
from ltsnn.models.registry import register_model
from ltsnn.neurons import NEURONS, NeuronSpec


def spike_driven_attention(q_seq: torch.Tensor, k_seq: torch.Tensor, v_seq: torch.Tensor, fire) -> torch.Tensor:
    """SDSA's mask-and-add on binary ``[T, B, C, H, W]`` spikes: Q ⊙ fire(Σ_{h,w} K ⊙ V).

    The column sum runs over the N = H·W tokens per (t, b, c); ``fire`` maps the sums ``[T, B, C, 1, 1]`` to
    spikes (the KV neuron). The heads of the code do not change this: every operation is per channel.

    Example:
        >>> q = k = v = torch.ones(1, 1, 2, 2, 2)
        >>> spike_driven_attention(q, k, v, lambda s: (s >= 0.5).float()).sum()
        tensor(8.)
    """
    kv = (k_seq * v_seq).sum(dim=(3, 4), keepdim=True)            # [T, B, C, 1, 1]
    return q_seq * fire(kv)


class SpikeDrivenAttention(nn.Module):
    """The mask-and-add core of SDSA with its KV neuron; it states its own operations (all accumulates).

    ``synaptic_ops``: one AC per spike entering a mask (each K spike gated by V, each Q spike gated by the KV
    spikes) and one per addition into the column sums (each spike of K ⊙ V): nnz(K) + nnz(Q) + nnz(K ⊙ V).
    """

    def __init__(self, kv_neuron: nn.Module):
        super().__init__()
        self.kv_neuron = kv_neuron

    def forward(self, q_seq: torch.Tensor, k_seq: torch.Tensor, v_seq: torch.Tensor) -> torch.Tensor:
        return spike_driven_attention(q_seq, k_seq, v_seq, self.kv_neuron)

    def synaptic_ops(self, inputs: tuple, output: torch.Tensor) -> dict[str, float]:
        q, k, v = inputs
        return {"mac": 0.0, "ac": float((k != 0).sum() + (q != 0).sum() + ((k * v) != 0).sum())}


def _with_threshold(neuron: NeuronSpec, v_th: float) -> NeuronSpec:
    """``neuron`` with its threshold set to ``v_th`` where the neuron has one (the KV neuron of SDSA: 0.5)."""
    if "v_th" not in inspect.signature(NEURONS.lookup(neuron.name)).parameters:
        return neuron
    return dataclasses.replace(neuron, options={**neuron.options, "v_th": v_th})


class SDSABlock(nn.Module):
    """x + BN(Conv1x1(SDSA(Q, K, V))) with Q, K, V = SN(BN(Conv1x1(SN(x)))) (no bias in q/k/v; the projection
    has one). Input and output: the real-valued residual stream ``[T, B, C, H, W]``.

    Example:
        >>> SDSABlock(8, neuron=NeuronSpec())(torch.randn(2, 1, 8, 4, 4)).shape
        torch.Size([2, 1, 8, 4, 4])
    """

    def __init__(self, dim: int, *, neuron: NeuronSpec, kv_threshold: float = 0.5):
        super().__init__()
        self.shortcut_neuron = neuron.build(channels=dim)
        self.q, self.k, self.v = (conv_bn(dim, dim, kernel=1, bias=False) for _ in range(3))
        self.q_neuron, self.k_neuron, self.v_neuron = (neuron.build(channels=dim) for _ in range(3))
        self.attention = SpikeDrivenAttention(_with_threshold(neuron, kv_threshold).build(channels=dim))
        self.proj = conv_bn(dim, dim, kernel=1)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        s_seq = self.shortcut_neuron(x_seq)
        a_seq = self.attention(self.q_neuron(self.q(s_seq)), self.k_neuron(self.k(s_seq)), self.v_neuron(self.v(s_seq)))
        return x_seq + self.proj(a_seq)


class MLPBlock(nn.Module):
    """x + BN(Conv1x1(SN(BN(Conv1x1(SN(x)))))), hidden width ``ratio``·C (the code's MS_MLP)."""

    def __init__(self, dim: int, *, neuron: NeuronSpec, ratio: int = 4):
        super().__init__()
        hidden = dim * ratio
        self.net = nn.Sequential(neuron.build(channels=dim), conv_bn(dim, hidden, kernel=1),
                                 neuron.build(channels=hidden), conv_bn(hidden, dim, kernel=1))

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return x_seq + self.net(x_seq)


class SpikeDrivenTransformer(SpikingModel):
    """Patch embedding (conv-BN-SN-pool twice, then a conv-BN relative position embedding on spikes), ``depth``
    × (SDSA block, MLP block), and a head SN → global average → Linear, per time step.

    The embedding is a shortened SPS (the code has four conv stages; two here, for CPU-sized inputs): each
    stage halves H and W. The first neuron sees the frames and keeps a fixed threshold (``learn_first_threshold``).
    """

    def __init__(self, *, in_channels: int, num_classes: int, input_size: Size, neuron: NeuronSpec, dim: int,
                 depth: int, mlp_ratio: int, kv_threshold: float, name: str):
        super().__init__(name=name, in_channels=in_channels, input_size=input_size)
        h, w = self.input_size
        if dim < 2 or depth < 1 or mlp_ratio < 1:
            raise ValueError(f"{name}: dim={dim}, depth={depth}, mlp_ratio={mlp_ratio}; expected dim >= 2, "
                             f"depth >= 1, mlp_ratio >= 1")
        if h < 4 or w < 4:
            raise ValueError(f"{name}: input size {self.input_size} is too small; expected at least 4x4")
        half = dim // 2
        self.embed = nn.Sequential(conv_bn(in_channels, half), neuron.build(channels=half, first=True),
                                   SeqToBatch(nn.MaxPool2d(2)), conv_bn(half, dim), SeqToBatch(nn.MaxPool2d(2)))
        self.position = nn.Sequential(neuron.build(channels=dim), conv_bn(dim, dim))
        self.blocks = nn.Sequential(*(nn.Sequential(SDSABlock(dim, neuron=neuron, kv_threshold=kv_threshold),
                                                    MLPBlock(dim, neuron=neuron, ratio=mlp_ratio))
                                      for _ in range(depth)))
        self.head_neuron = neuron.build(channels=dim)
        self.head = SeqToBatch(nn.Linear(dim, num_classes))

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        x_seq = self.embed(x_seq)                                  # [T, B, D, H/4, W/4], the residual stream
        return self.blocks(x_seq + self.position(x_seq))

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_neuron(f_seq).mean(dim=(3, 4)))   # [T, B, D, H', W'] -> [T, B, D] -> [T, B, K]


@register_model("sdt_tiny")
def sdt_tiny(*, in_channels: int = 2, num_classes: int = 10, input_size: Size = 32, neuron: NeuronSpec = NeuronSpec(),
             dim: int = 64, depth: int = 1, mlp_ratio: int = 4, kv_threshold: float = 0.5) -> SpikeDrivenTransformer:
    """Spike-driven Transformer, CPU-sized (ours: 2-stage embedding, dim 64, 1 block; the paper's DVS model is 256 x 2)"""
    return SpikeDrivenTransformer(in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                                  neuron=neuron, dim=dim, depth=depth, mlp_ratio=mlp_ratio,
                                  kv_threshold=kv_threshold, name="sdt_tiny")
