"""Leaky integrate-and-fire over T steps with a learnable threshold (LT-SNN, methods §1.1-1.3).

One step, for t = 1..T (paper Eqs. 1-3; the official code's constants by default)::

    u_t = decay · v_{t-1} + input_scale · I_t          charge (code: decay 0.5, input × 1;
                                                        Eq. 2 literal: input × (1 − decay))
    S_t = H(u_t − V_th)                                 fire: binary spikes, >= (or > with
                                                        fire_on_equal=False)
    v_t = (1 − S_t) · u_t                               hard reset to 0 (code), or
    v_t = u_t − S_t · V_th                              soft reset (subtract the threshold)

The whole sequence is one autograd function: the forward loop keeps only the membrane u_t, and
the backward walks time in reverse with the gradients written out below, so eager PyTorch does
not record ~8 graph nodes per step.

Backward. ``g_t`` is ∂L/∂S_t from the layers above; ``x = u_t − V_th``; ``f'`` is the surrogate's
derivative (triangle of width 1 in LT-SNN); σ is the logistic function. The gradient reaching the
spike also includes the reset path unless the spike is detached there::

    G_t = g_t + ∂L/∂v_t · ∂v_t/∂S_t           (∂v/∂S = −u_t for hard, −V_th for soft reset)
    ∂L/∂u_t = ∂L/∂v_t · ∂v_t/∂u_t + G_t · f'(x)           (× σ(x) in ``penalty_for_all``)

and the threshold gradient ∂L/∂V_th = Σ_{t,b,...} G_t · d_t with, per mode (methods §1.3):

    ========================  ===========================  ===============================
    mode                      d_t                          note
    ========================  ===========================  ===============================
    ``fixed``                 (none)                       V_th is a constant
    ``stsg``                  −f'(x)                       straight-through, Eq. 6
    ``sgp``                   −f'(x) σ(x) m(x)             the paper, Eqs. 9-11
    ``sgp_official``          −f'(x) (1 + σ(x) m(x))       the official code's sum
    ``penalty_for_all``       −f'(x) σ(x)                  Table 2's "GPW for all"
    ========================  ===========================  ===============================

where m(x) = S_t (the neuron fired). A soft reset adds its direct term −Σ ∂L/∂v_t · S_t.

σ is the SGP weighting function of Eq. 10; LT-SNN Table 11 compares it with "ArcTan", "Triangle" and
"Piece-wise", named without formulas. ``sgp_weight`` (:data:`SGP_WEIGHTS`) replaces σ wherever it
appears (``sgp``, ``sgp_official``, ``penalty_for_all``) by one of (our reading, docs/recipes.md; each
but the triangle keeps σ's value ½ and slope ¼ at 0)::

    sigmoid     1 / (1 + e^−x)                 the paper, exact
    arctan      ½ + arctan(πx/4) / π           SpikingJelly's ATan primitive with α = ½
    triangle    max(0, 1 − |x|)                the paper's own triangle (Eq. 5)
    piecewise   clamp(½ + x/4, 0, 1)           the piece-wise linear ("hard") sigmoid
"""

from __future__ import annotations

import torch

from ltsnn.functional.surrogate import get_surrogate

Tensor = torch.Tensor

THRESHOLD_GRADS = ("fixed", "stsg", "sgp", "sgp_official", "penalty_for_all")
RESETS = ("hard", "soft")
SGP_WEIGHTS = {                                                 # x -> w(x), in place where possible
    "sigmoid": lambda x: x.sigmoid_(),
    "arctan": lambda x: x.mul_(torch.pi / 4).atan_().div_(torch.pi).add_(0.5),
    "triangle": lambda x: x.abs_().neg_().add_(1.0).clamp_(min=0.0),
    "piecewise": lambda x: x.mul_(0.25).add_(0.5).clamp_(0.0, 1.0),
}
SGP_WEIGHT_MODES = ("sgp", "sgp_official", "penalty_for_all")  # the modes that read the weighting


