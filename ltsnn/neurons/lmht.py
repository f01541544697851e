"""M-HT, LM-HT and the conversion IF neuron as nn.Modules (methods §2.3-2.8).

The equations live in :mod:`ltsnn.functional.lmht`. θ is a buffer in all three: LM-HT never trains it.
The starting membrane ``v_init`` (and LM-HT's ``input_scale``) are buffers too, so that a converted network
keeps its per-layer values (θ = λ_QCFS, v(0) = θ/2, ×L on the first layer) in its ``state_dict``.
"""

from __future__ import annotations

import torch
from torch import nn

from ltsnn.functional.lmht import lmht_binary_multistep, lmht_leak, lmht_multistep, mht_multistep, tgim_weights
from ltsnn.neurons.base import SpikingNeuron
from ltsnn.neurons.registry import register_neuron


def _check_theta(v_th: float, levels: int, neuron: str) -> None:
    if v_th <= 0 or levels < 1:
        raise ValueError(f"{neuron} needs v_th > 0 and levels >= 1, got v_th={v_th}, levels={levels}")


@register_neuron("mht")
class MHTNeuron(SpikingNeuron):
    """M-HT neuron: up to L spikes per step, output s·θ, soft reset, full BPTT (methods §2.3).

    Input and output are time-major ``[T, B, ...]``. ``levels=1`` is the IF neuron of the official L = 1
    path (surrogate window [θ/2, 3θ/2]). ``v_init`` is the membrane each batch starts from (absolute
    units; θ/2 for conversion). θ (``v_th``) is a buffer.
    """

    def __init__(self, *, levels: int = 2, v_th: float = 1.0, leak: float = 1.0, v_init: float = 0.0,
                 threshold_grad: str = "fixed"):
        self.check_threshold_grad(threshold_grad)
        _check_theta(v_th, levels, "MHTNeuron")
        super().__init__(torch.tensor(float(v_th)), learnable=False)
        self.register_buffer("v_init", torch.tensor(float(v_init)))
        self.levels, self.leak = int(levels), float(leak)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        y_seq, self.v = mht_multistep(x_seq, self.v_th, levels=self.levels, leak=self.leak,
                                      v_init=self.v_init if self.v is None else self.v)
        return y_seq

    def extra_repr(self) -> str:
        return f"levels={self.levels}, v_th={float(self.v_th)}, leak={self.leak}, v_init={float(self.v_init)}"


@register_neuron("if_convert")
class IFConvertNeuron(MHTNeuron):
    """The IF neuron that replaces a QCFS activation: θ = λ_QCFS, v(0) = θ/2, soft reset, output spike·θ (§2.7).

    Input and output are ``[T, B, ...]``; ``v_th`` is the QCFS layer's λ.
    """

    def __init__(self, *, v_th: float = 8.0, threshold_grad: str = "fixed"):
        super().__init__(levels=1, v_th=v_th, v_init=0.5 * v_th, threshold_grad=threshold_grad)


@register_neuron("lmht")
class LMHTNeuron(SpikingNeuron):
    """LM-HT neuron: M-HT with the T-GIM and a learnable leak, membrane and reset detached (methods §2.4-2.5).

    Input ``[T_in, B, ...]`` (or ``[1, B, ...]``, the official DVS path), output ``[T, B, ...]``. Parameters:
    ``M`` ``[T, T_in]`` (the T-GIM logits, one matrix per layer shared across channels and positions, init 0:
    ω = 1/T_in) and ``a`` (a scalar, init 0: λ = 1). θ (``v_th``) is a buffer: 2/L in direct training
    (the default, L = 2, θ = 1), λ_QCFS in hybrid training, with ``v_init`` = θ/2 there. ``input_scale``
    multiplies the input currents: 1, except L on the first layer of a network converted from QCFS (§2.8).
    """

    def __init__(self, *, levels: int = 2, v_th: float = 1.0, steps: int = 2, steps_in: int | None = None,
                 v_init: float = 0.0, input_scale: float = 1.0, threshold_grad: str = "fixed"):
        self.check_threshold_grad(threshold_grad)
        _check_theta(v_th, levels, "LMHTNeuron")
        steps_in = steps if steps_in is None else steps_in
        if steps < 1 or steps_in < 1:
            raise ValueError(f"LMHTNeuron needs steps >= 1 and steps_in >= 1, got steps={steps}, steps_in={steps_in}")
        super().__init__(torch.tensor(float(v_th)), learnable=False)
        self.M = nn.Parameter(torch.zeros(steps, steps_in))
        self.a = nn.Parameter(torch.zeros(()))
        self.register_buffer("v_init", torch.tensor(float(v_init)))
        self.register_buffer("input_scale", torch.tensor(float(input_scale)))
        self.levels = int(levels)

    @property
    def omega(self) -> torch.Tensor:
        """The T-GIM ω = 2σ(M)/T_in ``[T, T_in]`` (for an input of T_in steps)."""
        return tgim_weights(self.M, self.M.shape[1])

    @property
    def leak(self) -> torch.Tensor:
        """λ = σ(a) + ½."""
        return lmht_leak(self.a)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        y_seq, self.v = lmht_multistep(x_seq * self.input_scale, self.v_th, self.M, self.a, levels=self.levels,
                                       v_init=self.v_init if self.v is None else self.v)
        return y_seq

    def extra_repr(self) -> str:
        return (f"levels={self.levels}, v_th={float(self.v_th)}, steps={self.M.shape[0]}, "
                f"steps_in={self.M.shape[1]}, v_init={float(self.v_init)}, input_scale={float(self.input_scale)}")


@register_neuron("lmht_binary")
class LMHTBinaryNeuron(LMHTNeuron):
    """An LM-HT layer run as a binary IF layer over L·T sub-steps (methods §2.6), for inference.

    Same parameters and buffers as :class:`LMHTNeuron` (load a trained LM-HT layer's ``state_dict``);
    input ``[L·T_in, B, ...]`` sub-step currents, output binary spikes ·θ ``[L·T, B, ...]``. The network
    around it must spread every constant over the L sub-steps (:mod:`ltsnn.convert.reparam`).
    """

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        y_seq, self.v = lmht_binary_multistep(x_seq * self.input_scale, self.v_th, self.M, self.a,
                                              levels=self.levels, v_init=self.v_init if self.v is None else self.v)
        return y_seq
