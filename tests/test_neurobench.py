"""`ltsnn report`'s counts against NeuroBench's own metrics on tiny models (docs/neurobench.md): equal where the
definitions are the same, and different by exactly the documented amount where they are not."""

import sys
from pathlib import Path

import pytest
import torch

from ltsnn.engine import loop
from ltsnn.engine.report import measure
from ltsnn.models import create_model
from ltsnn.models.vgg import SpikingVGG
from ltsnn.neurons import NeuronSpec
from ltsnn.tasks.classification import ClassificationTask

from tiny_run import TinyEvents

pytest.importorskip("neurobench")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from neurobench_compare import run_neurobench  # noqa: E402

T = 3


@pytest.fixture(scope="module")
def loader():
    return loop.test_loader(TinyEvents(split="test", n_time_bins=T, seed=0, size=12), batch_size=8, num_workers=0)


def test_a_dense_network_counts_the_same_operations(loader):
    """Binary frames into FC32, then FC4: NeuroBench's effective ACs are our SOPs with the first layer counted as
    spikes (first_layer=sop), its MACs our MACs (FC4's real input), its dense count T · FLOPs."""
    torch.manual_seed(0)
    model = SpikingVGG("FC32-FC4", in_channels=2, num_classes=4, input_size=(12, 12), neuron=NeuronSpec()).eval()
    nb = run_neurobench(model, loader)
    ours = measure(ClassificationTask(model), loader, first_layer="sop")
    total = ours["synaptic"]["total"]
    assert nb["SynapticOperations"]["Effective_ACs"] == pytest.approx(total["sops"], rel=1e-9)
    assert nb["SynapticOperations"]["Effective_MACs"] == pytest.approx(total["macs"], rel=1e-9) == T * 32 * 4
    assert nb["SynapticOperations"]["Dense"] == T * total["flops"]
    assert nb["ParameterCount"] == ours["size"]["parameters"]
    assert nb["Footprint"] == ours["size"]["bits"] / 8            # no buffers in this model
    assert nb["ConnectionSparsity"] == 0

    # A plain float weight set to 0: NeuroBench skips it (effective ops, connection sparsity); our report counts
    # it, as it counts every float weight (only a pruning mask or SAWB's zero level removes a synapse).
    with torch.no_grad():
        model.head[1].weight[:, :144] = 0                         # half of FC32's inputs disconnected
    pruned = run_neurobench(model, loader)
    assert pruned["ConnectionSparsity"] == pytest.approx(144 * 32 / (288 * 32 + 32 * 4), abs=1e-3)   # NB rounds
    assert pruned["SynapticOperations"]["Effective_ACs"] < nb["SynapticOperations"]["Effective_ACs"]
    assert measure(ClassificationTask(model), loader, first_layer="sop")["synaptic"]["total"]["sops"] == total["sops"]


def test_a_conv_network_differs_by_the_documented_amounts(loader):
    torch.manual_seed(0)
    model = create_model("vgg_tiny", in_channels=2, num_classes=4, input_size=(12, 12), neuron=NeuronSpec()).eval()
    with torch.no_grad():
        for bn in (model.features[i][1] for i in (0, 3, 6)):
            bn.weight.mul_(4)                                     # make the layers fire, so sparsity is not ~1
    nb = run_neurobench(model, loader)
    ours = measure(ClassificationTask(model), loader, first_layer="sop")
    mapped = ours["neurobench"]

    # Activation sparsity: the same spikes, ours per layer; weighted by the layers' neuron counts they agree.
    assert 0.05 < 1 - nb["ActivationSparsity"] < 0.95
    assert nb["ActivationSparsity"] == pytest.approx(mapped["activation_sparsity"], abs=1e-12)
    # Footprint: NeuroBench adds the buffers (BatchNorm statistics, the fixed first threshold) to our size.
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    assert buffers > 0 and nb["Footprint"] == ours["size"]["bits"] / 8 + buffers == mapped["footprint_bytes"]
    # Dense: NeuroBench counts only kernel taps inside the image; our FLOPs count the zero padding too.
    # A 3x3, pad-1 conv on H x W has (3H - 2)(3W - 2) taps in the image per (C_in, C_out) pair, not 9HW.
    inside = sum(c_in * c_out * (3 * h - 2) ** 2 for c_in, c_out, h in ((2, 16, 12), (16, 32, 6), (32, 64, 3)))
    assert nb["SynapticOperations"]["Dense"] == T * (inside + 64 * 4)
    assert T * ours["synaptic"]["total"]["flops"] > nb["SynapticOperations"]["Dense"]
    # After an average pool the inputs are not binary: NeuroBench counts them as MACs (one per nonzero input and
    # synapse), we as SOPs at their mean value; so its ACs are the first layer's alone, where its input is binary.
    first = ours["synaptic"]["layers"]["features.0.0"]
    assert first["input"] == "spikes" and nb["SynapticOperations"]["Effective_ACs"] <= first["ops"]
    assert nb["SynapticOperations"]["Effective_MACs"] > 0 == ours["synaptic"]["total"]["macs"]