def check_lif_options(*, threshold_grad: str, reset: str, sgp_weight: str = "sigmoid") -> None:
    """Raise a ValueError naming the option if a mode is unknown, or ``sgp_weight`` is set for a mode that
    never reads it."""
    if threshold_grad not in THRESHOLD_GRADS:
        raise ValueError(f"unknown threshold_grad {threshold_grad!r}; expected one of {list(THRESHOLD_GRADS)}")
    if reset not in RESETS:
        raise ValueError(f"unknown reset {reset!r}; expected one of {list(RESETS)}")
    if sgp_weight not in SGP_WEIGHTS:
        raise ValueError(f"unknown sgp_weight {sgp_weight!r}; expected one of {list(SGP_WEIGHTS)}")
    if sgp_weight != "sigmoid" and threshold_grad not in SGP_WEIGHT_MODES:
        raise ValueError(f"sgp_weight={sgp_weight!r} weights the SGP gradient, which threshold_grad="
                         f"{threshold_grad!r} does not use (expected one of {list(SGP_WEIGHT_MODES)})")


class _LIFMultiStep(torch.autograd.Function):
    # Written for eager speed: every [T, ...] result goes into a preallocated buffer and most steps reuse
    # their temporaries in place, because on the CPU a fresh multi-MB tensor per op costs page faults.
    @staticmethod
    def forward(ctx, x_seq: Tensor, v_th: Tensor, v_init: Tensor, decay: float, input_scale: float,
                hard_reset: bool, detach_reset: bool, fire_on_equal: bool, threshold_grad: str,
                surrogate: str, width: float, sgp_weight: str = "sigmoid"):
        u_seq = torch.empty_like(x_seq)                           # membrane before firing, [T, B, ...]
        s_seq = torch.empty_like(x_seq)                           # spikes, [T, B, ...]
        fire = torch.ge if fire_on_equal else torch.gt
        v = v_init
        for x_t, u, s in zip(x_seq.unbind(0), u_seq.unbind(0), s_seq.unbind(0)):
            if input_scale == 1.0:
                torch.add(x_t, v, alpha=decay, out=u)             # u = decay·v + I
            else:
                torch.mul(x_t, input_scale, out=u).add_(v, alpha=decay)
            fire(u, v_th, out=s)                                  # S = H(u − V_th), in the input's dtype
            v = torch.addcmul(u, u, s, value=-1.0) if hard_reset else torch.addcmul(u, s, v_th, value=-1.0)
        ctx.save_for_backward(u_seq, s_seq, v_th)
        ctx.options = (decay, input_scale, hard_reset, detach_reset, threshold_grad, surrogate, width, sgp_weight)
        ctx.v_init_shape = v_init.shape
        return s_seq, v

    @staticmethod
    def backward(ctx, g_seq: Tensor, g_v_last: Tensor | None):
        u_seq, s_seq, v_th = ctx.saved_tensors
        decay, input_scale, hard_reset, detach_reset, mode, surrogate, width, sgp_weight = ctx.options
        surrogate_grad = get_surrogate(surrogate).grad
        weight = SGP_WEIGHTS[sgp_weight]
        want_vth = ctx.needs_input_grad[1] and mode != "fixed"

        g_x = torch.empty_like(u_seq)
        g_vth = torch.zeros_like(v_th) if want_vth else None
        g_v = g_v_last                                            # ∂L/∂v_t; None stands for zero
        for t in range(u_seq.shape[0] - 1, -1, -1):
            u, s, g_u = u_seq[t], s_seq[t], g_x[t]
            x = u - v_th
            g_s = g_seq[t]                                        # G_t: the spike's gradient ...
            if g_v is not None and not detach_reset:              # ... plus the reset path
                g_s = torch.addcmul(g_s, g_v, u if hard_reset else v_th, value=-1.0)
            sg = surrogate_grad(x, width).mul_(g_s)               # G_t · f'(x)
            if mode == "penalty_for_all":                         # σ also weights the u path
                sg.mul_(weight(x.clone()))
            if g_v is None:
                g_u.copy_(sg)
            elif hard_reset:                                      # ∂L/∂u = ∂L/∂v·(1 − S) + G·f'
                torch.addcmul(g_v, g_v, s, value=-1.0, out=g_u).add_(sg)
            else:
                torch.add(sg, g_v, out=g_u)
            if want_vth:
                if mode in ("stsg", "penalty_for_all", "sgp_official"):
                    g_vth -= sg.sum_to_size(v_th.shape)
                if mode in ("sgp", "sgp_official"):               # the masked sigmoid term
                    g_vth -= weight(x).mul_(s).mul_(sg).sum_to_size(v_th.shape)
                if not hard_reset and g_v is not None:            # v = u − S·V_th uses V_th directly
                    g_vth -= (g_v * s).sum_to_size(v_th.shape)
            g_v = g_u * decay
            if input_scale != 1.0:
                g_u.mul_(input_scale)
        g_v_init = None
        if ctx.needs_input_grad[2]:
            g_v_init = g_v.sum_to_size(ctx.v_init_shape) if g_v is not None else torch.zeros(ctx.v_init_shape)
        return g_x, g_vth, g_v_init, None, None, None, None, None, None, None, None, None


