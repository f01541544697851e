"""Extending ltsnn: a new neuron is a functional step + a neuron module, a new model is one registered class.

The three pieces below are what the new files would hold (``ltsnn/functional/soft_if.py``,
``ltsnn/neurons/soft_if.py``, ``ltsnn/models/tiny.py``); the fixture registers them with the same decorators
those files would apply at import, and unregisters them after the test, so no other test sees them.
"""

from __future__ import annotations

import pytest
import torch

from ltsnn.functional.surrogate import heaviside
from ltsnn.layers import SeqToBatch
from ltsnn.models import MODELS, SpikingModel, create_model, list_models, register_model
from ltsnn.models.arch import conv_bn
from ltsnn.neurons import (NEURONS, NeuronSpec, SpikingNeuron, find_neurons, list_neurons, register_neuron,
                           reset_states)

D = torch.float64


# --- ltsnn/functional/soft_if.py: the equation, once -------------------------------------------------
def soft_if_multistep(x_seq: torch.Tensor, v_th: torch.Tensor | float, *,
                      v_init: torch.Tensor | float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """IF with soft reset: u_t = v_{t-1} + x_t, s_t = H(u_t − θ) (sigmoid surrogate), v_t = u_t − s_t·θ."""
    v = torch.as_tensor(v_init, dtype=x_seq.dtype).expand_as(x_seq[0])
    s_list = []
    for x_t in x_seq.unbind(0):                                     # x_t: [B, ...]
        u = v + x_t
        s = heaviside(u - v_th, "sigmoid")
        v = u - s * v_th
        s_list.append(s)
    return torch.stack(s_list), v


# --- ltsnn/neurons/soft_if.py: the module owns the threshold; the base owns the state -----------------
class SoftIFNeuron(SpikingNeuron):
    """Soft-reset IF neuron with a learnable threshold (straight-through threshold gradient)."""

    threshold_grads = ("stsg",)

    def __init__(self, *, v_th: float = 1.0, learn_threshold: bool = True, threshold_grad: str = "stsg"):
        super().__init__()
        self.check_threshold_grad(threshold_grad)
        self.register_threshold(torch.tensor(float(v_th)), learn=learn_threshold)

    def multistep(self, x_seq, v_init):
        return soft_if_multistep(x_seq, self.v_th, v_init=v_init)


# --- ltsnn/models/tiny.py: one class ------------------------------------------------------------------
class TinyNet(SpikingModel):
    """Two spiking convs and a linear read-out (a test model)"""

    def __init__(self, *, in_channels: int = 2, num_classes: int = 3, input_size: int = 8,
                 neuron: NeuronSpec = NeuronSpec(), width: int = 4):
        super().__init__(name="tiny_net", in_channels=in_channels, input_size=input_size)
        self.features = torch.nn.Sequential(conv_bn(in_channels, width), neuron.build(channels=width, first=True),
                                            conv_bn(width, width), neuron.build(channels=width))
        self.head = SeqToBatch(torch.nn.Flatten(), torch.nn.Linear(width * self.input_size[0] * self.input_size[1],
                                                                   num_classes))

    def forward_features(self, x_seq):
        return self.features(x_seq)

    def forward_head(self, f_seq):
        return self.head(f_seq)


@pytest.fixture
def extension():
    register_neuron("soft_if")(SoftIFNeuron)
    register_model("tiny_net")(TinyNet)
    yield
    NEURONS.pop("soft_if")
    MODELS.pop("tiny_net")


def test_the_new_neuron_follows_its_equation():
    x = torch.tensor([[0.6], [0.6], [0.6]], dtype=D)                 # u: 0.6, 1.2 (fires, v = 0.2), 0.8
    s, v = soft_if_multistep(x, 1.0)
    assert s.flatten().tolist() == [0.0, 1.0, 0.0] and v.item() == pytest.approx(0.8)
    neuron = SoftIFNeuron().double()
    torch.testing.assert_close(neuron(x), s)
    torch.testing.assert_close(neuron(x), s)                        # the next batch starts from rest again


def test_a_new_model_runs_with_a_new_neuron_by_name(extension):
    assert "soft_if" in list_neurons() and "tiny_net" in list_models()
    torch.manual_seed(0)
    model = create_model("tiny_net", neuron={"name": "soft_if", "threshold_grad": "stsg"}, num_classes=5)
    x_seq = torch.rand(4, 2, 2, 8, 8) * 2                           # [T, B, C, H, W]
    out = model(x_seq)
    assert out.shape == (4, 2, 5)
    out.sum().backward()
    neurons = find_neurons(model)
    assert [n for n, _ in neurons] == ["features.1", "features.3"]
    assert not neurons[0][1].learnable                              # the encoding layer keeps a fixed threshold
    assert neurons[1][1].v_th.grad is not None and neurons[1][1].v_th.grad.abs() > 0
    reset_states(model)
    assert all(n.v is None for _, n in neurons)
    with pytest.raises(ValueError, match=r"expected one of \['fixed', 'stsg'\]"):
        create_model("tiny_net", neuron={"name": "soft_if", "threshold_grad": "sgp"})
    with pytest.raises(ValueError, match="valid"):
        create_model("tiny_net", no_such_option=1)


def test_reset_states_and_find_neurons_include_a_bare_neuron():
    neuron = SoftIFNeuron()
    neuron.stream = True
    neuron(torch.rand(3, 2, 4))
    assert find_neurons(neuron) == [("", neuron)] and neuron.v is not None
    reset_states(neuron)
    assert neuron.v is None
