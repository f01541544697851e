"""M-HT and LM-HT neurons (multi-hierarchical threshold, methods §2.3-2.5): pure tensor functions.

M-HT, one step, t = 1..T (paper Eqs. 8-11)::

    m(t) = λ·v(t−1) + I(t)                            charge
    s(t) = clip(floor(m(t)/θ), 0, L)                   0..L levels crossed at once
    v(t) = m(t) − s(t)·θ                               soft reset by exactly what was emitted
    y(t) = s(t)·θ                                      what the next layer receives

With L = 1 this is the plain IF neuron (spike·θ, soft reset); with v(0) = θ/2 and θ = λ_QCFS it is the
IF neuron used for QCFS conversion (methods §2.7). Its backward is full BPTT: the membrane and the reset
carry gradient (the official code's L = 1 ``IFNeuron``).

LM-HT (paper Eq. 12) adds the T-GIM, a learnable non-causal mix of the *input's* T_in steps, and a
learnable leak, and detaches the membrane between steps and the reset (paper Eqs. 13-16)::

    ω_tj  = 2·σ(M_tj) / T_in,     λ = σ(a) + ½
    I'(t) = Σ_j ω_tj · I(j)
    m(t)  = λ·sg[v(t−1)] + I'(t),   y(t) = θ·clip(floor(m(t)/θ), 0, L),   v(t) = m(t) − sg[y(t)]

Surrogate, both neurons (§2.5): ∂y/∂m = 1{θ/2 ≤ m ≤ (L + ½)·θ} (inclusive, height 1, in output units);
θ gets no gradient. For LM-HT, with δ(t) = ∂L/∂y(t) · window(m(t)), this gives

    ∂L/∂I(j)  = Σ_t ω_tj δ(t)
    ∂L/∂M_tj  = (2σ'(M_tj)/T_in) · Σ_{b,...} δ(t) ⊙ I(j)
    ∂L/∂a     = σ'(a) · Σ_t Σ_{b,...} δ(t) ⊙ v(t−1)

Written with plain autograd and a straight-through staircase, for clarity; a fused kernel, if one is
ever needed, is to be tested against these functions.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def staircase(m: Tensor, theta: Tensor | float, *, levels: int) -> Tensor:
    """The M-HT firing: ``y = θ·clip(floor(m/θ), 0, L)`` with ∂y/∂m = 1{θ/2 ≤ m ≤ (L + ½)θ}.

    Args:
        m: membrane after charging, any shape.
        theta: level spacing θ > 0, a scalar or broadcastable to ``m``; it gets no gradient.
        levels: L ≥ 1, the number of levels (the most spikes per step).

    Returns:
        ``y``, the shape of ``m``: multiples of θ in [0, L·θ].
    """
    theta = torch.as_tensor(theta, dtype=m.dtype, device=m.device).detach()
    y = theta * torch.clamp(torch.floor(m.detach() / theta), 0, levels)
    window = ((m >= 0.5 * theta) & (m <= (levels + 0.5) * theta)).to(m.dtype)
    # (m − m.detach()) is exactly 0, so the forward value is exactly y; the backward is the window.
    return y + (m - m.detach()) * window


def _check(x_seq: Tensor, levels: int, name: str) -> None:
    if x_seq.dim() < 2:
        raise ValueError(f"{name} expects x_seq of shape [T, B, ...], got {tuple(x_seq.shape)}")
    if levels < 1:
        raise ValueError(f"{name} needs levels >= 1, got {levels}")


def mht_multistep(x_seq: Tensor, theta: Tensor | float, *, levels: int, leak: float = 1.0,
                  v_init: Tensor | float = 0.0) -> tuple[Tensor, Tensor]:
    """M-HT neuron over a whole sequence, full BPTT (membrane and reset not detached), methods §2.3.

    Args:
        x_seq: input currents ``[T, B, ...]``.
        theta: level spacing θ > 0, a scalar or broadcastable to one step ``[B, ...]``; not trained.
        levels: L ≥ 1; L = 1 is the IF neuron with output spike·θ and the window [θ/2, 3θ/2].
        leak: λ in m(t) = λ·v(t−1) + I(t) (1 = integrate-and-fire).
        v_init: membrane before the first step, broadcastable to ``[B, ...]``: 0 for direct training,
            θ/2 for conversion and hybrid training.

    Returns:
        ``(y_seq, v_last)``: outputs s·θ ``[T, B, ...]`` and the membrane after the last step ``[B, ...]``.
    """
    _check(x_seq, levels, "mht_multistep")
    v = torch.as_tensor(v_init, dtype=x_seq.dtype, device=x_seq.device).expand_as(x_seq[0])
    y_list = []
    for x_t in x_seq.unbind(0):                                     # x_t: [B, ...]
        m = leak * v + x_t
        y = staircase(m, theta, levels=levels)
        v = m - y
        y_list.append(y)
    return torch.stack(y_list), v


def tgim_weights(M: Tensor, steps_in: int) -> Tensor:
    """T-GIM entries ω = 2σ(M)/T_in ``[T, T_in]``, each in (0, 2/T_in); ``steps_in`` is the input's T_in."""
    return 2.0 * torch.sigmoid(M) / steps_in


def lmht_leak(a: Tensor) -> Tensor:
    """Learnable leak λ = σ(a) + ½ ∈ (0.5, 1.5) (1 at a = 0)."""
    return torch.sigmoid(a) + 0.5


