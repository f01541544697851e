"""§2.6: an LM-HT layer / network reparameterised into binary IF neurons over L·T sub-steps."""

import pytest
import torch

from ltsnn.convert.qcfs import converted_model_args, load_qcfs_into_snn
from ltsnn.convert.reparam import binary_model_args, spread_constants
from ltsnn.functional.lmht import lmht_binary_multistep, lmht_multistep, tgim_mix
from ltsnn.models import create_model
from ltsnn.neurons import reset_states
from ltsnn.neurons.lmht import LMHTBinaryNeuron, LMHTNeuron

D = torch.float64


@pytest.mark.parametrize("levels,steps,steps_in", [(2, 2, 2), (4, 3, 3), (2, 4, 1), (3, 2, 4)])
@pytest.mark.parametrize("seed", range(5))
def test_binary_layer_window_sums_equal_lmht_outputs_under_lemma_conditions(levels, steps, steps_in, seed):
    """Random trained-looking layers with 0 ≤ λ·v < θ and 0 ≤ I' ≤ Lθ (Lemma 4.1): the L binary spikes of each
    window sum to the LM-HT output, and both end with the same membrane."""
    g = torch.Generator().manual_seed(seed)
    theta = float(torch.empty(()).uniform_(0.5, 2.0, generator=g))
    M = torch.randn(steps, steps_in, generator=g, dtype=D)
    a = -torch.rand((), generator=g, dtype=D) * 2                    # λ = σ(a) + ½ ∈ (0.62, 1]
    windows = torch.rand(steps_in, 64, 3, generator=g, dtype=D) * levels * theta
    mixed_max = float(tgim_mix(windows, M).max())                   # I' is linear in X: scale it into [0, Lθ]
    windows *= min(1.0, levels * theta / mixed_max)
    v0 = torch.rand(64, 3, generator=g, dtype=D) * theta
    split = torch.rand(steps_in, levels, 64, 3, generator=g, dtype=D)
    x_sub = (windows.unsqueeze(1) * split / split.sum(1, keepdim=True)).flatten(0, 1)    # [L·T_in, B, ...]
    y, v = lmht_multistep(windows, theta, M, a, levels=levels, v_init=v0)
    y_bin, v_bin = lmht_binary_multistep(x_sub, theta, M, a, levels=levels, v_init=v0)
    assert y_bin.shape == (levels * steps, 64, 3)
    assert set(torch.unique(y_bin / theta).tolist()) <= {0.0, 1.0}                        # binary spikes
    torch.testing.assert_close(y_bin.unflatten(0, (steps, levels)).sum(1), y, rtol=0, atol=1e-12)
    torch.testing.assert_close(v_bin, v, rtol=0, atol=1e-12)
    assert (y > 1.5 * theta).any()                                  # multi-level outputs were exercised


def test_outside_the_lemma_conditions_the_rule_is_not_exact():
    """Currents in [−Lθ, 2Lθ] and a leak λ > 1: a membrane left above θ by a saturated step, then a negative
    current, fires once in the first sub-step, but not at all in M-HT; so some window sums differ."""
    g = torch.Generator().manual_seed(0)
    levels, theta = 2, 1.0
    M, a = torch.zeros(3, 3, dtype=D), torch.tensor(2.0, dtype=D)   # λ = σ(2) + ½ ≈ 1.38
    windows = (torch.rand(3, 1000, generator=g, dtype=D) * 3 - 1) * levels * theta
    x_sub = (windows.unsqueeze(1) / levels).expand(3, levels, 1000).flatten(0, 1)
    y, _ = lmht_multistep(windows, theta, M, a, levels=levels, v_init=0.5)
    y_bin, _ = lmht_binary_multistep(x_sub, theta, M, a, levels=levels, v_init=0.5)
    differ = (y_bin.unflatten(0, (3, levels)).sum(1) != y).any(0)
    assert 0 < differ.float().mean() < 1


def _lmht_network(levels: int, steps: int):
    torch.manual_seed(0)
    args = {"name": "resnet20", "kwargs": {"in_channels": 2, "num_classes": 5, "input_size": [8, 8],
                                           "neuron": "qcfs", "time_input": "mean", "mean_repeat": 1}}
    ann = create_model(args["name"], **args["kwargs"]).to(D).eval()
    with torch.no_grad():
        for m in ann.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.bias.uniform_(-0.2, 0.2)
            if hasattr(m, "lam"):
                m.lam.fill_(2.0)
    lmht_args = converted_model_args(args, to="lmht", steps=steps, levels=levels)
    lmht = create_model(lmht_args["name"], **lmht_args["kwargs"]).to(D).eval()
    with torch.no_grad():
        load_qcfs_into_snn(ann, lmht, levels=levels)
        lmht(torch.rand(1, 1, 2, 8, 8, dtype=D))                    # sizes each T-GIM: T = mean_repeat
        reset_states(lmht)
        for m in lmht.modules():                                    # as if trained: non-uniform T-GIM and leak
            if isinstance(m, LMHTNeuron):
                m.M.normal_()
                m.a.uniform_(-1, 0)
    bin_args = binary_model_args(lmht_args)
    binary = create_model(bin_args["name"], **bin_args["kwargs"]).to(D).eval()
    binary.load_state_dict(lmht.state_dict())
    spread_constants(binary, levels=levels)
    return lmht, binary, bin_args


def test_binary_network_args_and_l1_is_identical():
    lmht, binary, bin_args = _lmht_network(levels=1, steps=3)
    assert bin_args["kwargs"]["neuron"]["name"] == "lmht_binary" and bin_args["kwargs"]["mean_repeat"] == 3
    x = torch.rand(4, 6, 2, 8, 8, dtype=D)
    with torch.no_grad():
        torch.testing.assert_close(binary(x), lmht(x), rtol=0, atol=1e-12)


def test_binary_network_spreads_constants_so_window_sums_of_currents_match():
    """L = 2: the first neuron's sub-step currents sum, per window, to the LM-HT neuron's current; every neuron is
    binary; and the binary network gives finite, non-zero logits over L·T steps."""
    levels, steps = 2, 2
    lmht, binary, bin_args = _lmht_network(levels=levels, steps=steps)
    assert bin_args["kwargs"]["mean_repeat"] == levels * steps
    currents = {}
    for name, model in (("lmht", lmht), ("binary", binary)):
        first = next(m for m in model.modules() if isinstance(m, LMHTNeuron))
        first.register_forward_hook(lambda mod, inp, out, name=name: currents.setdefault(name, inp[0]))
    x = torch.rand(4, 8, 2, 8, 8, dtype=D)
    with torch.no_grad():
        lmht(x)
        out_bin = binary(x)
    reset_states(lmht), reset_states(binary)
    assert all(isinstance(m, LMHTBinaryNeuron) for m in binary.modules() if isinstance(m, LMHTNeuron))
    torch.testing.assert_close(currents["binary"].unflatten(0, (steps, levels)).sum(1), currents["lmht"],
                               rtol=0, atol=1e-12)
    assert out_bin.shape == (levels * steps, 8, 5)
    assert torch.isfinite(out_bin).all() and out_bin.abs().sum() > 0


def test_only_lmht_on_averaged_input_is_reparameterised():
    args = {"name": "resnet20", "kwargs": {"neuron": "lif", "time_input": "mean"}}
    with pytest.raises(ValueError, match="expected an LM-HT network"):
        binary_model_args(args)
    with pytest.raises(ValueError, match="expected 'mean'"):
        binary_model_args({"name": "resnet20", "kwargs": {"neuron": "lmht"}})
