"""DSR neurons (Meng et al. 2022) as nn.Modules: the LT-SNN Table 1 baseline, methods §1.4.

The equations and the rate-based backward live in :mod:`ltsnn.functional.dsr`.
"""

from __future__ import annotations

import torch

from ltsnn.functional.dsr import dsr_if_multistep, dsr_lif_multistep
from ltsnn.functional.neuron import THRESHOLD_GRADS
from ltsnn.neurons.base import SpikingNeuron
from ltsnn.neurons.registry import register_neuron

# DSR trains a learnable V_th with its own rate gradient whatever the mode: it accepts "dsr" and every LIF
# mode so that a model's threshold_grad works with either neuron (the LIF modes' formulas do not apply to DSR).
DSR_THRESHOLD_GRADS = ("dsr", *(m for m in THRESHOLD_GRADS if m != "fixed"))


class _DSRNeuron(SpikingNeuron):
    threshold_grads = DSR_THRESHOLD_GRADS

    def __init__(self, *, v_th: float, learn_threshold: bool, threshold_grad: str, alpha: float, vth_bound: float):
        super().__init__()
        self.check_threshold_grad(threshold_grad)
        if vth_bound <= 0 or v_th < vth_bound:
            raise ValueError(f"DSR neuron needs 0 < vth_bound <= v_th, got vth_bound={vth_bound}, v_th={v_th}")
        self.register_threshold(torch.full((1,), float(v_th)), learn=learn_threshold)
        self.threshold_grad = threshold_grad
        self.alpha, self.vth_bound = float(alpha), float(vth_bound)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        # DSR clamps the stored threshold itself (not a copy) before every forward, so the optimizer
        # continues from the bounded value.
        with torch.no_grad():
            self.v_th.clamp_(min=self.vth_bound)
        return super().forward(x_seq)


@register_neuron("dsr_if")
class DSRIFNeuron(_DSRNeuron):
    """DSR's IF neuron: spikes of value V_th, soft reset, rate-based backward (methods §1.4).

    Input and output are time-major ``[T, B, ...]``. One threshold per layer, an ``nn.Parameter`` (init
    ``v_th``) clamped to ``>= vth_bound`` at each forward and trained by DSR's gradient (every accepted
    ``threshold_grad`` means that), or a buffer when ``learn_threshold=False``. Defaults are DSR's IF
    recipe (V_th = 6, α = 0.5, bound 0.01).

    Example:
        >>> import torch
        >>> DSRIFNeuron()(torch.full((2, 1, 1), 4.0)).flatten().tolist()  # fires at u >= αV_th = 3: u = 4, 2
        [6.0, 0.0]
    """

    def __init__(self, *, v_th: float = 6.0, learn_threshold: bool = True, threshold_grad: str = "dsr",
                 alpha: float = 0.5, vth_bound: float = 0.01):
        super().__init__(v_th=v_th, learn_threshold=learn_threshold, threshold_grad=threshold_grad, alpha=alpha,
                         vth_bound=vth_bound)

    def multistep(self, x_seq: torch.Tensor, v_init: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        return dsr_if_multistep(x_seq, self.v_th, alpha=self.alpha, v_init=v_init)

    def extra_repr(self) -> str:
        return f"learnable={self.learnable}, alpha={self.alpha}, vth_bound={self.vth_bound}"


@register_neuron("dsr_lif")
class DSRLIFNeuron(_DSRNeuron):
    """DSR's LIF neuron: outputs s_t/Δt with s_t ∈ {0, V_th}, soft reset, weighted-rate backward (§1.4).

    Input and output are time-major ``[T, B, ...]``. Threshold handling as in :class:`DSRIFNeuron`.
    Defaults are DSR's (V_th = 0.3, α = 0.3, τ = 1, Δt = 0.05, bound 5e-4).
    """

    def __init__(self, *, v_th: float = 0.3, learn_threshold: bool = True, threshold_grad: str = "dsr",
                 alpha: float = 0.3, tau: float = 1.0, delta_t: float = 0.05, vth_bound: float = 5e-4):
        super().__init__(v_th=v_th, learn_threshold=learn_threshold, threshold_grad=threshold_grad, alpha=alpha,
                         vth_bound=vth_bound)
        if tau <= 0 or delta_t <= 0:
            raise ValueError(f"DSRLIFNeuron needs tau > 0 and delta_t > 0, got tau={tau}, delta_t={delta_t}")
        self.tau, self.delta_t = float(tau), float(delta_t)

    def multistep(self, x_seq: torch.Tensor, v_init: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        return dsr_lif_multistep(x_seq, self.v_th, alpha=self.alpha, tau=self.tau, delta_t=self.delta_t,
                                 v_init=v_init)

    def extra_repr(self) -> str:
        return (f"learnable={self.learnable}, alpha={self.alpha}, tau={self.tau}, delta_t={self.delta_t}, "
                f"vth_bound={self.vth_bound}")
