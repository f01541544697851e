"""The LT-SNN LIF neuron as an nn.Module: owns the threshold; the equations live in :mod:`ltsnn.functional.neuron`."""

from __future__ import annotations

import torch

from ltsnn.functional.neuron import THRESHOLD_GRADS, check_lif_options
from ltsnn.functional.surrogate import get_surrogate
from ltsnn.kernels.lif import BACKENDS, lif_multistep
from ltsnn.neurons.base import SpikingNeuron, check_decay
from ltsnn.neurons.registry import register_neuron


@register_neuron("lif")
class LIFNeuron(SpikingNeuron):
    """Multi-step LIF with a learnable (or fixed) firing threshold, methods §1.1-1.3.

    Input and output are time-major ``[T, B, ...]``; the output is the binary spike train.
    The threshold is an ``nn.Parameter`` (init ``v_th``) trained with the gradient ``threshold_grad``, or
    a buffer when ``learn_threshold=False``. ``threshold_shape="layer"`` gives one scalar per layer (the
    paper); ``"channel"`` gives one per channel of dim 2 (``channels`` must then be set; models set it).
    ``sgp_weight`` is SGP's weighting function σ (LT-SNN Table 11: ``sigmoid``, ``arctan``, ``triangle``,
    ``piecewise``; :mod:`ltsnn.functional.neuron`). ``backend`` picks the implementation (:mod:`ltsnn.kernels`): ``"auto"`` (fused numba/triton kernels where
    installed), ``"torch"`` (the reference), ``"numba"`` or ``"triton"``; it is not saved in the state dict,
    so a checkpoint trained on one backend runs on any other.

    Example:
        >>> import torch
        >>> lif = LIFNeuron(threshold_grad="stsg")
        >>> lif(torch.full((3, 1, 2), 0.7))[:, 0, 0].tolist()  # u = 0.7, 1.05 (fires, hard reset), 0.7
        [0.0, 1.0, 0.0]
    """

    threshold_grads = tuple(m for m in THRESHOLD_GRADS if m != "fixed")

    def __init__(self, *, v_th: float = 1.0, learn_threshold: bool = True, threshold_grad: str = "sgp",
                 threshold_shape: str = "layer", channels: int = 0, decay: float = 0.5, input_scale: float = 1.0,
                 reset: str = "hard", detach_reset: bool = False, fire_on_equal: bool = True,
                 surrogate: str = "triangle", width: float | None = None, sgp_weight: str = "sigmoid",
                 backend: str = "auto"):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"LIFNeuron: unknown backend {backend!r}; expected one of {list(BACKENDS)}")
        self.check_threshold_grad(threshold_grad)
        check_lif_options(threshold_grad=threshold_grad, reset=reset, sgp_weight=sgp_weight)
        get_surrogate(surrogate)
        if threshold_shape == "layer":
            init = torch.full((1,), float(v_th))
        elif threshold_shape == "channel":
            if channels < 1:
                raise ValueError("threshold_shape='channel' needs channels >= 1 (the size of dim 2 of the input)")
            init = torch.full((channels,), float(v_th))
        else:
            raise ValueError(f"unknown threshold_shape {threshold_shape!r}; expected 'layer' or 'channel'")
        self.register_threshold(init, learn=learn_threshold)
        self.threshold_grad = threshold_grad
        self.threshold_shape = threshold_shape
        self.decay, self.input_scale, self.reset_mode = check_decay(decay, where="LIFNeuron"), input_scale, reset
        self.detach_reset, self.fire_on_equal = detach_reset, fire_on_equal
        self.surrogate, self.width, self.sgp_weight = surrogate, width, sgp_weight
        self.backend = backend

    def multistep(self, x_seq: torch.Tensor, v_init: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        if self.threshold_shape == "channel":
            if x_seq.dim() < 3 or x_seq.shape[2] != self.v_th.numel():
                raise ValueError(f"LIFNeuron with {self.v_th.numel()} per-channel thresholds expects input "
                                 f"[T, B, {self.v_th.numel()}, ...], got {tuple(x_seq.shape)}")
            v_th = self.v_th.view(-1, *([1] * (x_seq.dim() - 3)))       # [C] -> [C, 1, 1] for [T, B, C, H, W]
        else:
            v_th = self.v_th
        return lif_multistep(
            x_seq, v_th, v_init=v_init, decay=self.decay, input_scale=self.input_scale, reset=self.reset_mode,
            detach_reset=self.detach_reset, fire_on_equal=self.fire_on_equal,
            threshold_grad=self.threshold_grad if self.learnable else "fixed",
            surrogate=self.surrogate, width=self.width, backend=self.backend,
            sgp_weight=self.sgp_weight if self.learnable else "sigmoid")     # a fixed threshold reads no σ

    def extra_repr(self) -> str:
        grad = self.threshold_grad if self.learnable else "fixed"
        return (f"threshold_grad={grad!r}, threshold_shape={self.threshold_shape!r}, "
                f"decay={self.decay}, input_scale={self.input_scale}, reset={self.reset_mode!r}, "
                f"surrogate={self.surrogate!r}, sgp_weight={self.sgp_weight!r}, backend={self.backend!r}")
