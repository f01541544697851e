"""SpikeYOLO's I-LIF neurons as nn.Modules (methods §5.1); the equations live in :mod:`ltsnn.functional.ilif`.

I-LIF has no threshold: its levels are the integers 0..D, so these neurons register no ``v_th``.
"""

from __future__ import annotations

import torch

from ltsnn.functional.ilif import ilif_gen1_multistep
from ltsnn.kernels.ilif import ilif_multistep
from ltsnn.kernels.lif import BACKENDS
from ltsnn.neurons.base import SpikingNeuron, check_decay
from ltsnn.neurons.registry import register_neuron


def _check_levels(levels: int, neuron: str) -> int:
    if levels < 1:
        raise ValueError(f"{neuron} needs levels >= 1 (D, the largest integer spike), got {levels}")
    return int(levels)


@register_neuron("ilif")
class ILIFNeuron(SpikingNeuron):
    """COCO I-LIF: integer spikes round(clip(U, 0, D)), soft reset by the integer, then leak β (methods §5.1).

    Input and output are ``[T, B, ...]``; outputs are integers in {0..D} (expand them with
    :func:`ltsnn.functional.ilif.expand_integer_spikes` for spike-driven inference). Defaults D = 4, β = 0.25.
    ``backend`` picks the implementation (:mod:`ltsnn.kernels.ilif`): ``"auto"`` (the fused numba kernel on
    the CPU where installed), ``"torch"`` (the reference) or ``"numba"``; it is not saved in the state dict.

    Example:
        >>> import torch
        >>> ILIFNeuron()(torch.tensor([[2.6], [9.0]])).flatten().tolist()
        [3.0, 4.0]
    """

    def __init__(self, *, levels: int = 4, decay: float = 0.25, backend: str = "auto"):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"ILIFNeuron: unknown backend {backend!r}; expected one of {list(BACKENDS)}")
        self.levels = _check_levels(levels, "ILIFNeuron")
        self.decay = check_decay(decay, where="ILIFNeuron")
        self.backend = backend

    def multistep(self, x_seq: torch.Tensor, v_init: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        return ilif_multistep(x_seq, levels=self.levels, decay=self.decay, v_init=v_init, backend=self.backend)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, decay={self.decay}, backend={self.backend!r}"


@register_neuron("ilif_gen1")
class ILIFGen1Neuron(SpikingNeuron):
    """Gen1 I-LIF: spikingjelly LIF (τ = 2, decay_input, detached soft reset) firing round(clip(U, 0, D)) (§5.1).

    Input and output are ``[T, B, ...]``; outputs are integers in {0..D}. Defaults D = 4, τ = 2.
    """

    def __init__(self, *, levels: int = 4, tau: float = 2.0):
        super().__init__()
        self.levels = _check_levels(levels, "ILIFGen1Neuron")
        if tau <= 1:
            raise ValueError(f"ILIFGen1Neuron needs tau > 1, got tau={tau}")
        self.tau = float(tau)

    def multistep(self, x_seq: torch.Tensor, v_init: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        return ilif_gen1_multistep(x_seq, levels=self.levels, tau=self.tau, v_init=v_init)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, tau={self.tau}"
