"""SpikeYOLO's I-LIF neurons as nn.Modules (methods §5.1); the equations live in :mod:`ltsnn.functional.ilif`."""

from __future__ import annotations

import torch

from ltsnn.functional.ilif import ilif_gen1_multistep, ilif_multistep
from ltsnn.neurons.base import SpikingNeuron
from ltsnn.neurons.registry import register_neuron


class _IntegerNeuron(SpikingNeuron):
    def __init__(self, *, levels: int, threshold_grad: str, neuron: str):
        self.check_threshold_grad(threshold_grad)
        if levels < 1:
            raise ValueError(f"{neuron} needs levels >= 1 (D, the largest integer spike), got {levels}")
        # I-LIF has no threshold parameter: its levels are the integers. v_th = 1 records that implicit level
        # spacing as a buffer, so monitors and exports that read every neuron's v_th see the true value.
        super().__init__(torch.tensor(1.0), learnable=False)
        self.levels = int(levels)


@register_neuron("ilif")
class ILIFNeuron(_IntegerNeuron):
    """COCO I-LIF: integer spikes round(clip(U, 0, D)), soft reset by the integer, then leak β (methods §5.1).

    Input and output are ``[T, B, ...]``; outputs are integers in {0..D} (expand them with
    :func:`ltsnn.functional.ilif.expand_integer_spikes` for spike-driven inference). Defaults D = 4, β = 0.25.
    """

    def __init__(self, *, levels: int = 4, decay: float = 0.25, threshold_grad: str = "fixed"):
        super().__init__(levels=levels, threshold_grad=threshold_grad, neuron="ILIFNeuron")
        self.decay = float(decay)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        s_seq, self.v = ilif_multistep(x_seq, levels=self.levels, decay=self.decay,
                                       v_init=0.0 if self.v is None else self.v)
        return s_seq

    def extra_repr(self) -> str:
        return f"levels={self.levels}, decay={self.decay}"


@register_neuron("ilif_gen1")
class ILIFGen1Neuron(_IntegerNeuron):
    """Gen1 I-LIF: spikingjelly LIF (τ = 2, decay_input, detached soft reset) firing round(clip(U, 0, D)) (§5.1).

    Input and output are ``[T, B, ...]``; outputs are integers in {0..D}. Defaults D = 4, τ = 2.
    """

    def __init__(self, *, levels: int = 4, tau: float = 2.0, threshold_grad: str = "fixed"):
        super().__init__(levels=levels, threshold_grad=threshold_grad, neuron="ILIFGen1Neuron")
        if tau <= 1:
            raise ValueError(f"ILIFGen1Neuron needs tau > 1, got tau={tau}")
        self.tau = float(tau)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        s_seq, self.v = ilif_gen1_multistep(x_seq, levels=self.levels, tau=self.tau,
                                            v_init=0.0 if self.v is None else self.v)
        return s_seq

    def extra_repr(self) -> str:
        return f"levels={self.levels}, tau={self.tau}"
