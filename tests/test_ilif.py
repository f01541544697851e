"""SpikeYOLO's I-LIF: spec §8 oracle, its straight-through gradient, Gen1 preset, binary expansion (§5.1-5.2)."""

import pytest
import torch

from ltsnn.functional.ilif import (
    expand_integer_spikes,
    ilif_gen1_multistep,
    ilif_multistep,
    integer_spike,
)
from ltsnn.neurons import NeuronSpec, create_neuron, reset_states
from ltsnn.neurons.ilif import ILIFNeuron

D = torch.float64


def test_spec_ilif_oracle():
    # D = 4, β = 0.25, X = [2.6, 1.0, 5.5]: U = 2.6, 0.9, 5.475 -> S = 3, 1, 4; H = −0.1, −0.025, 0.36875
    x = torch.tensor([2.6, 1.0, 5.5], dtype=D).view(3, 1)
    s, _ = ilif_multistep(x)
    assert s.flatten().tolist() == [3.0, 1.0, 4.0]
    for steps, h_expected in ((1, -0.1), (2, -0.025), (3, 0.36875)):
        _, h = ilif_multistep(x[:steps])
        assert h.item() == pytest.approx(h_expected, abs=1e-12)
    bits = expand_integer_spikes(s, 4)
    assert bits.shape == (12, 1) and bits.flatten().tolist() == [1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1]


def test_ilif_gradient_straight_through_and_temporal():
    # ∂S/∂U = 1, 1, 0 (U3 = 5.475 > D). Temporal path: U2 = H1 + X2, H1 = β·(U1 − sg[S1]) so ∂U2/∂X1 = β.
    # ∂ΣS/∂X1 = 1 + β·1 + β²·0 = 1.25, ∂ΣS/∂X2 = 1 + β·0 = 1, ∂ΣS/∂X3 = 0.
    x = torch.tensor([2.6, 1.0, 5.5], dtype=D).view(3, 1).requires_grad_()
    s, _ = ilif_multistep(x)
    s.sum().backward()
    assert x.grad.flatten().tolist() == pytest.approx([1.25, 1.0, 0.0])


@pytest.mark.parametrize("u,grad", [(-0.01, 0.0), (0.0, 1.0), (2.0, 1.0), (4.0, 1.0), (4.01, 0.0)])
def test_straight_through_window_is_inclusive(u, grad):
    u = torch.tensor(u, dtype=D, requires_grad=True)
    integer_spike(u, levels=4).backward()
    assert u.grad.item() == grad


def test_round_half_to_even():
    s = integer_spike(torch.tensor([0.5, 1.5, 2.5, 3.5], dtype=D), levels=4)
    assert s.tolist() == [0.0, 2.0, 2.0, 4.0]


def test_gen1_hand_trajectory():
    # τ = 2: U1 = 0 + 2.6/2 = 1.3 -> S = 1, H = 0.3; U2 = 0.3 + (1.0 − 0.3)/2 = 0.65 -> S = 1, H = −0.35
    x = torch.tensor([2.6, 1.0], dtype=D).view(2, 1).requires_grad_()
    s, h = ilif_gen1_multistep(x)
    assert s.flatten().tolist() == [1.0, 1.0] and h.item() == pytest.approx(-0.35)
    s.sum().backward()                                              # ∂U1/∂X1 = ½, ∂U2/∂U1 = ½ (reset detached)
    assert x.grad.flatten().tolist() == pytest.approx([0.75, 0.5])


@pytest.mark.parametrize("layer", ["conv", "linear"])
def test_binary_expansion_leaves_the_next_layer_input_unchanged(layer):
    gen = torch.Generator().manual_seed(1)
    steps, levels = 3, 4
    if layer == "conv":
        s = torch.randint(0, levels + 1, (steps, 2, 3, 5, 5), generator=gen).to(D)
        op = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False).double()
    else:
        s = torch.randint(0, levels + 1, (steps, 2, 6), generator=gen).to(D)
        op = torch.nn.Linear(6, 4, bias=False).double()
    with torch.no_grad():    # weights on a 1/16 grid: every sum is exact in float64, whatever its order
        op.weight.copy_(torch.randint(-8, 9, op.weight.shape, generator=gen).to(D) / 16)
        bits = expand_integer_spikes(s, levels)                     # [T·D, B, ...]
        assert set(bits.unique().tolist()) <= {0.0, 1.0}
        summed = op(bits.flatten(0, 1)).unflatten(0, (steps, levels, s.shape[1])).sum(1)  # [T, B, ...]
        assert torch.equal(summed, op(s.flatten(0, 1)).unflatten(0, s.shape[:2]))


def test_expand_rejects_non_integer_or_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        expand_integer_spikes(torch.tensor([[5.0]]), 4)
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        expand_integer_spikes(torch.tensor([[1.5]]), 4)


@pytest.mark.parametrize("name", ["ilif", "ilif_gen1"])
def test_neuron_module_contract(name):
    neuron = create_neuron(name)
    x = (torch.randn(2, 2, 3, 4, 4) * 3).requires_grad_()
    y1 = neuron(x)
    reset_states(torch.nn.Sequential(neuron))
    y2 = neuron(x)
    assert y1.shape == x.shape and torch.equal(y1, y2)
    assert torch.equal(y1, y1.round()) and y1.min() >= 0 and y1.max() <= 4
    y2.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not neuron.learnable and "v_th" not in neuron.state_dict()      # integer levels, no threshold


def test_bad_options_raise():
    with pytest.raises(ValueError, match=r"threshold_grad 'sgp'; expected one of \['fixed'\]"):
        NeuronSpec("ilif", threshold_grad="sgp").build(channels=1)
    with pytest.raises(ValueError, match="levels >= 1"):
        ILIFNeuron(levels=0)
