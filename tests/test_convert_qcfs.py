"""QCFS ANN -> IF / LM-HT conversion (methods §2.7-2.8): what is copied, the §2.8 initialisation, and the
first layer's exact agreement with QCFS that Theorem 4.2 predicts for a constant input current."""

import pytest
import torch

from ltsnn.convert.qcfs import converted_model_args, load_qcfs_into_snn
from ltsnn.neurons.qcfs import QCFS
from ltsnn.models import create_model
from ltsnn.neurons import find_neurons, reset_states
from ltsnn.neurons.base import SpikingNeuron
from ltsnn.neurons.lmht import LMHTNeuron

D = torch.float64


def qcfs_ann(levels: int = 8, seed: int = 0):
    """A ResNet-20 QCFS ANN on 2x8x8 frames with random weights, BN statistics and λ, in eval mode."""
    torch.manual_seed(seed)
    args = {"name": "resnet20", "kwargs": {"in_channels": 2, "num_classes": 5, "input_size": [8, 8],
                                           "neuron": {"name": "qcfs", "options": {"levels": levels}},
                                           "time_input": "mean", "mean_repeat": 1}}
    ann = create_model(args["name"], **args["kwargs"]).to(D)
    with torch.no_grad():
        for m in ann.modules():
            if isinstance(m, QCFS):
                m.lam.fill_(float(torch.empty(()).uniform_(0.5, 3.0)))
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return args, ann.eval()


def converted(to: str, steps: int, levels: int = 2, q: int = 8):
    args, ann = qcfs_ann(levels=q)
    snn_args = converted_model_args(args, to=to, steps=steps, levels=levels)
    snn = create_model(snn_args["name"], **snn_args["kwargs"]).to(D).eval()
    with torch.no_grad():
        thresholds = load_qcfs_into_snn(ann, snn, levels=levels if to == "lmht" else 1)
    return ann, snn, thresholds


def first_outputs(model, x_seq):
    """The output of the model's first activation (QCFS or neuron), ``[T, B, ...]``."""
    first = next(m for m in model.modules() if isinstance(m, (QCFS, SpikingNeuron)))
    seen = []
    handle = first.register_forward_hook(lambda mod, inp, out: seen.append(out))
    with torch.no_grad():
        model(x_seq)
    handle.remove()
    reset_states(model)
    return seen[0]


@pytest.mark.parametrize("to", ["if", "lmht"])
def test_weights_are_copied_and_neurons_take_lambda(to):
    ann, snn, thresholds = converted(to, steps=3, levels=2)
    ann_state, snn_state = ann.state_dict(), snn.state_dict()
    lams = {n: float(m.lam.detach()) for n, m in ann.named_modules() if isinstance(m, QCFS)}
    assert thresholds == lams and len(lams) == 19                   # stem + 9 blocks × 2
    for key, value in ann_state.items():
        if key.rpartition(".")[0] not in lams:
            assert torch.equal(snn_state[key], value), key
    with torch.no_grad():
        snn(torch.rand(2, 1, 2, 8, 8, dtype=D))                     # LM-HT sizes its T-GIM: T = mean_repeat
    reset_states(snn)
    neurons = find_neurons(snn)
    for i, (name, neuron) in enumerate(neurons):
        assert float(neuron.v_th) == lams[name] and float(neuron.v_init) == lams[name] / 2
        if to == "lmht":
            assert isinstance(neuron, LMHTNeuron) and neuron.M.shape == (3, 3)
            assert torch.all(neuron.M == 0) and float(neuron.a) == 0            # ω = 1/T, leak 1
            assert float(neuron.input_scale) == (2.0 if i == 0 else 1.0)        # ×L on the first layer only


def test_converted_if_first_layer_equals_qcfs_at_t_equal_q():
    """IF, θ = λ, v(0) = θ/2, constant current over T = Q steps: mean output = QCFS_Q exactly (Thm 4.2, L = 1)."""
    ann, snn, _ = converted("if", steps=8, q=8)
    x = torch.rand(4, 3, 2, 8, 8, dtype=D)                           # [T_in, B, C, H, W]
    a = first_outputs(ann, x)[0]                                     # [B, 16, 8, 8]
    y_mean = first_outputs(snn, x).mean(0)
    assert a.abs().sum() > 0 and (a != a.max()).any()               # neither silent nor saturated
    torch.testing.assert_close(y_mean, a, rtol=0, atol=1e-12)


def test_converted_lmht_first_layer_is_l_times_qcfs_with_q_equal_lt():
    """LM-HT at init with the ×L input: mean output = L·QCFS_{Q = L·T} (Thm 4.2's per-step-output view)."""
    levels, steps = 2, 4
    ann, snn, _ = converted("lmht", steps=steps, levels=levels, q=levels * steps)
    x = torch.rand(5, 3, 2, 8, 8, dtype=D)
    a = first_outputs(ann, x)[0]
    y_mean = first_outputs(snn, x).mean(0)
    torch.testing.assert_close(y_mean, levels * a, rtol=0, atol=1e-12)


def test_converted_network_runs_t_steps_and_if_approaches_the_ann_as_t_grows():
    ann, _, _ = converted("if", steps=1)
    x = torch.rand(4, 16, 2, 8, 8, dtype=D)
    with torch.no_grad():
        logits = ann(x)[0]                                            # [B, K]
    errors = []
    for steps in (4, 64):
        _, snn, _ = converted("if", steps=steps)
        with torch.no_grad():
            out = snn(x)                                              # [T, B, K]
        assert out.shape == (steps, 16, 5)
        errors.append((out.mean(0) - logits).abs().mean().item())
    assert errors[1] < errors[0]


@pytest.mark.parametrize("kwargs,match", [({"neuron": "lif"}, "expected a QCFS ANN"),
                                          ({"time_input": "frames"}, "expected 'mean'")])
def test_only_a_qcfs_ann_on_averaged_frames_converts(kwargs, match):
    args, _ = qcfs_ann()
    args["kwargs"].update(kwargs)
    with pytest.raises(ValueError, match=match):
        converted_model_args(args, to="if", steps=4)


def test_unknown_target_and_bad_steps_raise():
    args, _ = qcfs_ann()
    with pytest.raises(ValueError, match="unknown conversion target"):
        converted_model_args(args, to="lif", steps=4)
    with pytest.raises(ValueError, match="steps >= 1"):
        converted_model_args(args, to="if", steps=0)
