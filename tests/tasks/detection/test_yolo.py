"""The spiking detectors (spec detection.md §2.2-2.3, §5.2): sizes, head layout, neurons and thresholds."""

from __future__ import annotations

import pytest
import torch

from ltsnn.tasks.detection.grid import YoloGrid
from ltsnn.models import create_model
from ltsnn.models.yolo import SpikingDetector
from ltsnn.neurons import reset_states
from ltsnn.neurons.base import SpikingNeuron


def _params(module: torch.nn.Module, prefix: str) -> int:
    return sum(p.numel() for n, p in module.named_parameters() if n.startswith(prefix))


def test_ltsnn_code_detector_has_the_spec_sizes():
    # §2.2: 223x287 -> 1024 x 3 x 3 = 9216 features; 20.88 M conv+BN (+ one threshold per layer), 5.01 M FC,
    # 576 = 6 x 8 x 12 outputs.
    model = create_model("yolo_ltsnn")
    assert model.feature_shape == (1024, 3, 3)
    assert model.grid == (6, 8) and model.outputs_per_cell == 12
    assert round(_params(model, "features") / 1e6, 2) == 20.88
    assert round(_params(model, "head") / 1e6, 2) == 5.01
    neurons = [m for m in model.modules() if isinstance(m, SpikingNeuron)]
    assert len(neurons) == 19 and all(m.learnable for m in neurons)      # the first layer's V_th learns too
    assert model.head[-1].out_features == 576


def test_ltsnn_paper_backbone_maps():
    # §2.2: the Table 3 string at 240 x 304 ends at 1024 x 3 x 4 = 12 288 features.
    model = create_model("yolo_ltsnn", backbone="ltsnn_paper", input_size=(240, 304))
    assert model.feature_shape == (1024, 3, 4)
    assert model.head[1].in_features == 12288


def test_conv_head_output_is_the_cell_major_layout_of_the_loss():
    torch.manual_seed(0)
    model = create_model("yolo_tiny").eval()
    f_seq = torch.rand(3, 2, 64, 6, 8)                              # [T, B, C, 6, 8]
    out = model.forward_head(f_seq)                                 # [T, B, 6*8*12]
    conv = model.head[0]
    direct = torch.nn.functional.conv2d(f_seq.flatten(0, 1), conv.weight, conv.bias).unflatten(0, (3, 2))
    layout = YoloGrid(model.grid, 2, 2, model.input_size)
    split = layout.split(out[1])                                    # step 1: [B, 6, 8, K] by quantity
    torch.testing.assert_close(split.r, direct[1][:, 0:2].permute(0, 2, 3, 1))
    torch.testing.assert_close(split.cls_logit, direct[1][:, 10:12].permute(0, 2, 3, 1))
    assert out.shape == (3, 2, layout.num_outputs)


def test_tiny_detector_shapes_reset_and_threshold_gradients():
    torch.manual_seed(0)
    model = create_model("yolo_tiny", neuron={"options": {"decay": 1.0}})
    x_seq = (torch.rand(4, 2, 2, 48, 64) < 0.05).float()
    out = model(x_seq)
    assert out.shape == (4, 2, 576) and model.grid == (6, 8)
    (out * torch.randn_like(out)).sum().backward()
    thresholds = [p for n, p in model.named_parameters() if n.endswith("v_th")]
    assert len(thresholds) == 4
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in thresholds)
    model.eval()
    with torch.no_grad():
        reset_states(model)
        a = model(x_seq)
        reset_states(model)
        b = model(x_seq)
    torch.testing.assert_close(a, b)


def test_fixed_thresholds_and_ilif_integer_spikes():
    fixed = create_model("yolo_tiny", neuron={"threshold_grad": "fixed"})
    assert not [n for n, _ in fixed.named_parameters() if n.endswith("v_th")]
    ilif = create_model("yolo_tiny", neuron={"name": "ilif", "threshold_grad": "fixed"}).eval()
    spikes = []
    hooks = [m.register_forward_hook(lambda m, i, o: spikes.append(o)) for m in ilif.modules()
             if isinstance(m, SpikingNeuron)]
    with torch.no_grad():
        ilif(torch.rand(2, 1, 2, 48, 64) * 3)
    for h in hooks:
        h.remove()
    assert len(spikes) == 4
    values = torch.cat([s.flatten() for s in spikes])
    assert torch.equal(values, values.round()) and values.max() > 1      # integer spikes, not only 0/1
    with pytest.raises(ValueError, match="threshold_grad"):
        create_model("yolo_tiny", neuron={"name": "ilif", "threshold_grad": "sgp"})


def test_fc_head_grid_and_errors():
    model = create_model("yolo_tiny", head="fc", grid=[3, 4], fc_hidden=32)
    assert model.grid == (3, 4)
    assert model(torch.zeros(1, 1, 2, 48, 64)).shape == (1, 1, 3 * 4 * 12)
    with pytest.raises(ValueError, match="conv head's grid"):
        create_model("yolo_tiny", grid=[3, 4])
    with pytest.raises(ValueError, match="unknown backbone"):
        create_model("yolo_tiny", backbone="resnet")
    with pytest.raises(ValueError, match="too small"):
        create_model("yolo_tiny", input_size=(4, 4))
    with pytest.raises(ValueError, match="expects"):
        create_model("yolo_tiny")(torch.zeros(1, 1, 2, 48, 48))
    assert isinstance(model, SpikingDetector)
