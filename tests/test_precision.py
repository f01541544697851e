"""Mixed precision (issue 12): autocast to bf16 on the CPU, neurons kept in float32 inside, fp16 refused
where it cannot run."""

import pytest
import torch

from ltsnn.cli import main
from ltsnn.engine.precision import Precision
from ltsnn.neurons import NEURONS, SpikingNeuron, create_neuron
from tiny_run import one_error_line, records, register_tiny_datasets, tiny_args


@pytest.mark.parametrize("name", sorted(n for n, cls in NEURONS.items() if issubclass(cls, SpikingNeuron)))
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_neurons_compute_low_precision_inputs_in_float32(name, dtype):
    torch.manual_seed(0)
    x = (torch.randn(4, 2, 3, 4, 4) * 3).to(dtype)              # T = 4: a multiple of LM-HT's L = 2
    low = x.clone().requires_grad_()
    y = create_neuron(name)(low)
    reference = create_neuron(name)(x.float())                 # the same (rounded) input, in float32
    assert y.dtype == dtype
    assert torch.equal(y.float(), reference.to(dtype).float())
    y.float().sum().backward()
    assert low.grad.dtype == dtype and torch.isfinite(low.grad.float()).all()


def test_the_threshold_gradient_does_not_overflow_under_float16():
    # The threshold's gradient sums a surrogate term over every neuron of the layer: 2^17 terms of ~1 pass
    # float16's 65504. Summed in float16 it was inf; the neuron now sums in float32.
    neuron = create_neuron("lif")
    x = torch.full((2, 1, 2 ** 17), 1.0, dtype=torch.float16, requires_grad=True)    # u = V_th: f'(0) = 1
    neuron(x).float().sum().backward()
    assert torch.isfinite(neuron.v_th.grad).all() and float(neuron.v_th.grad.abs()) > 65504


def test_bf16_autocast_runs_convolutions_in_bf16():
    p = Precision("bf16", "cpu")
    conv = torch.nn.Conv2d(2, 4, 3)
    with p.autocast():
        y = conv(torch.rand(1, 2, 8, 8))
    assert y.dtype == torch.bfloat16 and p.scaler is None


def test_fp16_needs_cuda(monkeypatch, tmp_path, capsys):
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        Precision("fp16", "cpu")
    register_tiny_datasets(monkeypatch)
    assert main(["train", *tiny_args(tmp_path, epochs=1), "train.precision=fp16"]) == 2
    assert "train.precision=fp16 needs train.device=cuda" in one_error_line(capsys)


def test_a_bf16_run_trains_like_fp32(monkeypatch, tmp_path):
    register_tiny_datasets(monkeypatch)
    assert main(["train", *tiny_args(tmp_path, "fp32", epochs=3)]) == 0
    assert main(["train", *tiny_args(tmp_path, "bf16", epochs=3), "train.precision=bf16"]) == 0
    fp32, bf16 = records(tmp_path / "fp32"), records(tmp_path / "bf16")
    assert bf16[-1]["train_loss"] < bf16[0]["train_loss"]      # it learns
    assert abs(bf16[-1]["train_loss"] - fp32[-1]["train_loss"]) < 0.1 * fp32[-1]["train_loss"]
    assert abs(bf16[-1]["test_acc"] - fp32[-1]["test_acc"]) <= 0.25
