"""Synaptic operations and energy (BICLab convention, methods §5.3) and the membrane monitor, by hand."""

import pytest
import torch
from torch import nn

from ltsnn.engine.energy import SynapticOpsMonitor, layer_flops
from ltsnn.engine.monitor import FiringRateMonitor, MembraneMonitor, neuron_labels
from ltsnn.layers import SeqToBatch
from ltsnn.neurons import LIFNeuron, reset_states

T, B = 2, 2


def center_tap_conv(c_in: int, c_out: int, *, copies: int) -> nn.Conv2d:
    """3x3 conv whose first ``copies`` output channels are 2 × input channel 0; every other weight is 0."""
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:copies, 0, 1, 1] = 2.0
    return conv


def hand_network() -> nn.Sequential:
    """conv1 (1->2) -> LIF -> conv2 (2->3) -> LIF -> flatten -> fc1 (48->5) -> fc2 (5->4), on 4x4 frames.

    conv1 copies 2·x into channel 0 (channel 1 stays 0), so LIF1 (V_th 1, hard reset) spikes exactly
    where x = 1 at every step; conv2 copies 2·(LIF1 channel 0) into its 3 channels, so LIF2 spikes
    where x = 1 in all 3. fc1 has all weights −1: its output is minus the spike count, negative.
    """
    fc1 = nn.Linear(48, 5, bias=False)
    nn.init.constant_(fc1.weight, -1.0)
    return nn.Sequential(SeqToBatch(center_tap_conv(1, 2, copies=1)), LIFNeuron(learn_threshold=False),
                         SeqToBatch(center_tap_conv(2, 3, copies=3)), LIFNeuron(learn_threshold=False),
                         SeqToBatch(nn.Flatten(), fc1, nn.Linear(5, 4)))


def hand_input() -> torch.Tensor:
    """[T=2, B=2, 1, 4, 4]: sample 0 has 4 ones at t=0 and 8 at t=1 (12 in all); sample 1 is empty."""
    x_seq = torch.zeros(T, B, 1, 4, 4)
    x_seq[0, 0, 0, 0, :] = 1                                    # 4 ones
    x_seq[1, 0, 0, 1:3, :] = 1                                  # 8 ones
    return x_seq


def measure(first_layer: str = "mac") -> dict:
    model = hand_network()
    with SynapticOpsMonitor(model, time_steps=T) as ops, torch.no_grad():
        model(hand_input())
        reset_states(model)
    return ops.summary(first_layer=first_layer)


def test_flops_follow_the_convention():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    out = conv(torch.zeros(1, 4, 8, 8))                         # H_out = W_out = 4
    assert layer_flops(conv, out) == 4 * 6 * 3 * 3 * 4 * 4 // 2 == 1728
    assert layer_flops(nn.Linear(7, 3), torch.zeros(5, 3)) == 21


def test_hand_built_network_ops_and_energy():
    s = measure()
    conv1, conv2, fc1, fc2 = (s["layers"][n] for n in ("0.0", "2.0", "4.1", "4.2"))
    assert [v["label"] for v in (conv1, conv2, fc1, fc2)] == ["conv1", "conv2", "fc1", "fc2"]
    # FLOPs of one frame: conv1 1·2·9·4·4 = 288, conv2 2·3·9·16 = 864, fc1 48·5 = 240, fc2 5·4 = 20.
    assert [v["flops"] for v in (conv1, conv2, fc1, fc2)] == [288, 864, 240, 20]
    # Input rates: the frames hold 12 ones in T·B·16 = 64 values: 0.1875. LIF1 spikes where x = 1 in
    # channel 0 only: 12 / (T·B·2·16 = 128) = 0.09375. LIF2 spikes there in all 3 channels:
    # 36 / (T·B·48 = 192) = 0.1875.
    assert conv1["input_rate"] == pytest.approx(0.1875) and conv2["input_rate"] == pytest.approx(0.09375)
    assert fc1["input_rate"] == pytest.approx(0.1875)
    assert [v["input"] for v in (conv1, conv2, fc1, fc2)] == ["real", "spikes", "spikes", "real"]
    # Per sample (2 samples), T = 2:
    #   conv1 (first layer): T·FLOPs = 2·288 = 576 MACs       -> 4.6·576 = 2649.6 pJ
    #   conv2: SOP = 0.09375·2·864 = 162                      -> 0.9·162 = 145.8 pJ
    #          (by counting: 12 spikes, each fans out to C_out·k² = 27 synapses: 324 ACs / 2 samples)
    #   fc1:   SOP = 0.1875·2·240 = 90                        -> 0.9·90 = 81 pJ   (36 spikes × 5 / 2)
    #   fc2:   its input is fc1's output, negative: T·20 = 40 MACs -> 4.6·40 = 184 pJ
    assert [v["ops"] for v in (conv1, conv2, fc1, fc2)] == pytest.approx([576, 162, 90, 40])
    assert [v["snn_energy_pj"] for v in (conv1, conv2, fc1, fc2)] == pytest.approx([2649.6, 145.8, 81.0, 184.0])
    # ANN, one pass: 4.6·(288 + 864 + 240 + 20) = 4.6·1412 = 6495.2 pJ; SNN 2649.6 + 145.8 + 81 + 184 = 3060.4 pJ.
    total = s["total"]
    assert total["ann_energy_pj"] == pytest.approx(6495.2) and total["snn_energy_pj"] == pytest.approx(3060.4)
    assert total["ann_over_snn"] == pytest.approx(6495.2 / 3060.4)
    assert (total["macs"], total["sops"], total["flops"]) == (pytest.approx(616), pytest.approx(252), 1412)
    assert s["samples"] == B and s["time_steps"] == T and (s["e_mac_pj"], s["e_ac_pj"]) == (4.6, 0.9)


