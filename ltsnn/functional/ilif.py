"""SpikeYOLO's I-LIF: integer-valued spikes in training, D binary virtual steps at inference (methods §5).

COCO I-LIF (``yolo_spikformer.py::mem_update`` with ``MultiSpike4``), t = 1..T, H_0 = 0::

    U_t = H_{t−1} + X_t                   charge
    S_t = round(clip(U_t, 0, D))          integer spike in {0..D}; torch.round is half-to-even (2.5 -> 2)
    H_t = β·(U_t − sg[S_t])               soft reset by the emitted integer, then leak (β = 0.25)

Gen1 preset (patched spikingjelly LIF, τ = 2, decay_input, detached soft reset)::

    U_t = H_{t−1} + (X_t − H_{t−1})/τ     (the leak acts in the charge: halves the input, leak ½)
    S_t = round(clip(U_t, 0, D))
    H_t = U_t − sg[S_t]

Gradient (both): straight-through on round, ∂S/∂U = 1 on 0 ≤ U ≤ D (inclusive) and 0 outside; the
membrane carries gradient from step to step (U_{t−1} -> H_{t−1} -> U_t), the reset does not.

At inference an integer S_t becomes D binary steps (:func:`expand_integer_spikes`); a following
conv/linear layer without bias sums them to the same input, so nothing is lost.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def integer_spike(u: Tensor, *, levels: int) -> Tensor:
    """``round(clip(u, 0, D))`` with ∂S/∂u = 1 on [0, D] (inclusive), any shape; values in {0..D}."""
    u_c = torch.clamp(u, 0, levels)                                 # its backward is the [0, D] mask
    # u_c − u_c.detach() is exactly 0, so the forward value is exactly the rounded integer.
    return torch.round(u_c.detach()) + (u_c - u_c.detach())


def _check(x_seq: Tensor, levels: int, name: str) -> None:
    if x_seq.dim() < 2:
        raise ValueError(f"{name} expects x_seq of shape [T, B, ...], got {tuple(x_seq.shape)}")
    if levels < 1:
        raise ValueError(f"{name} needs levels >= 1 (D, the largest integer spike), got {levels}")


def ilif_multistep(x_seq: Tensor, *, levels: int = 4, decay: float = 0.25,
                   v_init: Tensor | float = 0.0) -> tuple[Tensor, Tensor]:
    """COCO I-LIF over a whole sequence (module docstring), methods §5.1.

    Args:
        x_seq: input ``[T, B, ...]``.
        levels: D, the largest integer spike (4 in the released models).
        decay: β, the leak applied after the reset (0.25).
        v_init: H_0, broadcastable to ``[B, ...]`` (0 after a reset).

    Returns:
        ``(s_seq, h_last)``: integer spikes ``[T, B, ...]`` in the input's dtype and H_T ``[B, ...]``.
    """
    _check(x_seq, levels, "ilif_multistep")
    h = torch.as_tensor(v_init, dtype=x_seq.dtype, device=x_seq.device).expand_as(x_seq[0])
    s_list = []
    for x_t in x_seq.unbind(0):                                     # x_t: [B, ...]
        u = h + x_t
        s = integer_spike(u, levels=levels)
        h = decay * (u - s.detach())
        s_list.append(s)
    return torch.stack(s_list), h


def ilif_gen1_multistep(x_seq: Tensor, *, levels: int = 4, tau: float = 2.0,
                        v_init: Tensor | float = 0.0) -> tuple[Tensor, Tensor]:
    """Gen1 I-LIF (spikingjelly LIF, decay_input, soft reset) over a whole sequence, methods §5.1.

    Args:
        x_seq: input ``[T, B, ...]``.
        levels: D, the largest integer spike (4).
        tau: membrane time constant τ > 1 in steps (2).
        v_init: H_0, broadcastable to ``[B, ...]``.

    Returns:
        ``(s_seq, h_last)``: integer spikes ``[T, B, ...]`` and H_T ``[B, ...]``.
    """
    _check(x_seq, levels, "ilif_gen1_multistep")
    if tau <= 1:
        raise ValueError(f"ilif_gen1_multistep needs tau > 1 (spikingjelly LIF), got tau={tau}")
    h = torch.as_tensor(v_init, dtype=x_seq.dtype, device=x_seq.device).expand_as(x_seq[0])
    s_list = []
    for x_t in x_seq.unbind(0):                                     # x_t: [B, ...]
        u = h + (x_t - h) / tau
        s = integer_spike(u, levels=levels)
        h = u - s.detach()
        s_list.append(s)
    return torch.stack(s_list), h


def expand_integer_spikes(s_seq: Tensor, levels: int) -> Tensor:
    """Integer spikes ``[T, B, ...]`` in {0..D} -> binary ``[T·D, B, ...]`` (methods §5.2).

    Virtual step d ∈ {0..D−1} of real step t is 1{d < S_t} (the ones first), at index t·D + d (t-major), so
    Σ_d bits = S_t exactly. The output has ``s_seq``'s dtype and no gradient.

    Raises:
        ValueError: a value is not an integer in [0, D].
    """
    s = s_seq.detach()
    if ((s != torch.round(s)) | (s < 0) | (s > levels)).any():
        raise ValueError(f"expand_integer_spikes expects integers in [0, {levels}] (levels=D), got values in "
                         f"[{float(s.min())}, {float(s.max())}] or non-integers")
    d = torch.arange(levels, device=s.device).view(1, levels, *([1] * (s.dim() - 1)))   # [1, D, 1, ...]
    bits = (d < s.unsqueeze(1)).to(s.dtype)                         # [T, D, B, ...]
    return bits.flatten(0, 1)                                       # [T, D, B, ...] -> [T·D, B, ...]
