"""NIR export and import (ltsnn.convert.nir): the round trip gives the same spikes layer by layer, the LIF maps
to NIR's parameters as docs/nir.md says, what NIR cannot express is refused, and `ltsnn export --to nir`."""

import doctest

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

import ltsnn.convert.nir as nir_module  # noqa: E402
from ltsnn.cli import convert as convert_cli  # noqa: E402
from ltsnn.cli.common import Parser  # noqa: E402
from ltsnn.convert import from_nir, to_nir  # noqa: E402
from ltsnn.layers import SeqToBatch  # noqa: E402
from ltsnn.models import create_model  # noqa: E402
from ltsnn.models.vgg import SpikingVGG  # noqa: E402
from ltsnn.neurons import LIFNeuron, NeuronSpec, find_neurons  # noqa: E402

from tiny_run import register_tiny_datasets, tiny_args  # noqa: E402


def trained_like(model: nn.Module, *, seed: int = 0) -> nn.Module:
    """``model`` with BN statistics, BN affine and thresholds away from their defaults (as after training), so
    that a forgotten BN fold or threshold would change the spikes; eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 1.0)
                m.bias.copy_(torch.rand(c, generator=g) * 0.4)
        for _, neuron in find_neurons(model):
            neuron.v_th.copy_(torch.rand(neuron.v_th.shape, generator=g) * 0.4 + 0.4)
    return model.eval()


def spikes_and_output(model: nn.Module, x_seq: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    for _, neuron in find_neurons(model):
        neuron.backend = "torch"                                    # the reference: no JIT compile in float64
    spikes = []
    hooks = [n.register_forward_hook(lambda m, i, o: spikes.append(o)) for _, n in find_neurons(model)]
    with torch.no_grad():
        y_seq = model(x_seq)
    for h in hooks:
        h.remove()
    return spikes, y_seq


def events(shape, *, density=0.3, seed=1) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < density).double()


def assert_same_spikes(model: nn.Module, back: nn.Module, x_seq: torch.Tensor, *, all_fire: bool = True) -> None:
    ours, y_ours = spikes_and_output(model.double(), x_seq)
    theirs, y_theirs = spikes_and_output(back.double(), x_seq)
    assert len(ours) == len(theirs) == len(find_neurons(model))
    for a, b in zip(ours, theirs):
        assert a.sum() > 0 or not all_fire                          # every layer fires: the check has teeth
        assert torch.equal(a, b)
    torch.testing.assert_close(y_theirs, y_ours, rtol=1e-9, atol=1e-9)


def test_vgg_tiny_round_trip_through_a_file_gives_the_same_spikes_layer_by_layer(tmp_path):
    model = trained_like(create_model("vgg_tiny"))
    nir.write(tmp_path / "vgg_tiny.nir", to_nir(model))
    back = from_nir(nir.read(tmp_path / "vgg_tiny.nir"))
    assert_same_spikes(model, back, events((6, 3, 2, 34, 34)))


def test_per_channel_thresholds_leak_and_input_scale_survive_the_round_trip():
    spec = NeuronSpec("lif", learn_first_threshold=True,
                      options={"threshold_shape": "channel", "decay": 0.25, "input_scale": 0.75})
    model = trained_like(SpikingVGG("8C3-AP2-12C3-FC16-FC5", in_channels=2, num_classes=5, input_size=12,
                                    neuron=spec, dropout=0.2, name="small"))
    back = from_nir(to_nir(model))
    assert [n.threshold_shape for _, n in find_neurons(back)] == ["channel", "channel"]
    assert_same_spikes(model, back, events((5, 4, 2, 12, 12), density=0.5))


def test_lif_parameters_are_those_of_docs_nir_md():
    model = trained_like(create_model("vgg_tiny"))
    dt = 1e-3
    graph = to_nir(model, dt=dt)
    lifs = [(name, node) for name, node in graph.nodes.items() if isinstance(node, nir.LIF)]
    assert [name for name, _ in lifs] == ["features_1", "features_4", "features_7"]
    for (_, node), (_, neuron) in zip(lifs, find_neurons(model)):
        assert node.tau.shape == node.v_threshold.shape and node.tau.ndim == 3       # [C, H, W]
        np.testing.assert_allclose(node.tau, dt / (1 - 0.5))                         # τ = dt / (1 − decay)
        np.testing.assert_allclose(node.r, 2.0)                                      # R = input_scale · τ / dt
        assert np.all(node.v_leak == 0) and np.all(node.v_reset == 0)
        np.testing.assert_array_equal(node.v_threshold, float(neuron.v_th.detach()))  # the learned threshold
        assert node.metadata[nir_module.FIRE_ON_EQUAL] is True
    conv, bn = model.features[0][0], model.features[0][1]
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
    np.testing.assert_allclose(graph.nodes["features_0_0"].weight,
                               (conv.weight * scale.view(-1, 1, 1, 1)).detach().double(), rtol=1e-6)
    assert [type(graph.nodes[k]).__name__ for k in ("features_2_0", "head_0", "head_1")] == \
        ["AvgPool2d", "Flatten", "Affine"]


def test_a_lif_without_leak_is_nirs_if():
    model = SpikingVGG("4C3-FC3", in_channels=1, num_classes=3, input_size=6, name="if",
                       neuron=NeuronSpec("lif", learn_first_threshold=True, options={"decay": 1.0}))
    graph = to_nir(trained_like(model), dt=0.01)
    node = graph.nodes["features_1"]
    assert isinstance(node, nir.IF)
    np.testing.assert_allclose(node.r, 100.0)                                       # R = input_scale / dt
    assert_same_spikes(model, from_nir(graph, dt=0.01), events((4, 2, 1, 6, 6), density=0.6))


def test_from_nir_reads_sumpool_and_nirs_own_firing_rule():
    """A graph written by hand: SumPool2d sums, and without our metadata a neuron at v == threshold is silent."""
    graph = nir.NIRGraph.from_list(
        nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        nir.Flatten(input_type={"input": np.array([1, 1, 1])}, start_dim=0),
        nir.LIF(tau=np.full(1, 2e-4), r=np.full(1, 2.0), v_leak=np.zeros(1), v_threshold=np.full(1, 2.0)),
        type_check=False)
    spikes, _ = spikes_and_output(from_nir(graph), torch.full((3, 1, 1, 2, 2), 0.5))   # the pool gives 4·0.5 = 2
    assert spikes[0][:, 0, 0].tolist() == [0.0, 1.0, 0.0]             # u = 2 (= θ, silent), 3 (fires), 2


def test_to_nir_names_what_nir_cannot_express():
    def vgg(arch="8C3-AP2-FC4", **neuron):
        return SpikingVGG(arch, in_channels=2, num_classes=4, input_size=8, neuron=NeuronSpec(**neuron), name="t")
    with pytest.raises(ValueError, match="soft"):
        to_nir(vgg(name="lif", options={"reset": "soft"}))
    with pytest.raises(ValueError, match="T-GIM"):
        to_nir(vgg(name="lmht", threshold_grad="fixed"))
    with pytest.raises(ValueError, match="integer spikes"):
        to_nir(vgg(name="ilif", threshold_grad="fixed"))
    with pytest.raises(ValueError, match="MaxPool2d"):
        to_nir(vgg("8C3-MP2-FC4", name="lif"))
    with pytest.raises(ValueError, match="chains of layers"):
        to_nir(create_model("resnet19", input_size=16))
    with pytest.raises(ValueError, match="dt"):
        to_nir(vgg(name="lif"), dt=0.0)


def test_from_nir_reads_one_threshold_per_neuron_of_a_linear_layer():
    graph = nir.NIRGraph.from_list(nir.LIF(tau=np.full(3, 1e-3), r=np.full(3, 10.0), v_leak=np.zeros(3),
                                           v_threshold=np.array([0.5, 1.0, 2.0])))
    spikes, _ = spikes_and_output(from_nir(graph), torch.full((1, 1, 3), 1.0))  # u = 0.9 · 0 + 1 · 1
    assert spikes[0].flatten().tolist() == [1.0, 0.0, 0.0]


def test_from_nir_refuses_what_ltsnn_cannot_run():
    lif = dict(tau=np.full(3, 1e-3), r=np.ones(3), v_threshold=np.ones(3))
    with pytest.raises(ValueError, match="v_leak"):
        from_nir(nir.NIRGraph.from_list(nir.LIF(v_leak=np.full(3, 0.1), **lif)))
    with pytest.raises(ValueError, match="different tau"):
        from_nir(nir.NIRGraph.from_list(nir.LIF(v_leak=np.zeros(3), **{**lif, "tau": np.array([1e-3, 2e-3, 1e-3])})))
    with pytest.raises(ValueError, match="CubaLIF"):
        from_nir(nir.NIRGraph.from_list(nir.CubaLIF(tau_syn=np.ones(3), tau_mem=np.ones(3), r=np.ones(3),
                                                    v_leak=np.zeros(3), v_threshold=np.ones(3))))
    branch = nir.NIRGraph(nodes={"input": nir.Input(np.array([3])), "a": nir.LIF(v_leak=np.zeros(3), **lif),
                                 "b": nir.LIF(v_leak=np.zeros(3), **lif), "output": nir.Output(np.array([3]))},
                          edges=[("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")])
    with pytest.raises(ValueError, match="chains"):
        from_nir(branch)


def test_docstring_examples_run():
    result = doctest.testmod(nir_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def run_export(argv: list[str]) -> int:
    """``ltsnn export ...`` through the command's own parser (the sub-command as `ltsnn` registers it)."""
    parser = Parser(prog="ltsnn")
    convert_cli.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