def per_step(value: Tensor | float, name: str, x_seq: Tensor) -> Tensor:
    """``value`` as a tensor of ``x_seq``'s dtype and device, checked to broadcast to one step ``x_seq[0]``.

    Raises:
        ValueError: naming ``name`` and both shapes (e.g. a per-channel threshold of the wrong length).
    """
    step_shape = x_seq.shape[1:]
    value = torch.as_tensor(value, dtype=x_seq.dtype, device=x_seq.device)
    try:
        fits = value.dim() <= len(step_shape) and torch.broadcast_shapes(value.shape, step_shape) == step_shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f"lif_multistep: {name} of shape {tuple(value.shape)} must broadcast to one step "
                         f"{tuple(step_shape)} (e.g. [C, 1, 1] for per-channel values)")
    return value


def lif_multistep(x_seq: Tensor, v_th: Tensor | float, *, v_init: Tensor | float = 0.0,
                  decay: float = 0.5, input_scale: float = 1.0, reset: str = "hard",
                  detach_reset: bool = False, fire_on_equal: bool = True,
                  threshold_grad: str = "sgp", surrogate: str = "triangle",
                  width: float | None = None, sgp_weight: str = "sigmoid") -> tuple[Tensor, Tensor]:
    """Run a LIF layer over a whole sequence.

    Args:
        x_seq: input currents ``[T, B, ...]``.
        v_th: threshold, a scalar or a tensor broadcastable to one step ``[B, ...]`` (e.g. ``[C, 1, 1]``
            for a per-channel threshold on ``[T, B, C, H, W]``). Its gradient follows ``threshold_grad``.
        v_init: membrane before the first step (0 after a reset), broadcastable to ``[B, ...]``.
        decay: membrane leak k in u_t = k·v_{t−1} + input_scale·I_t (LT-SNN/TET code: 0.5).
        input_scale: 1.0 as in the official code; ``1 − decay`` is Eq. 2 taken literally.
        reset: ``"hard"`` (v = (1 − S)·u) or ``"soft"`` (v = u − S·V_th).
        detach_reset: stop the gradient through the spike in the reset (the LT-SNN code does not).
        fire_on_equal: fire when u == V_th (LT-SNN's learnable neuron) or only when u > V_th (TET).
        threshold_grad: one of :data:`THRESHOLD_GRADS` (see the module docstring).
        surrogate, width: the surrogate of ∂S/∂u (``ltsnn.functional.surrogate``).
        sgp_weight: the SGP weighting function σ (module docstring; LT-SNN Table 11), one of :data:`SGP_WEIGHTS`.

    Returns:
        ``(spikes_seq, v_last)``: binary spikes ``[T, B, ...]`` in the input's dtype, and the membrane
        after the last step ``[B, ...]`` (to continue a stream).
    """
    check_lif_options(threshold_grad=threshold_grad, reset=reset, sgp_weight=sgp_weight)
    if x_seq.dim() < 2 or x_seq.shape[0] < 1:
        raise ValueError(f"lif_multistep expects x_seq of shape [T, B, ...] with T >= 1, got {tuple(x_seq.shape)}")
    s = get_surrogate(surrogate)
    v_th = per_step(v_th, "v_th", x_seq)
    v_init = torch.as_tensor(v_init, dtype=x_seq.dtype, device=x_seq.device).expand_as(x_seq[0])
    return _LIFMultiStep.apply(x_seq, v_th, v_init, float(decay), float(input_scale), reset == "hard",
                               bool(detach_reset), bool(fire_on_equal), threshold_grad, surrogate,
                               float(s.default_width if width is None else width), sgp_weight)
