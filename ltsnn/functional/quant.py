"""SAWB weight quantisation (Choi et al., SysML 2019; methods §1.6): pure tensor functions.

The clip value comes from two statistics of the current float weights, recomputed at every call:

    ibm, ibm_new:  α = c1 · sqrt(E[w²]) − c2 · E|w|                   (c1, c2) fitted per bit width
    ltsnn_code:    α = (1/z0) · std(w) − (z1/z0) · E|w|               (z0, z1) of the LT-SNN code

and each convention comes with its grid (``w_c = clip(w, −α, α)``):

    mid-rise (ibm, ibm_new): 2^b levels evenly spaced from −α to α, no zero level
        k = round((w_c + α) / (2α) · (2^b − 1)),  w_q = (2k − (2^b − 1)) · α / (2^b − 1)
    mid-tread (ltsnn_code): 2^b − 1 levels {−n..n} · α/n, n = 2^(b−1) − 1, zero included
        w_q = round(w_c · n / α) · α / n

Both are written as ``w_q = q · step`` with an integer code ``q`` (odd integers in
[−(2^b − 1), 2^b − 1] for mid-rise, [−n, n] for mid-tread), which is what export stores.

Gradient (straight-through): ∂w_q/∂w = 1 for −α ≤ w ≤ α and 0 outside; α is a statistic of the
weights and is not differentiated (as in both codes).
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor

# (c1, c2) per bit width. "ibm": the SAWB paper's fit as in IBM's FMS Model Optimizer (sawb_utils.py);
# "ibm_new": IBM's newer 2-bit fit, the other widths unchanged. "ltsnn_code": (z0, z1) of the LT-SNN code
# (models/methods/qlayer.py::SAWB), which only has 4 and 8 bits.
SAWB_COEFFS: dict[str, dict[int, tuple[float, float]]] = {
    "ibm": {2: (3.212, 2.178), 3: (7.509, 6.892), 4: (12.68, 12.80), 5: (17.74, 18.64), 8: (31.76, 35.04)},
    "ibm_new": {2: (3.12, 2.064), 3: (7.509, 6.892), 4: (12.68, 12.80), 5: (17.74, 18.64), 8: (31.76, 35.04)},
    "ltsnn_code": {4: (0.077, 1.013), 8: (0.027, 1.114)},
}
# The grid that goes with each convention.
SAWB_GRIDS = {"ibm": "mid_rise", "ibm_new": "mid_rise", "ltsnn_code": "mid_tread"}


def check_sawb_options(*, bits: int, coeff: str) -> None:
    """Raise ValueError naming the known conventions or the bit widths ``coeff`` has coefficients for."""
    if coeff not in SAWB_COEFFS:
        raise ValueError(f"unknown SAWB coeff {coeff!r}; expected one of {sorted(SAWB_COEFFS)}")
    if bits not in SAWB_COEFFS[coeff]:
        raise ValueError(f"SAWB coeff {coeff!r} has no coefficients for {bits}-bit weights; "
                         f"expected bits in {sorted(SAWB_COEFFS[coeff])}")


def sawb_clip(w: Tensor, *, bits: int, coeff: str = "ibm") -> Tensor:
    """The clip value α of weight tensor ``w`` (any shape, one α for the whole tensor), detached.

    Returns:
        A 0-d tensor in the units of ``w``.
    Raises:
        ValueError: unknown ``coeff``/``bits``, or α ≤ 0. The coefficients were fitted to bell-shaped
            weights; for weights that are all zero or concentrated at ±a the formula gives α ≤ 0.
    """
    check_sawb_options(bits=bits, coeff=coeff)
    w = w.detach()
    a, b = SAWB_COEFFS[coeff][bits]
    mean_abs = w.abs().mean()
    if coeff == "ltsnn_code":
        alpha = w.std() / a - (b / a) * mean_abs                     # sample std, as the LT-SNN code
    else:
        alpha = a * w.square().mean().sqrt() - b * mean_abs
    if alpha <= 0:
        raise ValueError(f"SAWB clip value α = {float(alpha):.4g} <= 0 for {bits}-bit weights of shape "
                         f"{tuple(w.shape)} (coeff {coeff!r}, mean |w| = {float(mean_abs):.4g}): the coefficients "
                         f"need bell-shaped, non-zero weights")
    return alpha


def sawb_codes(w: Tensor, alpha: Tensor, *, bits: int, coeff: str = "ibm") -> tuple[Tensor, Tensor]:
    """Integer codes and step of ``w`` on the SAWB grid with clip value ``alpha``: ``w_q = q · step``.

    Returns:
        ``(q, step)``: ``q`` float, integer-valued, the shape of ``w`` (odd values in [−(2^b − 1), 2^b − 1]
        for the mid-rise grid, [−n, n] with n = 2^(b−1) − 1 for mid-tread); ``step`` a 0-d tensor, the
        spacing of one code unit in the units of ``w``. No gradient flows through either.
    """
    check_sawb_options(bits=bits, coeff=coeff)
    w_c = w.detach().clamp(-alpha, alpha)
    if SAWB_GRIDS[coeff] == "mid_rise":
        top = 2 ** bits - 1                                         # the codes are the odd integers up to it
        k = torch.round((w_c + alpha) / (2 * alpha) * top)          # 0..2^b − 1
        return 2 * k - top, alpha / top
    n = 2 ** (bits - 1) - 1
    return torch.round(w_c * (n / alpha)), alpha / n


def sawb_quantize(w: Tensor, *, bits: int, coeff: str = "ibm") -> Tensor:
    """SAWB fake-quantised weights (same shape and dtype as ``w``) with the straight-through gradient.

    The forward value is ``q · step`` from :func:`sawb_codes` with α from :func:`sawb_clip`; the
    backward passes the gradient to ``w`` where −α ≤ w ≤ α and blocks it outside (the clip's gradient).
    """
    alpha = sawb_clip(w, bits=bits, coeff=coeff)
    q, step = sawb_codes(w, alpha, bits=bits, coeff=coeff)
    w_c = w.clamp(-alpha, alpha)                                    # its backward is the clip's mask
    # w_c − w_c.detach() is exactly 0, so the forward value is exactly q·step (w_c + (q·step − w_c).detach()
    # would be off by an ulp and split levels); the backward goes through w_c.
    return q * step + (w_c - w_c.detach())


# --- QCFS activation (Bu et al., ICLR 2022; methods §2.7) ------------------------------------------------
#
#     ĥ(z) = λ · clip( floor(z·Q/λ + ½) / Q, 0, 1 )
#
# floor has a straight-through gradient. The two official codes order clip and floor differently, which
# changes only the gradient (q = the clipped level, ĥ = λ·q):
#
#     order          code                                      ∂ĥ/∂z                       ∂ĥ/∂λ
#     "clip_floor"   ANN_SNN_QCFS's IF with T = 0 (new)        1 on 0 ≤ z ≤ λ              q − z/λ there,
#     "floor_clip"   SNN_conversion_QCFS MyFloor, LM-HT (old)  1 on 0 ≤ floor(..)/Q ≤ 1   1 above, 0 below
#
# The old code's range is −λ/(2Q) ≤ z < λ(1 + 1/(2Q)). The new code is the one to follow (its README says
# the paper's printed λ-derivative is wrong).

QCFS_ORDERS = ("clip_floor", "floor_clip")


def _floor_st(x: Tensor) -> Tensor:
    """floor(x) with d/dx := 1; the forward value is exactly floor(x)."""
    return torch.floor(x.detach()) + (x - x.detach())


def qcfs(z: Tensor, lam: Tensor | float, *, levels: int = 8, order: str = "clip_floor") -> Tensor:
    """QCFS activation ``λ·clip(floor(z·Q/λ + ½)/Q, 0, 1)`` of any-shaped ``z`` (table above).

    Args:
        z: pre-activation, any shape.
        lam: λ > 0, the clip value (the future SNN threshold): a learnable scalar tensor or a float.
        levels: Q ≥ 1, the quantisation levels.
        order: ``"clip_floor"`` (new code, default) or ``"floor_clip"`` (old code); same forward values
            up to float rounding, different gradients.

    Returns:
        ``ĥ(z)``, the shape of ``z``: values in {0, λ/Q, …, λ}.
    """
    if order not in QCFS_ORDERS:
        raise ValueError(f"unknown QCFS order {order!r}; expected one of {list(QCFS_ORDERS)}")
    if levels < 1:
        raise ValueError(f"QCFS needs levels >= 1, got {levels}")
    lam = torch.as_tensor(lam, dtype=z.dtype, device=z.device)
    if order == "clip_floor":
        return lam * (_floor_st(torch.clamp(z / lam, 0, 1) * levels + 0.5) / levels)
    return lam * torch.clamp(_floor_st(z / lam * levels + 0.5) / levels, 0, 1)
