"""DSR neurons (Meng et al. 2022) as nn.Modules: the LT-SNN Table 1 baseline, methods §1.4.

The equations and the rate-based backward live in :mod:`ltsnn.functional.dsr`.
"""

from __future__ import annotations

import torch

from ltsnn.functional.dsr import dsr_if_multistep, dsr_lif_multistep
from ltsnn.functional.neuron import THRESHOLD_GRADS
from ltsnn.neurons.base import SpikingNeuron
from ltsnn.neurons.registry import register_neuron

# "fixed" makes V_th a buffer. Every other name makes it a learnable parameter trained by DSR's own rate
# gradient: "dsr", or any LIF threshold_grad mode, so that a model's threshold_grad option works with
# either neuron (the LIF modes' formulas do not apply to DSR).
DSR_THRESHOLD_GRADS = tuple(dict.fromkeys(("fixed", "dsr", *THRESHOLD_GRADS)))


class _DSRNeuron(SpikingNeuron):
    threshold_grads = DSR_THRESHOLD_GRADS

    def __init__(self, *, threshold_grad: str, v_th: float, alpha: float, vth_bound: float):
        self.check_threshold_grad(threshold_grad)
        if vth_bound <= 0 or v_th < vth_bound:
            raise ValueError(f"DSR neuron needs 0 < vth_bound <= v_th, got vth_bound={vth_bound}, v_th={v_th}")
        super().__init__(torch.full((1,), float(v_th)), learnable=threshold_grad != "fixed")
        self.threshold_grad = threshold_grad
        self.alpha, self.vth_bound = float(alpha), float(vth_bound)

    def _bound_threshold(self) -> None:
        # DSR clamps the stored threshold itself (not a copy) before every forward, so the optimizer
        # continues from the bounded value.
        with torch.no_grad():
            self.v_th.clamp_(min=self.vth_bound)


@register_neuron("dsr_if")
class DSRIFNeuron(_DSRNeuron):
    """DSR's IF neuron: spikes of value V_th, soft reset, rate-based backward (methods §1.4).

    Input and output are time-major ``[T, B, ...]``. One threshold per layer, an ``nn.Parameter`` (init
    ``v_th``) clamped to ``>= vth_bound`` at each forward, or a buffer when ``threshold_grad="fixed"``;
    any other accepted name means "learnable, trained by DSR's gradient". Defaults are DSR's IF recipe
    (V_th = 6, α = 0.5, bound 0.01).
    """

    def __init__(self, *, threshold_grad: str = "dsr", v_th: float = 6.0, alpha: float = 0.5,
                 vth_bound: float = 0.01):
        super().__init__(threshold_grad=threshold_grad, v_th=v_th, alpha=alpha, vth_bound=vth_bound)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        self._bound_threshold()
        spikes_seq, self.v = dsr_if_multistep(x_seq, self.v_th, alpha=self.alpha,
                                              v_init=0.0 if self.v is None else self.v)
        return spikes_seq

    def extra_repr(self) -> str:
        return f"threshold_grad={self.threshold_grad!r}, alpha={self.alpha}, vth_bound={self.vth_bound}"


@register_neuron("dsr_lif")
class DSRLIFNeuron(_DSRNeuron):
    """DSR's LIF neuron: outputs s_t/Δt with s_t ∈ {0, V_th}, soft reset, weighted-rate backward (§1.4).

    Input and output are time-major ``[T, B, ...]``. Threshold handling as in :class:`DSRIFNeuron`.
    Defaults are DSR's (V_th = 0.3, α = 0.3, τ = 1, Δt = 0.05, bound 5e-4).
    """

    def __init__(self, *, threshold_grad: str = "dsr", v_th: float = 0.3, alpha: float = 0.3, tau: float = 1.0,
                 delta_t: float = 0.05, vth_bound: float = 5e-4):
        super().__init__(threshold_grad=threshold_grad, v_th=v_th, alpha=alpha, vth_bound=vth_bound)
        if tau <= 0 or delta_t <= 0:
            raise ValueError(f"DSRLIFNeuron needs tau > 0 and delta_t > 0, got tau={tau}, delta_t={delta_t}")
        self.tau, self.delta_t = float(tau), float(delta_t)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        self._bound_threshold()
        out_seq, self.v = dsr_lif_multistep(x_seq, self.v_th, alpha=self.alpha, tau=self.tau,
                                            delta_t=self.delta_t, v_init=0.0 if self.v is None else self.v)
        return out_seq

    def extra_repr(self) -> str:
        return (f"threshold_grad={self.threshold_grad!r}, alpha={self.alpha}, tau={self.tau}, "
                f"delta_t={self.delta_t}, vth_bound={self.vth_bound}")
