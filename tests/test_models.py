"""Contract tests over every registered model, plus parameter counts (methods §1.7, §4.2, §4.3).

Each model maps ``[T, B, C, H, W]`` to per-step outputs ``[T, B, K]``, exposes ``in_channels``,
``input_size``, ``forward_features`` and ``forward_head``, and is built by ``create_model(name, **kw)``.
"""

from __future__ import annotations

import copy
import functools
import inspect

import pytest
import torch

from ltsnn.models import MODELS, create_model, list_models
from ltsnn.neurons import NEURONS, NeuronSpec, list_neurons, reset_states

T, B, K = 2, 2, 7

# Smallest inputs that keep each model valid, so the contract tests stay fast. A model not listed here
# is tested at its defaults.
SMALL: dict[str, dict] = {
    "vgg_tiny": {"input_size": 16},
    "vgg7": {"input_size": 16},
    "vgg9": {"input_size": 16},
    "tet_vggsnn": {"input_size": 16},
    "mobilenet_light": {"input_size": 8},
    "resnet19": {"input_size": 8},
    "vgg11": {"input_size": 32},
    "yolo_ltsnn": {"input_size": 64},
}


def _takes(name: str, option: str) -> bool:
    params = inspect.signature(MODELS[name]).parameters
    return option in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _small(name: str, **kw) -> torch.nn.Module:
    kw = {**SMALL.get(name, {}), **kw}
    if _takes(name, "num_classes"):
        kw.setdefault("num_classes", K)
    torch.manual_seed(0)
    return create_model(name, **kw)


def _input(model: torch.nn.Module, seed: int = 0) -> torch.Tensor:
    h, w = model.input_size
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, model.in_channels, h, w, generator=gen) * 2.0


def _check_output(name: str, out: torch.Tensor, model: torch.nn.Module) -> None:
    assert out.dim() == 3 and out.shape[:2] == (T, B), f"{name}: output {tuple(out.shape)}"
    if hasattr(model, "grid"):                                  # a detector: S_h * S_w * (5B + C) per step
        assert out.shape[2] == model.grid[0] * model.grid[1] * (5 * model.num_boxes + K)
    elif _takes(name, "num_classes"):
        assert out.shape[2] == K
    assert torch.isfinite(out).all()


def _learnable_thresholds(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if "v_th" in n}


@functools.lru_cache(maxsize=None)
def _default(name: str, kw: tuple = ()) -> torch.nn.Module:
    """A model at its default size, built once and only inspected (never run) by the tests below."""
    return create_model(name, **dict(kw))


ALL = sorted(list_models())


def test_registry_lists_the_paper_models():
    for name in ("vgg7", "vgg9", "vgg11", "tet_vggsnn", "mobilenet_light", "resnet19"):
        assert name in ALL
    for name, doc in list_models().items():
        assert doc, f"model {name!r} has no docstring summary line"


@pytest.mark.parametrize("name", ALL)
def test_shape_backward_and_threshold_gradients(name):
    model = _small(name).train()
    x_seq = _input(model)
    out = model(x_seq)
    _check_output(name, out, model)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * weights).sum().backward()
    thresholds = _learnable_thresholds(model)
    assert thresholds, f"{name}: no learnable threshold with the default neuron"
    for n, p in thresholds.items():
        assert p.grad is not None, f"{name}: no gradient reached {n}"
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, f"{name}: zero gradient at {n}"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters() if p.dim() > 1)


@pytest.mark.parametrize("name", ALL)
def test_reset_gives_the_same_output_and_head_composes(name):
    model = _small(name).eval()
    x_seq = _input(model)
    with torch.no_grad():
        out1 = model(x_seq)
        reset_states(model)
        out2 = model(x_seq)
        reset_states(model)
        out3 = model.forward_head(model.forward_features(x_seq))
    torch.testing.assert_close(out2, out1)
    torch.testing.assert_close(out3, out1)


@pytest.mark.parametrize("name", ALL)
def test_wrong_input_shape_raises(name):
    model = _small(name)
    h, w = model.input_size
    c = model.in_channels
    for shape in [(T, B, c + 1, h, w), (T, B, c, h + 4, w), (B, c, h, w)]:
        with pytest.raises(ValueError, match="expects"):
            model(torch.zeros(shape))


@pytest.mark.parametrize("name", ALL)
def test_unknown_options_raise_and_list_the_valid_ones(name):
    with pytest.raises(ValueError, match="valid"):
        create_model(name, no_such_option=1)
    if _takes(name, "neuron"):
        with pytest.raises(ValueError, match="lif"):
            create_model(name, neuron="no_such_neuron")
        with pytest.raises(ValueError, match="sgp"):
            create_model(name, neuron={"threshold_grad": "no_such_mode"})


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="vgg9"):
        create_model("no_such_model")


@pytest.mark.parametrize("neuron", list_neurons())
def test_every_neuron_works_in_a_model(neuron):
    # Each neuron declares the threshold modes it can learn with; fixed-θ neurons (LM-HT, I-LIF, QCFS) take "fixed".
    learns = "sgp" in NEURONS[neuron].threshold_grads
    # lmht_binary sizes its T-GIM from its input of L·T sub-steps; steps=2 makes it spread each frame over 2.
    options = {"steps": 2} if neuron == "lmht_binary" else {}
    model = _small("vgg_tiny", neuron={"name": neuron, "threshold_grad": "sgp" if learns else "fixed",
                                       "options": options})
    out = model(_input(model))
    if neuron == "lmht_binary":                                     # L = 2 binary sub-steps per step (§2.6)
        out = out.unflatten(0, (-1, 2)).sum(1)
    _check_output("vgg_tiny", out, model)
    out.sum().backward()
    assert bool(_learnable_thresholds(model)) == learns
    trained = [p for p in model.parameters() if p.requires_grad]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trained)


