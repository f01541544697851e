"""Pruning masks, criteria and rewinding (ltsnn.layers.prune, ltsnn.engine.prune), against the hand-checked
oracles of docs/methods/lottery_ticket.md §6."""

import math

import pytest
import torch
from torch import nn

from ltsnn.build import model_from_args
from ltsnn.convert.export import export_quantized
from ltsnn.engine.energy import SynapticOpsMonitor
from ltsnn.engine.prune import (budget_masks, firing_statistics, magnitude_scores, prunable_layers, prune_count,
                                prune_masks, prune_model, rewind, sf_layer_map, sf_model_scores, sf_scores, sparsity)
from ltsnn.functional.quant import sawb_quantize
from ltsnn.layers import SeqToBatch
from ltsnn.layers.prune import add_masks, dense_weight, masked_layers
from ltsnn.neurons import LIFNeuron, NeuronSpec, reset_states

W = torch.tensor([[0.50, -0.20, 0.10], [-0.40, 0.30, -0.0625]])        # method §6.1
ALIVE = torch.ones(2, 3, dtype=torch.bool)
SF = dict(in_rate=torch.tensor([0.1, 0.5, 0.8]), bn_weight=torch.tensor([1.0, -0.5]), bn_var=torch.tensor([0.25, 1.0]),
          bn_eps=0.0, mem_mean=torch.tensor([0.0, 1.0]), mem_var=torch.tensor([1.0, 0.25]), threshold=1.0)
TINY = {"name": "vgg_tiny", "kwargs": {"in_channels": 2, "num_classes": 4, "input_size": [12, 12],
                                       "neuron": NeuronSpec().to_dict()}}


def ints(mask):
    return mask.int().tolist()


# ---------------------------------------------------------------------------------------------- criteria

def test_magnitude_rounds_follow_the_oracle():
    first = prune_masks({"w": W.abs()}, {"w": ALIVE}, rate=0.5)["w"]                      # §6.1
    assert ints(first) == [[1, 0, 0], [1, 1, 0]]
    assert ints(prune_masks({"w": W.abs()}, {"w": first}, rate=0.5)["w"]) == [[1, 0, 0], [1, 0, 0]]   # §6.6


def test_count_rules_follow_the_oracle():
    assert ints(prune_masks({"w": W.abs()}, {"w": ALIVE}, rate=0.25)["w"]) == [[1, 1, 1], [1, 1, 0]]     # §6.4
    assert ints(prune_masks({"w": W.abs()}, {"w": ALIVE}, rate=0.25, count_rule="ceil_plus_one")["w"]) == \
        [[1, 0, 0], [1, 1, 0]]
    assert [prune_count(100, 0.29), prune_count(7, 0.5), prune_count(7, 0.5, count_rule="ceil_plus_one")] == [29, 3, 5]


def test_ties_at_the_threshold_are_kept_by_floor_and_removed_by_ceil_plus_one():
    scores = {"w": torch.tensor([1.0, 2.0, 2.0, 3.0])}
    alive = {"w": torch.ones(4, dtype=torch.bool)}
    assert ints(prune_masks(scores, alive, rate=0.25)["w"]) == [0, 1, 1, 1]
    assert ints(prune_masks(scores, alive, rate=0.25, count_rule="ceil_plus_one")["w"]) == [0, 0, 0, 1]


def test_a_tie_break_removes_exactly_the_count_among_equal_scores():
    scores = {"a": torch.tensor([0.0, 0.0, 0.0]), "b": torch.tensor([0.0, 5.0, 0.0])}
    magnitudes = {"a": torch.tensor([0.3, 0.1, 0.5]), "b": torch.tensor([0.2, 0.9, 0.4])}
    alive = {"a": torch.ones(3, dtype=torch.bool), "b": torch.tensor([True, True, False])}
    assert ints(prune_masks(scores, alive, rate=0.6)["a"]) == [1, 1, 1]      # Kim's rule: the tied zeros all stay
    out = prune_masks(scores, alive, rate=0.6, tie_break=magnitudes)          # floor(5 · 0.6) = 3 go: 0.1, 0.2, 0.3
    assert (ints(out["a"]), ints(out["b"])) == ([0, 0, 1], [0, 1, 0])