def tgim_mix(x_seq: Tensor, M: Tensor) -> Tensor:
    """The T-GIM currents I'(t) = Σ_j ω_tj I(j), ``[T_in, B, ...] -> [T, B, ...]`` (non-causal).

    ``M`` is ``[T, T_in]``. An input of one step (T_in = 1) against an ``M`` with more columns is broadcast
    as in the official DVS path: every column multiplies that step and the divisor is 1, so
    I'(t) = Σ_j 2σ(M_tj)·x̄, i.e. T·x̄ at M = 0 (methods §2.4).
    """
    steps_in = x_seq.shape[0]
    if M.dim() != 2 or (M.shape[1] != steps_in and steps_in != 1):
        raise ValueError(f"T-GIM matrix M must be [T, T_in] with T_in = {steps_in} (the input's steps) or an "
                         f"input of 1 step, got M {tuple(M.shape)} for input {tuple(x_seq.shape)}")
    w = tgim_weights(M, steps_in)                                   # [T, T_in]
    if M.shape[1] != steps_in:                                      # one input step, broadcast over columns
        return w.sum(1).view(-1, *([1] * (x_seq.dim() - 1))) * x_seq[0]          # [T, 1, ...] * [B, ...]
    return torch.tensordot(w, x_seq, dims=1)                        # [T, T_in] · [T_in, B, ...] -> [T, B, ...]


def lmht_multistep(x_seq: Tensor, theta: Tensor | float, M: Tensor, a: Tensor, *, levels: int,
                   v_init: Tensor | float = 0.0) -> tuple[Tensor, Tensor]:
    """LM-HT neuron over a whole sequence (module docstring for the maths), methods §2.4-2.5.

    Args:
        x_seq: input currents ``[T_in, B, ...]``.
        theta: level spacing θ > 0 (2/L in direct training, λ_QCFS in hybrid training); not trained.
        M: T-GIM logits ``[T, T_in]``, shared across batch, channels and positions; M = 0 is ω = 1/T_in.
        a: leak logit, a scalar tensor; a = 0 is λ = 1.
        levels: L ≥ 1.
        v_init: membrane before the first step, broadcastable to ``[B, ...]`` (θ/2 in hybrid training).

    Returns:
        ``(y_seq, v_last)``: outputs s·θ ``[T, B, ...]`` (T = M's rows) and the membrane after the last step.
    """
    _check(x_seq, levels, "lmht_multistep")
    cur_seq = tgim_mix(x_seq, M)                                    # [T, B, ...]
    lam = lmht_leak(a)
    v = torch.as_tensor(v_init, dtype=x_seq.dtype, device=x_seq.device).expand_as(cur_seq[0])
    y_list = []
    for cur in cur_seq.unbind(0):                                   # cur: [B, ...]
        # v(t−1) enters as a value only: temporal credit goes through ω and λ, not the membrane.
        m = lam * v.detach() + cur
        y = staircase(m, theta, levels=levels)
        v = m - y.detach()
        y_list.append(y)
    return torch.stack(y_list), v


def lmht_binary_multistep(x_seq: Tensor, theta: Tensor | float, M: Tensor, a: Tensor, *, levels: int,
                          v_init: Tensor | float = 0.0) -> tuple[Tensor, Tensor]:
    """An LM-HT layer reparameterised into a binary IF layer over L·T sub-steps (methods §2.6), for inference.

    Sub-step τ = (t−1)·L + k, k = 1..L, runs the IF update with binary spikes::

        m(τ) = λ_k·v(τ−1) + I'(t)/L,    λ_k = λ at k = 1, else 1      (the leak once per window)
        s(τ) = H(m(τ) − θ),  y(τ) = s(τ)·θ,  v(τ) = m(τ) − y(τ)

    where I'(t) = Σ_j ω_tj X_j is the T-GIM of the *window sums* X_j of the input sub-steps: the
    block-wise expansion ω'_{τ, j'} = 2σ(M_{t, window(j')})/(L·T_in) of the official
    ``--direct_inference`` applied to sub-step inputs. Under the conditions of Lemma 4.1 (0 ≤ λ·v < θ and
    0 ≤ I'(t) ≤ L·θ) the L spikes of window t sum to the LM-HT output y(t); outside them the two differ.

    Args:
        x_seq: input currents of L·T_in sub-steps ``[L·T_in, B, ...]`` (L sub-steps per input step).
        theta, M, a, levels, v_init: as :func:`lmht_multistep` (the trained layer's values).

    Returns:
        ``(y_seq, v_last)``: binary outputs s·θ ``[L·T, B, ...]`` and the membrane after the last sub-step.
    """
    _check(x_seq, levels, "lmht_binary_multistep")
    if x_seq.shape[0] % levels:
        raise ValueError(f"lmht_binary_multistep: {x_seq.shape[0]} sub-steps is not a multiple of levels={levels}")
    windows = x_seq.unflatten(0, (-1, levels)).sum(1)               # [L·T_in, B, ...] -> [T_in, B, ...]
    cur_seq = tgim_mix(windows, M) / levels                         # [T, B, ...], one current per window
    lam = lmht_leak(a)
    v = torch.as_tensor(v_init, dtype=x_seq.dtype, device=x_seq.device).expand_as(cur_seq[0])
    y_list = []
    for cur in cur_seq.unbind(0):
        for k in range(levels):
            m = (lam if k == 0 else 1.0) * v + cur
            y = staircase(m, theta, levels=1)
            v = m - y
            y_list.append(y)
    return torch.stack(y_list), v
