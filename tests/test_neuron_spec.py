"""NeuronSpec: one value for a model's neurons, kept in checkpoints as plain Python values."""

from __future__ import annotations

import io

import pytest
import torch

from ltsnn.models import create_model, model_neuron
from ltsnn.neurons import LIFNeuron, NeuronSpec
from ltsnn.neurons.qcfs import QCFS


def test_round_trip_through_a_weights_only_checkpoint():
    spec = NeuronSpec("lif", threshold_grad="stsg", learn_first_threshold=True,
                      options={"decay": 0.25, "threshold_shape": "channel"})
    model_args = {"name": "vgg_tiny", "kwargs": {"in_channels": 2, "num_classes": 4, "input_size": [16, 16],
                                                 "neuron": spec.to_dict(), "dropout": 0.0}}
    model = create_model(model_args["name"], **model_args["kwargs"])
    buffer = io.BytesIO()
    torch.save({"model_args": model_args, "model": model.state_dict()}, buffer)
    buffer.seek(0)
    ckpt = torch.load(buffer, weights_only=True)
    assert NeuronSpec.from_dict(ckpt["model_args"]["kwargs"]["neuron"]) == spec
    again = create_model(ckpt["model_args"]["name"], **ckpt["model_args"]["kwargs"])
    again.load_state_dict(ckpt["model"])
    first = again.features[1]
    assert first.learnable and first.v_th.shape == (16,) and first.decay == 0.25


def test_spec_builds_each_layer():
    spec = NeuronSpec(threshold_grad="penalty_for_all")
    first, later = spec.build(channels=8, first=True), spec.build(channels=8)
    assert isinstance(first, LIFNeuron) and not first.learnable
    assert later.learnable and later.threshold_grad == "penalty_for_all"
    assert NeuronSpec(threshold_grad="fixed").build(channels=8).learnable is False
    auto = NeuronSpec(threshold_grad="auto")
    assert auto.build(channels=8).threshold_grad == "stsg"
    assert not NeuronSpec("lmht", threshold_grad="auto").build(channels=8).learnable
    qcfs = NeuronSpec("qcfs", threshold_grad="sgp", options={"levels": 4}).build(channels=8, first=True)
    assert isinstance(qcfs, QCFS) and qcfs.levels == 4 and qcfs.lam.requires_grad   # λ always learns


def test_spec_errors_name_the_field():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['neuron_options'\]; valid: \['name'"):
        NeuronSpec.from_dict({"name": "lif", "neuron_options": {}})
    with pytest.raises(ValueError, match="NeuronSpec.learn_first_threshold: expected bool"):
        NeuronSpec(learn_first_threshold="yes")
    with pytest.raises(ValueError, match="unknown neuron 'izhikevich'"):
        NeuronSpec("izhikevich").build(channels=1)
    with pytest.raises(ValueError, match=r"bad options \['decy'\]"):
        NeuronSpec(options={"decy": 0.5}).build(channels=1)
    with pytest.raises(ValueError, match="set by threshold_grad"):
        NeuronSpec(options={"learn_threshold": False}).build(channels=1)


def test_create_model_takes_a_spec_a_dict_or_a_name_over_the_model_default():
    assert model_neuron("resnet20") == NeuronSpec(threshold_grad="auto")
    assert model_neuron("resnet20", "lmht") == NeuronSpec("lmht", threshold_grad="auto")
    assert model_neuron("yolo_tiny", {"threshold_grad": "fixed"}) == NeuronSpec(threshold_grad="fixed",
                                                                               learn_first_threshold=True)
    spec = NeuronSpec("ilif", threshold_grad="fixed")
    assert model_neuron("yolo_tiny", spec) is spec
    with pytest.raises(ValueError, match="valid"):
        create_model("vgg_tiny", threshold_grad="sgp")             # neuron fields go in the spec