def test_global_and_local_scopes_differ_as_computed_by_hand():
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.1, 0.2], [0.3, 0.4]]))
        net[1].weight.copy_(torch.tensor([[0.5, 0.6]]))
    add_masks(net, ["0", "1"])
    globally = {k: ints(v) for k, v in prune_masks(magnitude_scores(net), {k: m.mask for k, m in
                                                                           masked_layers(net).items()}, rate=0.5).items()}
    assert globally == {"0": [[0, 0], [0, 1]], "1": [[1, 1]]}                 # floor(6 * 0.5) = 3 lowest overall
    prune_model(net, magnitude_scores(net), rate=0.5, scope="local")          # 2 of 4, 1 of 2
    assert ints(masked_layers(net)["0"].mask) == [[0, 0], [1, 1]] and ints(masked_layers(net)["1"].mask) == [[0, 1]]


def test_sf_score_and_masks_follow_the_oracle():
    p = sf_scores(W, **SF)
    expected = [[0.02419707, 0.04839414, 0.03871532], [0.01595769, 0.05984134, 0.01994711]]
    assert torch.allclose(p, torch.tensor(expected, dtype=torch.float64), atol=2e-8)
    assert ints(prune_masks({"w": p}, {"w": ALIVE}, rate=0.5)["w"]) == [[0, 1, 1], [0, 1, 0]]              # §6.1
    signed = sf_scores(W, **SF, absolute=False)                                                             # §6.2
    assert ints(prune_masks({"w": signed}, {"w": ALIVE}, rate=0.5)["w"]) == [[1, 0, 1], [0, 0, 1]]
    second = prune_masks({"w": p}, {"w": torch.tensor([[0, 1, 1], [0, 1, 0]], dtype=torch.bool)}, rate=0.5)  # §6.6
    assert ints(second["w"]) == [[0, 1, 0], [0, 1, 0]]


def test_sf_mixing_options_follow_the_oracle():
    p, v = sf_scores(W, **SF), torch.tensor([0.02, 0.15])                                                   # §6.5
    alive = {"sf": ALIVE, "fc": torch.ones(2, dtype=torch.bool)}
    mixed = prune_masks({"sf": p, "fc": v}, alive, rate=0.5)
    assert (ints(mixed["sf"]), ints(mixed["fc"])) == ([[0, 1, 1], [0, 1, 0]], [0, 1])
    budget = budget_masks({"sf": p, "fc": v}, {"sf": W.abs(), "fc": v}, alive, rate=0.5)
    assert (ints(budget["sf"]), ints(budget["fc"])) == ([[1, 1, 1], [0, 1, 0]], [0, 0])


def test_sf_score_of_a_grouped_conv_uses_each_weights_own_input_channel():
    w = torch.ones(4, 1, 1, 1)                                                 # depthwise: output j reads input j
    ones = torch.ones(4)
    p = sf_scores(w, torch.tensor([0.1, 0.2, 0.3, 0.4]), bn_weight=ones, bn_var=ones, bn_eps=0.0,
                  mem_mean=ones, mem_var=ones, threshold=1.0, groups=4)
    assert torch.allclose(p.flatten(), torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64) / math.sqrt(2 * math.pi))
    with pytest.raises(ValueError, match="expects 4 input rates"):
        sf_scores(w, torch.ones(3), bn_weight=ones, bn_var=ones, bn_eps=0.0, mem_mean=ones, mem_var=ones,
                  threshold=1.0, groups=4)


def test_prunable_layers_policy():
    model = model_from_args(TINY)
    every = prunable_layers(model)
    assert every[0] == "features.0.0" and isinstance(model.get_submodule(every[-1]), nn.Linear)
    assert all(isinstance(model.get_submodule(n), (nn.Conv2d, nn.Linear)) for n in every)
    assert prunable_layers(model, include="no_classifier") == every[:-1]


@pytest.mark.parametrize("rate, rounds", [(0.2, 3), (0.5, 2), (0.25, 4)])
def test_sparsity_after_r_rounds_is_one_minus_one_minus_p_to_the_r(rate, rounds):
    model = model_from_args(TINY)
    add_masks(model, prunable_layers(model))
    n = alive = sum(m.mask.numel() for m in masked_layers(model).values())
    for _ in range(rounds):
        prune_model(model, magnitude_scores(model), rate=rate)
        alive -= math.floor(alive * rate)                                     # the floor count, exactly
        assert sum(int(m.mask.sum()) for m in masked_layers(model).values()) == alive
    assert sparsity(model)["total"] == pytest.approx(1 - (1 - rate) ** rounds, abs=rounds / n)


