"""SpikeYOLO's COCO I-LIF of :mod:`ltsnn.functional.ilif` as two numba CPU kernels (the raw backend interface).

The equations are written out in :func:`ltsnn.functional.ilif.ilif_multistep`; these kernels compute the same
quantities in one pass over time each, and ``tests/test_kernels_ilif.py`` checks them against it (spikes and
final membrane exact, gradients to float tolerance)::

    U_t = H_{t−1} + X_t,   S_t = rint(clip(U_t, 0, D)),   H_t = β·(U_t − S_t)
    backward:  ∂L/∂U_t = ∂L/∂S_t · 1{0 ≤ U_t ≤ D} + β · ∂L/∂H_t,   ∂L/∂X_t = ∂L/∂H_{t−1} = ∂L/∂U_t

The backward needs nothing of the forward but the straight-through window ``1{0 ≤ U_t ≤ D}``, so the
forward stores that as one byte per element: it reads ``x`` and writes the spikes and the window (4 + 4 + 1
bytes per element in float32), the backward reads ``g_s`` and the window and writes ``g_x`` (another 9).
Blocks of neurons and threads as in :mod:`ltsnn.kernels.lif_numba`, whose helpers this module shares.
``np.rint`` rounds half to even, as ``torch.round`` does.

Example:
    >>> import torch
    >>> from ltsnn.kernels.ilif_numba import ilif_forward
    >>> s, window, h_last = ilif_forward(torch.tensor([[2.6], [1.0], [5.5]]), torch.zeros(1), 4, 0.25)
    >>> s.flatten().tolist(), window.flatten().tolist()
    ([3.0, 1.0, 4.0], [1, 1, 0])
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from ltsnn.kernels.lif_numba import BLOCK, POOL, _check, _launch, _np

Tensor = torch.Tensor


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _forward_kernel(x, v_init, levels, decay, s, window, h, block):
    T, N = x.shape
    F = type(decay)
    top = F(levels)
    for b in prange((N + block - 1) // block):
        # Unsigned indices: numba then skips the negative-index wraparound, which stops LLVM vectorising.
        lo, hi = np.uint64(b * block), np.uint64(min(b * block + block, N))
        for n in range(lo, hi):
            h[n] = v_init[n]                                        # h holds H_{t-1} of this block
        for t in range(T):
            x_t, s_t, w_t = x[t], s[t], window[t]
            for n in range(lo, hi):
                u = h[n] + x_t[n]
                spike = np.rint(F(0.0) if u < F(0.0) else top if u > top else u)
                s_t[n] = spike
                w_t[n] = np.uint8(1) if u >= F(0.0) and u <= top else np.uint8(0)
                h[n] = decay * (u - spike)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _backward_kernel(g_s, g_h_last, window, decay, g_x, g_h, block):
    T, N = g_s.shape
    F = type(decay)
    for b in prange((N + block - 1) // block):
        lo, hi = np.uint64(b * block), np.uint64(min(b * block + block, N))
        for n in range(lo, hi):
            g_h[n] = g_h_last[n]                                    # g_h holds ∂L/∂H_t of this block
        for t in range(T - 1, -1, -1):
            gs_t, w_t, gx_t = g_s[t], window[t], g_x[t]
            for n in range(lo, hi):
                g_u = decay * g_h[n] + (gs_t[n] if w_t[n] else F(0.0))
                gx_t[n] = g_u
                g_h[n] = g_u


def _check_window(name: str, window: Tensor, shape: tuple[int, int]) -> None:
    if window.device.type != "cpu" or window.dtype != torch.uint8 or not window.is_contiguous() \
            or tuple(window.shape) != shape:
        raise ValueError(f"ltsnn.kernels.ilif_numba.{name}: window must be a contiguous CPU uint8 tensor of shape "
                         f"{list(shape)}, got {window.dtype} {list(window.shape)} on {window.device}")


def ilif_forward(x: Tensor, v_init: Tensor, levels: int, decay: float) -> tuple[Tensor, Tensor, Tensor]:
    """Forward over T steps: ``x [T, N]``, ``v_init [N]`` (contiguous, one dtype) ->
    ``(spikes [T, N], window [T, N] uint8 = 1{0 ≤ U ≤ D}, h_last [N])``."""
    T, N = x.shape if x.dim() == 2 else (-1, -1)
    _check("ilif_forward", {"x": x, "v_init": v_init}, {"x": (T, N), "v_init": (N,)})
    s, window, h = POOL.empty((T, N), x.dtype), POOL.empty((T, N), torch.uint8), torch.empty_like(v_init)
    F = _np(x).dtype.type
    _launch(_forward_kernel, _np(x), _np(v_init), int(levels), F(decay), _np(s), _np(window), _np(h), BLOCK)
    return s, window, h


def ilif_backward(g_s: Tensor, g_h_last: Tensor, window: Tensor, decay: float) -> tuple[Tensor, Tensor]:
    """Backward over T steps: ``g_s [T, N]``, ``g_h_last [N]`` (zeros when absent), the forward's ``window`` ->
    ``(g_x [T, N], g_v_init [N])``."""
    T, N = g_s.shape if g_s.dim() == 2 else (-1, -1)
    _check("ilif_backward", {"g_s": g_s, "g_h_last": g_h_last}, {"g_s": (T, N), "g_h_last": (N,)})
    _check_window("ilif_backward", window, (T, N))
    g_x, g_h = POOL.empty((T, N), g_s.dtype), torch.empty_like(g_h_last)
    F = _np(g_s).dtype.type
    _launch(_backward_kernel, _np(g_s), _np(g_h_last), _np(window), F(decay), _np(g_x), _np(g_h), BLOCK)
    return g_x, g_h
