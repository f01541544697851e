"""DSR: threshold-associated spikes trained by differentiating the spike representation (methods §1.4).

DSR (Meng et al., CVPR 2022) is the baseline of LT-SNN Table 1 (paper Eq. 7). Its forward is an
ordinary IF or LIF neuron whose spike carries the threshold's value and whose reset is soft; its
backward is *not* a per-step surrogate: it treats the whole window of T steps as one map from the
(weighted) input rate to the output rate, clamp(r, 0, V_th), and differentiates that. The rules below
follow DSR's official code (`cifar/modules/neuron.py`, HEAD 876c8d1).

IF variant, t = 1..T::

    u_t = v_{t-1} + x_t
    s_t = V_th · H(u_t − α·V_th)                       H(0) = 1
    v_t = u_t − s_t                                     soft reset
    output o_t = s_t                                    values {0, V_th}

    backward, with r = (1/T) Σ_t x_t and G = Σ_t ∂L/∂o_t (per neuron):
    ∂L/∂x_t  = G / T · 1{0 ≤ r ≤ V_th}                  (the same for every t)
    ∂L/∂V_th = Σ_neurons G · 1{r > V_th}                (derivative of clamp(r, 0, V_th) in its bound)

LIF variant, with β = exp(−Δt/τ)::

    u_t = β·v_{t-1} + (1 − β)·x_t
    s_t = V_th · H(u_t − α·V_th),   v_t = u_t − s_t
    output o_t = s_t / Δt                               values {0, V_th/Δt}

    backward, with weights w_t = exp(−(TΔt − tΔt)/τ) (w_T = 1, earlier steps smaller),
    r   = Σ_t w_t x_t / Σ_t w_t                         weighted input rate
    G_w = T · Σ_t w_t ∂L/∂o_t / Σ_t w_t                 T × the w-weighted mean of the output gradients
                                                        (= Σ_t ∂L/∂o_t if all weights were equal)
    ∂L/∂x_t  = G_w / (τ·T) · 1{0 < r < V_th·τ/Δt}
    ∂L/∂V_th = Δt · Σ_neurons G_w · 1{r > V_th/Δt}

Notes on the LIF rule, kept as in DSR's code: the V_th mask compares r with V_th/Δt, while the input
mask uses V_th·τ/Δt (the spec writes τ in both; they agree at DSR's τ = 1), the factor on the V_th
gradient is Δt (not 1/Δt), and the input window is open at both ends (IF's is closed).

The membrane carried between calls (``v_init``/the returned ``v_last``) only continues a stream: the rate
backward has no temporal path, so no gradient flows into ``v_init``.
"""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor


def dsr_lif_weights(steps: int, *, tau: float, delta_t: float, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> Tensor:
    """DSR's weights of the LIF rate ``w_t = exp(−(TΔt − tΔt)/τ)``, t = 1..T, shape ``[T]``."""
    t = torch.arange(1, steps + 1, dtype=torch.float64)
    w = torch.exp(-(steps - t) * delta_t / tau)
    return w.to(dtype=dtype, device=device)


def _weighted_mean(x_seq: Tensor, w: Tensor) -> Tensor:
    """``[T, B, ...]`` -> ``[B, ...]``: Σ_t w_t x_t / Σ_t w_t."""
    w = w.view(-1, *([1] * (x_seq.dim() - 1)))                  # [T] -> [T, 1, ...]
    return (w * x_seq).sum(0) / w.sum()


class _DSRIFMultiStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_seq: Tensor, v_th: Tensor, v_init: Tensor, alpha: float):
        v = v_init
        s_list = []
        for x_t in x_seq.unbind(0):                               # x_t: [B, ...]
            u = v + x_t
            s = (u >= alpha * v_th).to(x_seq.dtype) * v_th
            v = u - s
            s_list.append(s)
        # A copy of V_th: the module clamps its parameter in place before the next call.
        ctx.save_for_backward(x_seq, v_th.detach().clone())
        ctx.mark_non_differentiable(v)
        return torch.stack(s_list), v                             # [T, B, ...], [B, ...]

    @staticmethod
    def backward(ctx, g_seq: Tensor, g_v_last: Tensor | None):
        x_seq, v_th = ctx.saved_tensors
        steps = x_seq.shape[0]
        r = x_seq.mean(0)                                         # [B, ...]
        g_sum = g_seq.sum(0)                                      # G
        g_x = None
        if ctx.needs_input_grad[0]:
            inside = (r >= 0) & (r <= v_th)
            g_x = (g_sum * inside / steps).unsqueeze(0).expand_as(x_seq)
        g_vth = None
        if ctx.needs_input_grad[1]:
            g_vth = (g_sum * (r > v_th)).sum_to_size(v_th.shape)
        return g_x, g_vth, None, None