def test_bad_options_are_one_line_value_errors():
    with pytest.raises(ValueError, match=r"prune rate=1.5: expected a fraction"):
        prune_masks({"w": W}, {"w": ALIVE}, rate=1.5)
    with pytest.raises(ValueError, match="prune count_rule='round': expected one of floor, ceil_plus_one"):
        prune_count(3, 0.5, count_rule="round")
    with pytest.raises(ValueError, match="prune include='none'"):
        prunable_layers(nn.Linear(2, 2), include="none")
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with pytest.raises(ValueError, match="no such layer"):
        add_masks(net, ["5"])
    with pytest.raises(ValueError, match="a ReLU; expected a Conv2d or Linear"):
        add_masks(net, ["1"])
    add_masks(net, ["0"])
    with pytest.raises(ValueError, match="already has a mask"):
        add_masks(net, ["0"])


# ---------------------------------------------------------------------------------------------- masks in training

def tiny_pruned(rate=0.5, quant=None):
    args = {**TINY, **({"quant": quant} if quant else {})}
    torch.manual_seed(0)
    model = model_from_args(args)
    names = prunable_layers(model)
    add_masks(model, names)
    prune_model(model, magnitude_scores(model), rate=rate)
    return model, {**args, "prune": {"layers": names}}


def pruned_entries_are_zero(model):
    for name, m in masked_layers(model).items():
        layer = model.get_submodule(name)
        assert (layer.weight[~m.mask] == 0).all() and (dense_weight(layer)[~m.mask] == 0).all(), name


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_pruned_weights_stay_zero_through_training(optimizer):
    model, _ = tiny_pruned()
    masks = {k: m.mask.clone() for k, m in masked_layers(model).items()}
    params = model.parameters()
    opt = (torch.optim.SGD(params, lr=0.5, momentum=0.9, weight_decay=5e-4) if optimizer == "sgd"
           else torch.optim.AdamW(params, lr=0.05, weight_decay=0.1))
    before = dense_weight(model.features[0][0]).detach().clone()
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        x_seq = (torch.rand(2, 4, 2, 12, 12, generator=g) < 0.5).float()       # [T, B, C, H, W]
        loss = model(x_seq).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        for name, m in masked_layers(model).items():                          # the mask zeroes the gradient too
            assert (dense_weight(model.get_submodule(name)).grad[~m.mask] == 0).all()
        opt.step()
        reset_states(model)
    pruned_entries_are_zero(model)
    assert all(torch.equal(masks[k], m.mask) for k, m in masked_layers(model).items())
    assert not torch.equal(before, dense_weight(model.features[0][0]))        # the survivors did train


@pytest.mark.parametrize("coeff", ["ibm", "ltsnn_code"])
def test_masked_weights_are_exactly_zero_after_sawb_and_export_as_zero(coeff):
    assert (sawb_quantize(torch.tensor([0.0, 0.5, -0.3]), bits=4, coeff="ibm")[0] != 0)    # why the mask comes last
    model, model_args = tiny_pruned(quant={"bits": 4, "coeff": coeff, "include_linear": True})
    pruned_entries_are_zero(model)
    codes = export_quantized(model)
    for name, m in masked_layers(model).items():
        q, scale = codes[f"{name}.weight"]
        assert (q[~m.mask] == 0).all() and (q[m.mask] != 0).any()
        assert torch.allclose(q.float() * scale, model.get_submodule(name).weight.detach(), atol=1e-6)