def test_first_layer_modes_and_energy_constants():
    # mac_once: conv1 counts FLOPs = 288 MACs once -> 1324.8 pJ; SNN 1324.8 + 145.8 + 81 + 184 = 1735.6 pJ.
    assert measure("mac_once")["total"]["snn_energy_pj"] == pytest.approx(1735.6)
    # sop: the binary frames are spikes: 0.1875·2·288 = 108 SOPs -> 97.2 pJ; SNN 97.2 + 145.8 + 81 + 184 = 508 pJ.
    s = measure("sop")
    assert s["layers"]["0.0"]["input"] == "spikes" and s["total"]["snn_energy_pj"] == pytest.approx(508.0)
    model = hand_network()
    with SynapticOpsMonitor(model, time_steps=T) as ops, torch.no_grad():
        model(hand_input())
    custom = ops.summary(e_mac=3.1, e_ac=0.1)
    assert custom["layers"]["2.0"]["snn_energy_pj"] == pytest.approx(0.1 * 162)
    assert custom["total"]["ann_energy_pj"] == pytest.approx(3.1 * 1412)
    with pytest.raises(ValueError, match=r"unknown first_layer 'once'; expected one of \['mac', 'mac_once', 'sop'\]"):
        ops.summary(first_layer="once")
    wrong_t = SynapticOpsMonitor(model, time_steps=3)
    with wrong_t, torch.no_grad():
        model(hand_input())                                     # 4 frames (T·B) are not a multiple of 3
    with pytest.raises(ValueError, match=r"layer '0.0' saw 4 frames, not a multiple of time_steps=3"):
        wrong_t.summary()


class IntegerSpikes(nn.Module):
    """Stand-in for an I-LIF layer: integer spikes round(clip(x, 0, 4)) (no state)."""

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return x_seq.clamp(0, 4).round()


def test_integer_spikes_count_their_value():
    fc1, fc2 = nn.Linear(4, 4, bias=False), nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(torch.eye(4))
        fc2.weight.fill_(1.0)
    model = nn.Sequential(SeqToBatch(fc1), IntegerSpikes(), SeqToBatch(fc2))
    with SynapticOpsMonitor(model, time_steps=1) as ops, torch.no_grad():
        model(torch.tensor([[[3.0, 0.0, 2.0, 0.0]]]))           # [T=1, B=1, 4]
    layer = ops.summary()["layers"]["2.0"]
    # Spikes 3, 0, 2, 0: rate 5/4 = 1.25; SOP = 1.25·1·(4·2) = 10 = 5 binary (virtual-step) spikes × fan-out 2.
    assert layer["input"] == "spikes"
    assert layer["input_rate"] == pytest.approx(1.25) and layer["ops"] == pytest.approx(10)


def test_membrane_and_firing_rate_monitors():
    lif = LIFNeuron(learn_threshold=False)
    model = nn.Sequential(lif)
    # Two neurons, decay 0.5, V_th 1: I = [0.8, 0.3] -> u = 0.8, then 0.4 + 0.3 = 0.7 (no spike);
    # I = [1.2, 0.2] -> spike and reset to 0, then 0.2. v_T = [0.7, 0.2]: mean 0.45, std 0.25.
    x_seq = torch.tensor([[[0.8, 1.2]], [[0.3, 0.2]]])        # [T=2, B=1, 2]
    with MembraneMonitor(model) as membrane, FiringRateMonitor(model) as rates:
        model(x_seq)
    assert membrane.stats()["0"] == pytest.approx({"mean": 0.45, "std": 0.25})
    assert rates.rates()["0"] == pytest.approx(0.25)            # one spike in 4 neuron-steps
    assert not lif._forward_hooks                               # hooks removed on exit
    assert neuron_labels(hand_network()) == {"1": "LIF1", "3": "LIF2"}