@pytest.mark.slow                                                   # trains a tiny run first (~10 s)
def test_export_command_writes_the_runs_model_as_a_nir_file(tmp_path, monkeypatch, capsys):
    from ltsnn.build import restore
    from ltsnn.cli import main
    register_tiny_datasets(monkeypatch)
    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 0
    run = tmp_path / "run"
    assert run_export(["export", str(run), "--to", "nir"]) == 0
    assert "model.nir" in capsys.readouterr().out
    graph = nir.read(run / "export" / "model.nir")
    model = restore(run / "checkpoints" / "last.pt", allowed=()).model.eval()
    assert_same_spikes(model, from_nir(graph), events((3, 2, 2, 12, 12), density=0.5), all_fire=False)
    out = tmp_path / "elsewhere" / "vgg.nir"
    assert run_export(["export", str(run / "checkpoints" / "best.pt"), "--to", "nir", "--out", str(out),
                       "--dt", "1e-3"]) == 0
    assert nir.read(out).nodes["features_1"].tau.flat[0] == pytest.approx(2e-3)


def test_to_nir_needs_an_input_shape_for_a_model_without_one():
    net = nn.Sequential(SeqToBatch(nn.Linear(4, 3)), LIFNeuron())
    with pytest.raises(ValueError, match="input_shape"):
        to_nir(net)
    graph = to_nir(net, (4,))
    assert [type(n).__name__ for n in graph.nodes.values()] == ["Input", "Affine", "LIF", "Output"]