@pytest.mark.parametrize("neuron", list_neurons())
def test_every_neuron_starts_each_batch_from_rest(neuron):
    layer = NeuronSpec(neuron, threshold_grad="fixed").build(channels=3)
    x_seq = torch.rand(2, 4, 3, 5, 5, generator=torch.Generator().manual_seed(0)) * 3
    first = layer(x_seq)
    torch.testing.assert_close(layer(x_seq), first)                 # the same batch again, no reset needed
    assert layer(torch.rand(2, 7, 3, 5, 5)).shape[1] == 7           # then a batch of another size


def test_vgg11_with_dsr_lif_is_dsr():
    model = _small("vgg11", neuron={"name": "dsr_lif", "learn_first_threshold": True})
    assert len(_learnable_thresholds(model)) == 9                   # 8 convs + the output layer, as DSR
    out = model(_input(model))
    _check_output("vgg11", out, model)
    fired = out[out != 0]
    torch.testing.assert_close(fired, torch.full_like(fired, 0.3 / 0.05))   # outputs are 0 or V_th/Δt
    out.sum().backward()
    assert all(p.grad is not None for p in _learnable_thresholds(model).values())


def test_first_and_head_thresholds_fixed_where_the_code_fixes_them():
    resnet = _default("resnet19")
    assert len(_learnable_thresholds(resnet)) == 16                 # 8 blocks × 2 neurons
    assert not resnet.stem[1].learnable and not resnet.fc_spike.learnable
    assert len(_learnable_thresholds(create_model("resnet19", neuron={"learn_first_threshold": True},
                                                  learn_head_threshold=True))) == 18
    vgg11 = _default("vgg11")
    assert len(_learnable_thresholds(vgg11)) == 8                   # first conv fixed, output neuron learns


def test_resnet19_stem_variants():
    r64 = _default("resnet19")
    r128 = _default("resnet19", (("stem_channels", 128),))
    assert not isinstance(r64.layers[0].shortcut, torch.nn.Identity)   # 64 -> 128 projection
    assert isinstance(r128.layers[0].shortcut, torch.nn.Identity)      # no projection in stage 1
    assert len(r64.layers) == 8 and r64.layers[3].conv1[0].stride == (2, 2)


# ---------------------------------------------------------------- parameter counts


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name,kw,paper", [
    ("vgg9", {"in_channels": 2, "input_size": 48}, 7.07e6),
    ("tet_vggsnn", {"in_channels": 2, "input_size": 48}, 9.27e6),
])
def test_param_count_matches_the_paper(name, kw, paper):
    assert _count(_default(name, tuple(kw.items()))) == pytest.approx(paper, rel=0.01)


# Ours, at the default input (all weights, biases, BN affine parameters and learnable thresholds).
# docs/models.md explains each difference from the paper's number.
OUR_COUNTS = {
    ("vgg_tiny", ()): 33_916,
    ("vgg7", ()): 1_766_545,
    ("vgg9", ()): 7_071_538,
    ("tet_vggsnn", ()): 9_271_505,
    ("mobilenet_light", ()): 2_433_204,
    ("vgg11", ()): 9_476_326,
    ("resnet19", ()): 12_630_874,
    ("resnet19", (("stem_channels", 128),)): 12_698_010,
}


@pytest.mark.parametrize("name,kw", list(OUR_COUNTS))
def test_param_counts(name, kw):
    assert _count(_default(name, kw)) == pytest.approx(OUR_COUNTS[name, kw], rel=1e-3)


def test_resnet19_counts_without_bn_match_the_spec():
    # methods §4.2 counts conv and FC weights only: ≈ 12.62 M (64 stem), ≈ 12.69 M (128 stem).
    for stem, spec in ((64, 12.62e6), (128, 12.69e6)):
        model = _default("resnet19", () if stem == 64 else (("stem_channels", stem),))
        n = sum(m.weight.numel() + (m.bias.numel() if m.bias is not None else 0)
                for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
        assert n == pytest.approx(spec, abs=0.005e6)


@pytest.mark.parametrize("name", ALL)
def test_channels_last_gives_the_same_outputs_and_gradients(name):
    # train.memory_format=channels_last lays the conv weights (so the feature maps) out NHWC; every model must
    # run so (no .view that needs NCHW strides) with the fused neurons on the maps as they lie, and compute
    # the same function: outputs and gradients to float tolerance. In float64: the convolutions round
    # differently in the two layouts, and in float32 that flips the odd spike of a membrane next to V_th.
    from ltsnn.engine.device import set_memory_format

    model = _small(name).train().double()
    for m in model.modules():                                   # dropout draws its mask in memory order
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    twin = set_memory_format(copy.deepcopy(model), "channels_last")
    x_seq = _input(model).double()
    runs = []
    for m in (model, twin):
        out = m(x_seq)
        (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)).sum().backward()
        runs.append((out, {n: p.grad for n, p in m.named_parameters() if p.grad is not None}))
        reset_states(m)
    assert any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
               for p in twin.parameters()), f"{name}: no conv weight became channels-last"
    torch.testing.assert_close(runs[1][0], runs[0][0], rtol=1e-9, atol=1e-9)
    assert runs[1][1].keys() == runs[0][1].keys()
    for key, grad in runs[0][1].items():
        torch.testing.assert_close(runs[1][1][key], grad, rtol=1e-7, atol=1e-9, msg=f"{name}: {key}")