class _DSRLIFMultiStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_seq: Tensor, v_th: Tensor, v_init: Tensor, alpha: float, tau: float, delta_t: float):
        beta = math.exp(-delta_t / tau)
        v = v_init
        o_list = []
        for x_t in x_seq.unbind(0):                               # x_t: [B, ...]
            u = beta * v + (1.0 - beta) * x_t
            s = (u >= alpha * v_th).to(x_seq.dtype) * v_th
            v = u - s
            o_list.append(s / delta_t)
        ctx.save_for_backward(x_seq, v_th.detach().clone())
        ctx.options = (tau, delta_t)
        ctx.mark_non_differentiable(v)
        return torch.stack(o_list), v                             # [T, B, ...], [B, ...]

    @staticmethod
    def backward(ctx, g_seq: Tensor, g_v_last: Tensor | None):
        x_seq, v_th = ctx.saved_tensors
        tau, delta_t = ctx.options
        steps = x_seq.shape[0]
        w = dsr_lif_weights(steps, tau=tau, delta_t=delta_t, dtype=x_seq.dtype, device=x_seq.device)
        r = _weighted_mean(x_seq, w)                              # [B, ...]
        g_w = steps * _weighted_mean(g_seq, w)                    # G_w
        g_x = None
        if ctx.needs_input_grad[0]:
            inside = (r > 0) & (r < v_th * tau / delta_t)
            g_x = (g_w * inside / (tau * steps)).unsqueeze(0).expand_as(x_seq)
        g_vth = None
        if ctx.needs_input_grad[1]:
            g_vth = (delta_t * g_w * (r > v_th / delta_t)).sum_to_size(v_th.shape)
        return g_x, g_vth, None, None, None, None


def _prepare(x_seq: Tensor, v_th: Tensor | float, v_init: Tensor | float, name: str) -> tuple[Tensor, Tensor]:
    if x_seq.dim() < 2:
        raise ValueError(f"{name} expects x_seq of shape [T, B, ...], got {tuple(x_seq.shape)}")
    v_th = torch.as_tensor(v_th, dtype=x_seq.dtype, device=x_seq.device)
    v_init = torch.as_tensor(v_init, dtype=x_seq.dtype, device=x_seq.device).expand_as(x_seq[0])
    return v_th, v_init


def dsr_if_multistep(x_seq: Tensor, v_th: Tensor | float, *, alpha: float = 0.5,
                     v_init: Tensor | float = 0.0) -> tuple[Tensor, Tensor]:
    """DSR's IF neuron over a whole sequence (module docstring for the maths).

    Args:
        x_seq: input currents ``[T, B, ...]``.
        v_th: threshold V_th > 0, a scalar or a tensor broadcastable to one step ``[B, ...]``.
        alpha: the neuron fires when u_t ≥ α·V_th (paper Eq. 7; DSR's IF recipe: 0.5).
        v_init: membrane before the first step (0 after a reset), broadcastable to ``[B, ...]``.

    Returns:
        ``(spikes_seq, v_last)``: spikes of value 0 or V_th ``[T, B, ...]`` and the membrane after the last
        step ``[B, ...]`` (not differentiable).
    """
    v_th, v_init = _prepare(x_seq, v_th, v_init, "dsr_if_multistep")
    return _DSRIFMultiStep.apply(x_seq, v_th, v_init, float(alpha))


def dsr_lif_multistep(x_seq: Tensor, v_th: Tensor | float, *, alpha: float = 0.3, tau: float = 1.0,
                      delta_t: float = 0.05, v_init: Tensor | float = 0.0) -> tuple[Tensor, Tensor]:
    """DSR's LIF neuron over a whole sequence (module docstring for the maths).

    Args:
        x_seq: input currents ``[T, B, ...]``.
        v_th: threshold V_th > 0, a scalar or a tensor broadcastable to one step ``[B, ...]``.
        alpha: the neuron fires when u_t ≥ α·V_th (DSR default 0.3).
        tau: membrane time constant τ (DSR default 1.0), in the units of ``delta_t``.
        delta_t: simulation step Δt (DSR default 0.05); the leak is β = exp(−Δt/τ).
        v_init: membrane before the first step, broadcastable to ``[B, ...]``.

    Returns:
        ``(out_seq, v_last)``: outputs s_t/Δt, of value 0 or V_th/Δt, ``[T, B, ...]``, and the membrane after
        the last step ``[B, ...]`` (not differentiable).
    """
    if tau <= 0 or delta_t <= 0:
        raise ValueError(f"dsr_lif_multistep needs tau > 0 and delta_t > 0, got tau={tau}, delta_t={delta_t}")
    v_th, v_init = _prepare(x_seq, v_th, v_init, "dsr_lif_multistep")
    return _DSRLIFMultiStep.apply(x_seq, v_th, v_init, float(alpha), float(tau), float(delta_t))