def test_sawb_quantised_weights_are_exported_as_the_values_the_model_computes_with():
    from ltsnn.layers.quant import quantize_weights
    model = trained_like(SpikingVGG("8C3-AP2-8C3-FC4", in_channels=2, num_classes=4, input_size=8, name="q",
                                    neuron=NeuronSpec("lif")))
    quantize_weights(model, bits=4)
    graph = to_nir(model)
    assert graph.nodes["features_0_0"].weight.shape == (8, 2, 3, 3)
    assert_same_spikes(model, from_nir(graph), events((4, 3, 2, 8, 8), density=0.5))


def test_export_leaves_the_model_as_it_was():
    model = create_model("vgg_tiny").train()
    for _, neuron in find_neurons(model):
        neuron.backend = "torch"
    neuron = model.features[1]
    neuron.stream = True
    model(events((2, 1, 2, 34, 34)).float())
    v = neuron.v.clone()
    to_nir(model)
    assert model.training and neuron.backend == "torch" and torch.equal(neuron.v, v)


def test_mobilenet_light_with_depthwise_convs_round_trips():
    model = trained_like(create_model("mobilenet_light", input_size=16))
    graph = to_nir(model)
    assert {node.groups for node in graph.nodes.values() if isinstance(node, nir.Conv2d)} > {1}
    assert_same_spikes(model, from_nir(graph), events((3, 2, 2, 16, 16), density=0.5))
