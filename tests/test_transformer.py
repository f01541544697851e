"""The Spike-driven Transformer (ltsnn/models/transformer.py): SDSA's mask-and-add against dense attention written
in float64, and the blocks' structure (methods §6.1)."""

from __future__ import annotations

import torch

from ltsnn.models import create_model
from ltsnn.models.transformer import MLPBlock, SDSABlock, spike_driven_attention
from ltsnn.neurons import NeuronSpec

D = torch.float64


def _spikes(*shape, p=0.5, seed=0):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < p).to(D)


def _heaviside(s: torch.Tensor) -> torch.Tensor:
    return (s >= 0.5).to(s.dtype)


def test_mask_and_add_equals_dense_attention_on_binary_qkv():
    T, B, C, H, W = 2, 3, 4, 3, 2
    q, k, v = (_spikes(T, B, C, H, W, seed=s) for s in range(3))
    got = spike_driven_attention(q, k, v, _heaviside)
    N = H * W
    for t in range(T):
        for b in range(B):
            # Tokens as rows: Q, K, V are [N, C]; per channel the dense attention is Q_c (K_c^T V_c), a
            # column of the N×N product (Q_c K_c^T) V_c, and SDSA fires on K_c^T V_c before the mask.
            Qm, Km, Vm = (x[t, b].reshape(C, N).t() for x in (q, k, v))
            for c in range(C):
                scores = torch.outer(Qm[:, c], Km[:, c])                     # [N, N]
                dense = scores @ Vm[:, c]                                     # [N]: Q_c · (K_c · V_c)
                kv = sum(float(Km[m, c]) * float(Vm[m, c]) for m in range(N))
                fired = 1.0 if kv >= 0.5 else 0.0
                expected = Qm[:, c] * fired
                if kv > 0:
                    torch.testing.assert_close(dense / kv * fired, expected)  # the same attention, fired once
                torch.testing.assert_close(got[t, b, c].reshape(N), expected)
    assert set(got.unique().tolist()) <= {0.0, 1.0}


def test_kv_neuron_fires_at_half_and_spikes_feed_every_conv():
    torch.manual_seed(0)
    block = SDSABlock(4, neuron=NeuronSpec()).double()
    assert block.attention.kv_neuron.v_th.item() == 0.5 and block.q_neuron.v_th.item() == 1.0
    seen = []
    for conv in (block.q, block.k, block.v, block.proj):
        conv.register_forward_pre_hook(lambda m, i: seen.append(set(i[0].unique().tolist()) <= {0.0, 1.0}))
    x = torch.randn(2, 2, 4, 3, 3, dtype=D) * 2
    y = block(x)
    assert all(seen) and len(seen) == 4 and y.shape == x.shape


def test_mlp_block_is_a_residual_with_spiking_inputs():
    torch.manual_seed(0)
    block = MLPBlock(4, neuron=NeuronSpec(), ratio=2).double()
    x = torch.randn(2, 2, 4, 3, 3, dtype=D)
    torch.testing.assert_close(block(x) - x, block.net(x))
    assert block.net[1][0].out_channels == 8


def test_sdt_tiny_shapes_and_options():
    model = create_model("sdt_tiny", num_classes=5, input_size=16, dim=8, depth=2)
    out = model(torch.rand(3, 2, 2, 16, 16))
    assert out.shape == (3, 2, 5) and len(model.blocks) == 2
