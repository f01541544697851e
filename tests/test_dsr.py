"""DSR neurons (methods §1.4): hand-computed forward trajectories and the rate-based backward."""

from __future__ import annotations

import math

import pytest
import torch

from ltsnn.functional.dsr import dsr_if_multistep, dsr_lif_multistep, dsr_lif_weights
from ltsnn.neurons import NeuronSpec, create_neuron, reset_states
from ltsnn.neurons.dsr import DSRIFNeuron, DSRLIFNeuron

F64 = torch.float64


def _col(values) -> torch.Tensor:
    return torch.tensor(values, dtype=F64).view(-1, 1)             # [T] -> [T, B=1]


# ---------------------------------------------------------------- forward


def test_if_forward_hand_trajectory():
    # V_th = 2, α = 0.5: fire when u >= 1, spike value 2, soft reset u -= 2.
    # u1 = 0.6 -> 0; u2 = 1.4 -> 2, v = -0.6; u3 = 1.2 -> 2, v = -0.8; u4 = -1.2 -> 0; u5 = 0.0 -> 0.
    s, v = dsr_if_multistep(_col([0.6, 0.8, 1.8, -0.4, 1.2]), 2.0, alpha=0.5)
    torch.testing.assert_close(s, _col([0.0, 2.0, 2.0, 0.0, 0.0]))
    torch.testing.assert_close(v, torch.zeros(1, dtype=F64))


def test_if_fires_on_equality():
    s, v = dsr_if_multistep(_col([0.5]), 1.0, alpha=0.5)
    assert s.item() == 1.0 and v.item() == -0.5


def test_lif_forward_hand_trajectory():
    # Δt/τ = ln 2 makes β = 1/2: u_t = v/2 + x/2. V_th = 1, α = 0.5 (fire at u >= 0.5), output s/Δt.
    # u1 = 0.4 -> 0; u2 = 0.2 + 0.35 = 0.55 -> 1, v = -0.45; u3 = -0.225 + 1 = 0.775 -> 1, v = -0.225;
    # u4 = -0.1125 -> 0, v = -0.1125.
    dt = math.log(2.0)
    out, v = dsr_lif_multistep(_col([0.8, 0.7, 2.0, 0.0]), 1.0, alpha=0.5, tau=1.0, delta_t=dt)
    torch.testing.assert_close(out, _col([0.0, 1.0, 1.0, 0.0]) / dt)
    torch.testing.assert_close(v, torch.tensor([-0.1125], dtype=F64))


def test_lif_weights():
    w = dsr_lif_weights(3, tau=2.0, delta_t=0.5, dtype=F64)
    torch.testing.assert_close(w, torch.tensor([math.exp(-0.5), math.exp(-0.25), 1.0], dtype=F64))


@pytest.mark.parametrize("fn", [dsr_if_multistep, dsr_lif_multistep])
def test_state_continues_a_stream(fn):
    x = torch.randn(8, 3, 5, dtype=F64, generator=torch.Generator().manual_seed(0)) + 0.5
    whole, v_whole = fn(x, 0.4)
    a, v_a = fn(x[:3], 0.4)
    b, v_b = fn(x[3:], 0.4, v_init=v_a)
    torch.testing.assert_close(torch.cat([a, b]), whole)
    torch.testing.assert_close(v_b, v_whole)


# ---------------------------------------------------------------- backward


def _random(steps=6, seed=0, scale=0.8, shift=0.0):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(steps, 4, 5, dtype=F64, generator=gen) * scale + shift).requires_grad_(True)
    g = torch.randn(steps, 4, 5, dtype=F64, generator=gen)
    return x, g


def test_if_backward_matches_formula():
    x, g = _random(steps=6)
    v_th = torch.tensor([0.5], dtype=F64, requires_grad=True)
    s, _ = dsr_if_multistep(x, v_th, alpha=0.5)
    (s * g).sum().backward()

    steps = x.shape[0]
    r = x.detach().mean(0)
    big_g = g.sum(0)
    inside = (r >= 0) & (r <= 0.5)
    above = r > 0.5
    assert inside.any() and above.any() and (r < 0).any()        # every region is exercised
    expected_x = torch.where(inside, big_g / steps, torch.zeros_like(big_g)).expand(steps, -1, -1)
    torch.testing.assert_close(x.grad, expected_x)
    torch.testing.assert_close(v_th.grad, (big_g * above).sum().view(1))


