"""M-HT, LM-HT and the conversion IF neuron as nn.Modules (methods §2.3-2.8).

The equations live in :mod:`ltsnn.functional.lmht`. θ is a buffer in all of them: LM-HT never trains it.
The starting membrane ``v_init`` (and LM-HT's ``input_scale``) are buffers too, so that a converted network
keeps its per-layer values (θ = λ_QCFS, v(0) = θ/2, ×L on the first layer) in its ``state_dict``.

The number of time steps T is not an option: LM-HT's T-GIM ``M`` is sized ``[T, T]`` from the first input
it sees (and from a loaded ``state_dict``). Only the official DVS path, where a one-step input is spread
over T steps, must be told T in advance (``steps``).
"""

from __future__ import annotations

import torch
from torch import nn

from ltsnn.functional.lmht import lmht_binary_multistep, lmht_leak, tgim_weights
from ltsnn.kernels.lif import BACKENDS
from ltsnn.kernels.mht import lmht_multistep, mht_multistep
from ltsnn.neurons.base import SpikingNeuron
from ltsnn.neurons.registry import register_neuron


def _check_theta(v_th: float, levels: int, neuron: str) -> None:
    if v_th <= 0 or levels < 1:
        raise ValueError(f"{neuron} needs v_th > 0 and levels >= 1, got v_th={v_th}, levels={levels}")