def test_masks_are_in_the_state_dict_and_rebuilt_by_model_from_args():
    model, model_args = tiny_pruned(quant={"bits": 4, "coeff": "ibm", "include_linear": False})
    state = model.state_dict()
    assert any(k.endswith(".mask") for k in state)
    again = model_from_args(model_args)                                       # masks all ones until loaded
    again.load_state_dict(state)
    for name, m in masked_layers(model).items():
        assert torch.equal(masked_layers(again)[name].mask, m.mask)
    x_seq = (torch.rand(2, 3, 2, 12, 12, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    model.eval(), again.eval()
    assert torch.equal(model(x_seq), again(x_seq))


# ---------------------------------------------------------------------------------------------- rewinding

def test_rewind_restores_the_saved_survivors_exactly():
    torch.manual_seed(3)
    model = model_from_args(TINY)
    saved = {k: v.clone() for k, v in model.state_dict().items()}             # e.g. the initial weights
    with torch.no_grad():                                                     # "training" moves everything
        for p in model.parameters():
            p.add_(torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.add_(1.0)
    add_masks(model, prunable_layers(model))
    prune_model(model, magnitude_scores(model), rate=0.6)
    rewind(model, saved)
    masks = masked_layers(model)
    for name, p in model.named_parameters():
        layer = name.replace(".parametrizations.weight.original", "")
        if layer in masks:
            mask = masks[layer].mask
            assert torch.equal(p[mask], saved[f"{layer}.weight"][mask]) and (p[~mask] == 0).all()
        else:
            assert torch.equal(p, saved[name]), name                          # biases, BN γ/β, thresholds
    running = [n for n, _ in model.named_buffers() if n.endswith("running_mean")]
    assert all(not torch.equal(model.get_buffer(n), saved[n]) for n in running)   # Kim: BN statistics stay
    rewind(model, saved, bn_stats=True)
    assert all(torch.equal(model.get_buffer(n), saved[n]) for n in running)


def test_rewind_names_a_missing_tensor():
    model, _ = tiny_pruned()
    with pytest.raises(ValueError, match="rewind snapshot: no tensor 'features.0.0.bias'"):
        rewind(model, {})


# ---------------------------------------------------------------------------------------------- energy

def test_a_half_pruned_layer_reports_half_the_operations():
    torch.manual_seed(4)
    net = nn.Sequential(SeqToBatch(nn.Conv2d(2, 4, 3, bias=False)), SeqToBatch(nn.Conv2d(4, 4, 3, bias=False)))
    x_seq = (torch.rand(3, 2, 2, 8, 8) < 0.3).float()                           # [T, B, C, H, W], spikes

    def ops():
        with SynapticOpsMonitor(net) as monitor, torch.no_grad():
            net(x_seq)
        layers = monitor.summary()["layers"]
        return [layers[name]["ops"] for name in ("0.0", "1.0")]

    dense = ops()
    add_masks(net, ["1.0"])
    prune_model(net, magnitude_scores(net), rate=0.5)                             # 72 of 144 weights
    pruned = ops()
    assert pruned[0] == dense[0] and pruned[1] == pytest.approx(dense[1] / 2)



# ---------------------------------------------------------------------------------------------- SF statistics

def two_layer_snn():
    torch.manual_seed(5)
    net = nn.Sequential(SeqToBatch(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3)), LIFNeuron(v_th=0.5),
                        SeqToBatch(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)), LIFNeuron(v_th=0.7),
                        SeqToBatch(nn.Flatten(), nn.Linear(4 * 5 * 5, 2)))
    with torch.no_grad():
        for bn in (net[0][1], net[2][1]):
            bn.weight.uniform_(0.5, 2.0), bn.running_var.uniform_(0.5, 2.0), bn.running_mean.uniform_(-0.2, 0.2)
    add_masks(net, prunable_layers(net))
    return net


def test_sf_statistics_are_the_spike_rates_and_the_neuron_input_moments():
    net = two_layer_snn()
    batches = [(torch.rand(3, 2, 2, 5, 5, generator=torch.Generator().manual_seed(i)) < 0.4).float() for i in range(2)]
    layers = sf_layer_map(net, batches[0])
    assert layers == {"2.0": ("2.1", "3")}                     # first conv and the linear keep |w|
    stats = firing_statistics(net, batches, layers)["2.0"]
    net.eval()
    with torch.no_grad():                                      # the same quantities, by hand
        spikes = torch.cat([net[1](net[0](x)) for x in batches], dim=1)          # [T, 2B, 3, H, W]
        current = torch.cat([net[2](net[1](net[0](x))) for x in batches], dim=1)
    assert torch.allclose(stats["in_rate"], spikes.double().mean(dim=(0, 1, 3, 4)))
    assert torch.allclose(stats["mem_mean"], current.double().mean(dim=(0, 1, 3, 4)))
    assert torch.allclose(stats["mem_var"], current.double().var(dim=(0, 1, 3, 4), unbiased=False))
    assert 0 < stats["in_rate"].mean() < 1
    scores = sf_model_scores(net, layers, {"2.0": stats})
    bn = net[2][1]
    expected = sf_scores(dense_weight(net[2][0]), stats["in_rate"], bn_weight=bn.weight, bn_var=bn.running_var,
                         bn_eps=bn.eps, mem_mean=stats["mem_mean"], mem_var=stats["mem_var"], threshold=net[3].v_th.double())
    assert torch.equal(scores["2.0"], expected)
    assert torch.equal(scores["0.0"], dense_weight(net[0][0]).abs()) and set(scores) == {"0.0", "2.0", "4.1"}
