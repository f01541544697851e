"""NIR across simulators (docs/nir.md): our exported vgg_tiny runs in snnTorch and Norse with the same spikes
layer by layer, and a network snnTorch exported runs in ltsnn with the same spikes. The importers'
conventions are bridged by bench/nir_crosscheck.py's helpers, which these tests share."""

import importlib.util
from pathlib import Path

import pytest
import torch

nir = pytest.importorskip("nir")
pytest.importorskip("nirtorch")
snntorch = pytest.importorskip("snntorch")

from ltsnn.convert import from_nir, to_nir  # noqa: E402
from ltsnn.models import create_model  # noqa: E402
from ltsnn.neurons import find_neurons  # noqa: E402

from test_nir import events, trained_like  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "nir_crosscheck", Path(__file__).resolve().parents[1] / "bench" / "nir_crosscheck.py")
crosscheck = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crosscheck)


def assert_agree(ours: list[torch.Tensor], theirs: list[torch.Tensor], y_ours, y_theirs) -> None:
    """Every layer fires, and its spikes agree entry for entry (float32 on both sides; docs/nir.md)."""
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs):
        assert a.sum() > 0
        assert torch.equal(a, b.reshape(a.shape))
    torch.testing.assert_close(y_theirs.reshape(y_ours.shape), y_ours, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def exported():
    model = trained_like(create_model("vgg_tiny")).float()
    for _, neuron in find_neurons(model):
        neuron.backend = "torch"
    x_seq = events((6, 3, 2, 34, 34)).float()
    ours, y_ours = crosscheck.ltsnn_run(model, x_seq)
    return to_nir(model), x_seq, ours, y_ours


def test_snntorch_runs_our_graph_with_the_same_spikes(exported):
    from snntorch.import_nir import import_from_nir
    graph, x_seq, ours, y_ours = exported
    graph = nir.NIRGraph.from_dict(graph.to_dict())                  # a copy: the convention below edits it
    crosscheck.torch_flatten_convention(graph)
    theirs, y_theirs = crosscheck.stepwise_run(import_from_nir(graph), x_seq, snntorch.Leaky, stateful_call=False)
    assert_agree(ours, theirs, y_ours, y_theirs)


def test_norse_runs_our_graph_with_the_same_spikes(exported):
    pytest.importorskip("norse")
    from norse.torch import from_nir as norse_from_nir
    from norse.torch.module.lif_box import LIFBoxCell
    graph, x_seq, ours, y_ours = exported
    graph = nir.NIRGraph.from_dict(graph.to_dict())
    crosscheck.torch_flatten_convention(graph)
    crosscheck.norse_equivalent(graph)
    net = norse_from_nir(graph, dt=graph.metadata["dt"], ignore_warnings=True)
    theirs, y_theirs = crosscheck.stepwise_run(net, x_seq, LIFBoxCell, stateful_call=True)
    assert_agree(ours, theirs, y_ours, y_theirs)


def test_a_network_snntorch_exported_runs_in_ltsnn_with_the_same_spikes():
    net, x_seq = crosscheck.snntorch_example()
    graph = crosscheck.snntorch_graph(net, x_seq)
    theirs, y_theirs = crosscheck.stepwise_run(net, x_seq, snntorch.Leaky, stateful_call=False)
    ours_net = from_nir(graph)
    for _, neuron in find_neurons(ours_net):
        neuron.backend = "torch"
    ours, y_ours = crosscheck.ltsnn_run(ours_net, x_seq)
    assert_agree(ours, theirs, y_ours, y_theirs)
