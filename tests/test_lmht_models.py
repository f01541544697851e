"""The LM-HT / QCFS CIFAR networks (resnet18, resnet20, vgg13, vgg16) with a swappable activation.

The shared model contracts (shapes, backward, reset, bad input) run over them in ``test_models.py``.
"""

from __future__ import annotations

import pytest
import torch

from ltsnn.neurons.qcfs import QCFS
from ltsnn.models import create_model
from ltsnn.neurons import LIFNeuron, list_neurons, reset_states
from ltsnn.neurons.lmht import LMHTNeuron

NAMES = ("resnet18", "resnet20", "vgg13", "vgg16")
SMALL = {"resnet18": 8, "resnet20": 8, "vgg13": 32, "vgg16": 32}   # VGGs pool 5 times: 32 is the least


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _conv_fc(model: torch.nn.Module) -> int:
    return sum(m.weight.numel() + (m.bias.numel() if m.bias is not None else 0)
               for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))


def _x(T: int, size: int, B: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand(T, B, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2.0


# At 3×32×32, 10 classes. "all": weights, biases, BN γ/β and one scalar per learnable threshold (default LIF:
# every activation but the first) or per QCFS λ (every activation).
COUNTS = {  # name: (all with LIF, all with QCFS, conv + FC only)
    "resnet18": (11_173_978, 11_173_979, 11_164_362),
    "resnet20": (272_492, 272_493, 270_906),
    "vgg13": (28_334_421, 28_334_422, 28_328_522),
    "vgg16": (33_646_680, 33_646_681, 33_638_218),
}


@pytest.mark.parametrize("name", NAMES)
def test_param_counts(name):
    lif, qcfs, conv_fc = COUNTS[name]
    model = create_model(name)
    assert _count(model) == lif
    assert _conv_fc(model) == conv_fc
    assert _count(create_model(name, neuron="qcfs")) == qcfs


def test_resnet18_is_the_well_known_cifar_resnet18():
    # torchvision-style CIFAR ResNet-18 at 10 classes with BN: 11,173,962 ≈ 11.17 M (+16 learnable thresholds).
    model = create_model("resnet18", neuron="if_convert")              # fixed θ: no extra parameters
    assert _count(model) == 11_173_962


def test_lmht_parameters_are_the_tgim_and_leak():
    # Every activation is an LM-HT neuron with M [T, T] (T from the input) and a scalar a; θ is a buffer.
    model = create_model("resnet20", neuron="lmht")
    model(_x(3, 32, B=1))
    neurons = [m for m in model.modules() if isinstance(m, LMHTNeuron)]
    assert len(neurons) == 19                                          # stem + 9 blocks × 2
    assert all(n.M.shape == (3, 3) and not n.learnable for n in neurons)
    assert _count(model) == 270_906 + 1_568 + 19 * (9 + 1)             # conv/FC + BN + T-GIM and leak


@pytest.mark.parametrize("neuron", list_neurons())                  # "qcfs" among them
def test_every_activation_runs_forward_and_backward(neuron):
    # The conversion IF's default θ = 8 (QCFS's initial λ) never fires on raw frames: give it θ = 1 here.
    # lmht_binary sizes its T-GIM from its input of L·T sub-steps; steps=2 makes it spread each frame over 2.
    options = {"if_convert": {"v_th": 1.0}, "lmht_binary": {"steps": 2}}.get(neuron, {})
    torch.manual_seed(0)
    model = create_model("resnet20", neuron={"name": neuron, "options": options}, num_classes=5, input_size=8).train()
    out = model(_x(2, 8))
    steps = 2 * 2 if neuron == "lmht_binary" else 2                 # L = 2 binary sub-steps per step (§2.6)
    assert out.shape == (steps, 2, 5) and torch.isfinite(out).all()
    out.sum().backward()
    trained = [p for p in model.parameters() if p.requires_grad]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trained)
    assert model.head[2].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("neuron", ["qcfs", "lmht", "if_convert"])
def test_each_model_runs_with_qcfs_lmht_and_if(name, neuron):
    torch.manual_seed(0)
    size = SMALL[name]
    model = create_model(name, neuron=neuron, num_classes=3, input_size=size).train()
    out = model(_x(2, size, B=1))
    assert out.shape == (2, 1, 3) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", ["resnet20", "vgg13"])
def test_qcfs_mode_is_the_ann_applied_step_by_step(name):
    torch.manual_seed(0)
    size = SMALL[name]
    model = create_model(name, neuron="qcfs", input_size=size).eval()
    for m in model.modules():                                          # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x_seq = _x(3, size)                                                # 3 different frames
    with torch.no_grad():
        out = model(x_seq)
        steps = torch.cat([model(x_seq[t:t + 1]) for t in range(3)])  # T = 1 each: the ANN
    torch.testing.assert_close(out, steps)
    assert not any(isinstance(m, LIFNeuron) for m in model.modules())


def test_qcfs_options_and_no_state():
    model = create_model("resnet20", neuron={"name": "qcfs", "options": {"levels": 4, "lam": 2.0}}, input_size=8)
    acts = [m for m in model.modules() if isinstance(m, QCFS)]
    assert len(acts) == 19 and all(a.levels == 4 and a.lam.item() == 2.0 for a in acts)
    with pytest.raises(ValueError, match="qcfs"):
        create_model("resnet20", neuron={"name": "qcfs", "options": {"no_such": 1}})


def test_threshold_grad_auto_and_unknown_activation():
    lif = create_model("resnet20", input_size=8)
    lifs = [m for m in lif.modules() if isinstance(m, LIFNeuron)]
    assert not lifs[0].learnable and all(m.learnable and m.threshold_grad == "stsg" for m in lifs[1:])
    assert create_model("resnet20", neuron={"threshold_grad": "sgp"}).layers[0].spike1.threshold_grad == "sgp"
    with pytest.raises(ValueError, match="fixed"):
        create_model("resnet20", neuron={"name": "lmht", "threshold_grad": "sgp"})
    with pytest.raises(ValueError, match="qcfs"):
        create_model("vgg16", neuron="relu")


def test_lmht_time_steps_must_match_the_input():
    model = create_model("resnet20", neuron="lmht", input_size=8)            # T from the first input
    assert model(_x(3, 8)).shape[0] == 3
    reset_states(model)
    with pytest.raises(ValueError):
        model(_x(4, 8))


def test_vgg_needs_five_poolings():
    with pytest.raises(ValueError, match="too small"):
        create_model("vgg13", input_size=16)
    assert create_model("vgg16", input_size=64).fc1[1].in_features == 512 * 2 * 2