@register_neuron("mht")
class MHTNeuron(SpikingNeuron):
    """M-HT neuron: up to L spikes per step, output s·θ, soft reset, full BPTT (methods §2.3).

    Input and output are time-major ``[T, B, ...]``. ``levels=1`` is the IF neuron of the official L = 1
    path (surrogate window [θ/2, 3θ/2]). ``v_init`` is the membrane each sequence starts from (absolute
    units; θ/2 for conversion). θ (``v_th``) is a buffer. ``backend`` picks the implementation
    (:mod:`ltsnn.kernels.mht`): ``"auto"`` (the fused numba kernel on the CPU where installed), ``"torch"``
    (the reference) or ``"numba"``; it is not saved in the state dict.

    Example:
        >>> import torch
        >>> MHTNeuron(levels=2)(torch.tensor([[2.5], [0.2]])).flatten().tolist()   # 2 spikes, then v = 0.7
        [2.0, 0.0]
    """

    def __init__(self, *, levels: int = 2, v_th: float = 1.0, leak: float = 1.0, v_init: float = 0.0,
                 backend: str = "auto"):
        super().__init__()
        _check_theta(v_th, levels, type(self).__name__)
        if backend not in BACKENDS:
            raise ValueError(f"{type(self).__name__}: unknown backend {backend!r}; expected one of {list(BACKENDS)}")
        self.register_threshold(torch.tensor(float(v_th)), learn=False)
        self.register_buffer("v_init", torch.tensor(float(v_init)))
        self.levels, self.leak = int(levels), float(leak)
        self.backend = backend

    def resting_state(self) -> torch.Tensor:
        return self.v_init

    def multistep(self, x_seq: torch.Tensor, v_init: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        return mht_multistep(x_seq, self.v_th, levels=self.levels, leak=self.leak, v_init=v_init,
                             backend=self.backend)

    def extra_repr(self) -> str:
        return (f"levels={self.levels}, v_th={float(self.v_th)}, leak={self.leak}, v_init={float(self.v_init)}, "
                f"backend={self.backend!r}")


@register_neuron("if_convert")
class IFConvertNeuron(MHTNeuron):
    """The IF neuron that replaces a QCFS activation: θ = λ_QCFS, v(0) = θ/2, soft reset, output spike·θ (§2.7).

    Input and output are ``[T, B, ...]``; ``v_th`` is the QCFS layer's λ; ``backend`` as :class:`MHTNeuron`.
    """

    def __init__(self, *, v_th: float = 8.0, backend: str = "auto"):
        super().__init__(levels=1, v_th=v_th, v_init=0.5 * v_th, backend=backend)


@register_neuron("lmht")
class LMHTNeuron(SpikingNeuron):
    """LM-HT neuron: M-HT with the T-GIM and a learnable leak, membrane and reset detached (methods §2.4-2.5).

    Input ``[T_in, B, ...]`` (or ``[1, B, ...]``, the official DVS path), output ``[T, B, ...]``. Parameters:
    ``M`` ``[T, T_in]`` (the T-GIM logits, one matrix per layer shared across channels and positions, init 0:
    ω = 1/T_in) and ``a`` (a scalar, init 0: λ = 1). θ (``v_th``) is a buffer: 2/L in direct training
    (the default, L = 2, θ = 1), λ_QCFS in hybrid training, with ``v_init`` = θ/2 there. ``input_scale``
    multiplies the input currents: 1, except L on the first layer of a network converted from QCFS (§2.8).

    ``M`` is sized ``[T_in, T_in]`` by the first forward (T_in = the input's steps), or by loading a
    ``state_dict``; until then it is empty. Give ``steps`` (T, and ``steps_in`` if it differs) to size it
    now: the official DVS path needs it, as its first layer turns one input step into T. ``backend`` as
    :class:`MHTNeuron` (:func:`ltsnn.kernels.mht.lmht_multistep`: the T-GIM matmul stays in torch).

    Example:
        >>> import torch
        >>> lmht = LMHTNeuron(levels=2)
        >>> lmht(torch.rand(4, 3, 8)).shape, lmht.M.shape       # T = 4 from the input
        (torch.Size([4, 3, 8]), torch.Size([4, 4]))
        >>> LMHTNeuron(steps=4)(torch.rand(1, 3, 8)).shape      # the DVS path: 1 step in, T out
        torch.Size([4, 3, 8])
    """

    streamable = False                                          # the T-GIM weighs every step of the sequence

    def __init__(self, *, levels: int = 2, v_th: float = 1.0, v_init: float = 0.0, input_scale: float = 1.0,
                 steps: int | None = None, steps_in: int | None = None, backend: str = "auto"):
        super().__init__()
        _check_theta(v_th, levels, type(self).__name__)
        if backend not in BACKENDS:
            raise ValueError(f"{type(self).__name__}: unknown backend {backend!r}; expected one of {list(BACKENDS)}")
        if steps is None and steps_in is not None:
            raise ValueError(f"{type(self).__name__}: steps_in={steps_in} needs steps (T) too")
        steps_in = steps if steps_in is None else steps_in
        if steps is not None and (steps < 1 or steps_in < 1):
            raise ValueError(f"{type(self).__name__} needs steps >= 1 and steps_in >= 1, got steps={steps}, "
                             f"steps_in={steps_in}")
        self.register_threshold(torch.tensor(float(v_th)), learn=False)
        self.M = nn.Parameter(torch.zeros(steps or 0, steps_in or 0))
        self.a = nn.Parameter(torch.zeros(()))
        self.register_buffer("v_init", torch.tensor(float(v_init)))
        self.register_buffer("input_scale", torch.tensor(float(input_scale)))
        self.levels = int(levels)
        self.backend = backend

    @property
    def omega(self) -> torch.Tensor:
        """The T-GIM ω = 2σ(M)/T_in ``[T, T_in]`` (for an input of T_in steps)."""
        return tgim_weights(self.M, self.M.shape[1])

    @property
    def leak(self) -> torch.Tensor:
        """λ = σ(a) + ½."""
        return lmht_leak(self.a)

    def resting_state(self) -> torch.Tensor:
        return self.v_init

    def _input_steps(self, x_seq: torch.Tensor) -> int:
        """T_in, the steps of the input as the T-GIM mixes them."""
        return x_seq.shape[0]

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        loaded = state_dict.get(prefix + "M")
        if loaded is not None and (self.M.numel() == 0 or loaded.numel() == 0):
            self.M.data = self.M.new_empty(loaded.shape)            # M takes T from the checkpoint
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        steps = self._input_steps(x_seq)
        if self.M.numel() == 0 and steps > 0:
            # Only the data is replaced, not the Parameter, so an optimizer built before the first forward
            # still holds M; its state (Adam's moments) is created at the first step, after this.
            self.M.data = self.M.new_zeros(steps, steps)
        return super().forward(x_seq)

    def multistep(self, x_seq: torch.Tensor, v_init: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        return lmht_multistep(x_seq * self.input_scale, self.v_th, self.M, self.a, levels=self.levels, v_init=v_init,
                              backend=self.backend)

    def extra_repr(self) -> str:
        steps = f"steps={self.M.shape[0]}, steps_in={self.M.shape[1]}" if self.M.numel() else "steps=from input"
        return (f"levels={self.levels}, v_th={float(self.v_th)}, {steps}, v_init={float(self.v_init)}, "
                f"input_scale={float(self.input_scale)}, backend={self.backend!r}")


@register_neuron("lmht_binary")
class LMHTBinaryNeuron(LMHTNeuron):
    """An LM-HT layer run as a binary IF layer over L·T sub-steps (methods §2.6), for inference.

    Same parameters and buffers as :class:`LMHTNeuron` (load a trained LM-HT layer's ``state_dict``);
    input ``[L·T_in, B, ...]`` sub-step currents, output binary spikes ·θ ``[L·T, B, ...]``. The network
    around it must spread every constant over the L sub-steps (:mod:`ltsnn.convert.reparam`). An ``M`` not
    loaded nor given by ``steps`` is sized by the first input: T_in = its sub-steps / L. It always runs on
    torch (an inference-only path with no fused kernel): ``backend`` is accepted and ignored.
    """

    def _input_steps(self, x_seq: torch.Tensor) -> int:
        return x_seq.shape[0] // self.levels                        # L sub-steps per input step

    def multistep(self, x_seq: torch.Tensor, v_init: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        return lmht_binary_multistep(x_seq * self.input_scale, self.v_th, self.M, self.a, levels=self.levels,
                                     v_init=v_init)
