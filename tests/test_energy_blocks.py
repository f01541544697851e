"""Blocks that state their own operations (SDSA's mask-and-add, the attention blocks) and the pruned-synapse
count in :class:`~ltsnn.engine.energy.SynapticOpsMonitor`, on hand-computed examples."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from ltsnn.engine.energy import SynapticOpsMonitor, layer_flops
from ltsnn.layers import SeqToBatch
from ltsnn.layers.attention import AdvanceSpatialAttention, TemporalAttention
from ltsnn.models.transformer import SpikeDrivenAttention


class Heaviside(nn.Module):
    def forward(self, x):
        return (x >= 0.5).to(x.dtype)


class QKV(nn.Module):
    """x = stack(q, k, v) on a leading axis -> SDSA(q, k, v)."""

    def __init__(self):
        super().__init__()
        self.sdsa = SpikeDrivenAttention(Heaviside())

    def forward(self, x):
        return self.sdsa(x[0], x[1], x[2])


def test_sdsa_counts_mask_and_add_as_accumulates():
    # T = 1, B = 2, C = 1, three tokens (H = 1, W = 3).
    q = torch.tensor([[1.0, 1, 1], [0, 1, 0]])
    k = torch.tensor([[1.0, 1, 0], [0, 0, 0]])
    v = torch.tensor([[1.0, 0, 1], [1, 1, 1]])
    x = torch.stack([q, k, v])[:, None, :, None, None, :]           # [3, T=1, B=2, C=1, H=1, W=3]
    model = QKV()
    with SynapticOpsMonitor(model) as ops:
        model(x)
    s = ops.summary()
    # nnz(K) = 2, nnz(Q) = 3 + 1 = 4, nnz(K ⊙ V) = 1 (sample 0, token 0): 7 ACs for 2 samples, 3.5 each.
    block = s["blocks"]["sdsa"]
    assert (block["mac"], block["ac"]) == (0.0, 3.5)
    assert block["snn_energy_pj"] == pytest.approx(0.9 * 3.5) and block["ann_energy_pj"] == pytest.approx(4.6 * 3.5)
    assert s["total"]["sops"] == 3.5 and s["total"]["snn_energy_pj"] == pytest.approx(3.15)


def test_attention_block_counts_macs_and_its_layers_are_not_counted_twice():
    T, B = 2, 3
    model = nn.Sequential(TemporalAttention(T), SeqToBatch(nn.Conv2d(1, 1, 1, bias=False)))
    with SynapticOpsMonitor(model) as ops, torch.no_grad():
        model(torch.ones(T, B, 1, 2, 2))
    s = ops.summary()
    # TA per sample: squeeze T·C·H·W = 8, excite 2·T·hidden = 2·2·2 = 8, re-weight T·C·H·W = 8: 24 MACs.
    assert s["blocks"]["0"]["mac"] == 24.0 and s["blocks"]["0"]["label"] == "TemporalAttention"
    assert list(s["layers"]) == ["1.0"]                              # fc1 / fc2 belong to TA
    conv = s["layers"]["1.0"]                                       # the first layer: T·FLOPs = 2·4 MACs
    assert conv["ops"] == 8 and s["total"]["macs"] == 24 + 8
    assert s["total"]["snn_energy_pj"] == pytest.approx(4.6 * 32)


def test_asa_ops_follow_the_methods_note():
    asa = AdvanceSpatialAttention(4)
    ops = asa.synaptic_ops((torch.zeros(4, 2, 3, 5, 5),), torch.zeros(4, 2, 3, 5, 5))
    # per sample 7·T·C·H·W + 36·H·W + C·T² = 7·300 + 900 + 48 = 3048, two samples.
    assert ops == {"mac": 2 * 3048.0, "ac": 0.0}


class HalfMask(nn.Module):
    def forward(self, w):
        mask = torch.zeros_like(w)
        mask.view(-1)[::2] = 1
        return w * mask


def test_pruned_synapses_cost_nothing():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    out = conv(torch.zeros(1, 2, 4, 4))
    assert layer_flops(conv, out) == 2 * 3 * 9 * 16                 # dense: every weight counts
    parametrize.register_parametrization(conv, "weight", HalfMask())
    assert layer_flops(conv, out) == 27 * 16                        # 54 weights, 27 alive, 16 positions
    fc = nn.Linear(4, 2)
    parametrize.register_parametrization(fc, "weight", HalfMask())
    assert layer_flops(fc, torch.zeros(1, 2)) == 4


def test_models_that_loop_over_the_steps_are_counted_per_step():
    from ltsnn.models import create_model

    torch.manual_seed(0)
    model = create_model("trevsnn_tiny", num_classes=3, input_size=8, channels=(4, 4, 4, 4)).eval()
    with SynapticOpsMonitor(model) as ops, torch.no_grad():
        model(torch.rand(3, 2, 2, 8, 8))                            # T = 3 columns, B = 2
    s = ops.summary()
    stem = s["layers"]["columns.0.stem"]                            # the encoding conv, 2 -> 4, 3x3, 8x8 out
    assert stem["flops"] == 2 * 4 * 9 * 64 and stem["ops"] == 3 * stem["flops"] and stem["samples"] == 2
    assert s["time_steps"] == 3 and all(v["samples"] == 2 for v in s["layers"].values())


def test_sdt_reports_its_attention_block():
    from ltsnn.models import create_model

    torch.manual_seed(0)
    model = create_model("sdt_tiny", num_classes=3, input_size=8, dim=4).eval()
    with SynapticOpsMonitor(model) as ops, torch.no_grad():
        model(torch.rand(2, 2, 2, 8, 8))
    block = ops.summary()["blocks"]["blocks.0.0.attention"]
    assert block["label"] == "SpikeDrivenAttention" and block["mac"] == 0.0 and block["ac"] >= 0.0