def test_lif_backward_matches_formula():
    # τ = 2 separates DSR's two masks: input window (0, V_th·τ/Δt) = (0, 2), V_th mask r > V_th/Δt = 1.
    tau, dt, vth = 2.0, 0.05, 0.05
    x, g = _random(steps=7, seed=1, scale=3.0, shift=0.5)
    v_th = torch.tensor([vth], dtype=F64, requires_grad=True)
    out, _ = dsr_lif_multistep(x, v_th, alpha=0.3, tau=tau, delta_t=dt)
    (out * g).sum().backward()

    steps = x.shape[0]
    w = [math.exp(-(steps * dt - i * dt) / tau) for i in range(1, steps + 1)]
    r = sum(w[i] * x.detach()[i] for i in range(steps)) / sum(w)
    g_w = steps * sum(w[i] * g[i] for i in range(steps)) / sum(w)
    inside = (r > 0) & (r < vth * tau / dt)
    above = r > vth / dt
    assert inside.any() and above.any() and (r <= 0).any() and (r >= vth * tau / dt).any()
    expected_x = torch.where(inside, g_w / (tau * steps), torch.zeros_like(g_w)).expand(steps, -1, -1)
    torch.testing.assert_close(x.grad, expected_x)
    torch.testing.assert_close(v_th.grad, (dt * (g_w * above).sum()).view(1))


def test_no_gradient_through_initial_membrane():
    x, g = _random(steps=4)
    v0 = torch.full((4, 5), 0.3, dtype=F64, requires_grad=True)
    s, v_last = dsr_if_multistep(x, 1.0, v_init=v0)
    assert not v_last.requires_grad
    (s * g).sum().backward()
    assert v0.grad is None


# ---------------------------------------------------------------- modules


@pytest.mark.parametrize("name", ["dsr_if", "dsr_lif"])
def test_registered_and_threshold_modes(name):
    learn = create_neuron(name)
    assert isinstance(learn.v_th, torch.nn.Parameter) and learn.learnable
    for mode in ("dsr", "sgp", "stsg"):                            # a model's threshold_grad, whatever the neuron
        assert NeuronSpec(name, threshold_grad=mode).build(channels=1).learnable
    fixed = NeuronSpec(name, threshold_grad="fixed").build(channels=1)
    assert not fixed.learnable and "v_th" in dict(fixed.named_buffers())
    assert not create_neuron(name, learn_threshold=False).learnable
    with pytest.raises(ValueError, match="expected one of"):
        NeuronSpec(name, threshold_grad="nonsense").build(channels=1)
    with pytest.raises(ValueError, match="expected one of"):
        create_neuron(name, threshold_grad="nonsense")


@pytest.mark.parametrize("cls,bound", [(DSRIFNeuron, 0.01), (DSRLIFNeuron, 5e-4)])
def test_threshold_is_bounded_each_forward(cls, bound):
    n = cls()
    assert n.vth_bound == bound
    with torch.no_grad():
        n.v_th.fill_(-1.0)                                       # e.g. after a large optimizer step
    x = torch.rand(4, 2, 3)
    out = n(x)
    assert n.v_th.item() == pytest.approx(bound)
    spike_value = bound / getattr(n, "delta_t", 1.0)                # IF: V_th; LIF: V_th/Δt
    fired = out[out != 0]
    assert fired.numel() > 0
    torch.testing.assert_close(fired, torch.full_like(fired, spike_value))
    with pytest.raises(ValueError):
        cls(v_th=bound / 2)


@pytest.mark.parametrize("cls", [DSRIFNeuron, DSRLIFNeuron])
def test_module_gradient_and_reset(cls):
    n = cls(v_th=0.05 if cls is DSRLIFNeuron else 0.5)
    x = (torch.randn(5, 8, 6, generator=torch.Generator().manual_seed(3)) + 1.0).requires_grad_(True)
    out1 = n(x)
    out1.sum().backward()
    assert n.v_th.grad is not None and n.v_th.grad.abs().item() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0
    n(x)                                                         # membrane carried over from the first call
    assert n.v is not None
    reset_states(torch.nn.Sequential(n))
    assert n.v is None
    torch.testing.assert_close(n(x), out1)
