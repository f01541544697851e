"""The M-HT neuron of :mod:`ltsnn.functional.lmht` as two numba CPU kernels (the raw backend interface).

The equations are written out in :func:`ltsnn.functional.lmht.mht_multistep` (full BPTT); these kernels
compute the same quantities in one pass over time each, and ``tests/test_kernels_mht.py`` checks them
against it (outputs and final membrane exact, gradients to float tolerance)::

    m_t = λ·v_{t−1} + I_t,   y_t = θ·clip(floor(m_t/θ), 0, L),   v_t = m_t − y_t
    backward, with w_t = 1{θ/2 ≤ m_t ≤ (L + ½)θ} (∂y/∂m = w, ∂v/∂m = 1 − w):
        ∂L/∂I_t = ∂L/∂m_t = ∂L/∂y_t if w_t else ∂L/∂v_t,   ∂L/∂v_{t−1} = λ · ∂L/∂m_t

The backward needs only the window ``w_t``, which the forward stores in one byte per element: the forward
reads ``x`` and writes ``y`` and the window (4 + 4 + 1 bytes per element in float32), the backward reads
``g_y`` and the window and writes ``g_x`` (another 9). The charge is two roundings (``λ·v``, then ``+ I``),
as the reference's two tensor ops. Blocks of neurons and threads as in :mod:`ltsnn.kernels.lif_numba`.

Example:
    >>> import torch
    >>> from ltsnn.kernels.mht_numba import mht_forward
    >>> y, window, v_last = mht_forward(torch.tensor([[2.5], [0.2]]), torch.ones(1), torch.zeros(1), 2, 1.0)
    >>> y.flatten().tolist(), window.flatten().tolist()             # 2 spikes, then m = 0.7 < θ/2
    ([2.0, 0.0], [1, 1])
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from ltsnn.kernels.ilif_numba import _check_window
from ltsnn.kernels.lif_numba import BLOCK, POOL, _check, _launch, _np

Tensor = torch.Tensor


@njit(cache=True, inline="always", error_model="numpy")
def _forward_block(x, theta, v_init, levels, leak, y, window, v, v_prev, keep_prev, lo, hi):
    """The forward of neurons lo..hi-1 (inlined, so the constant ``keep_prev`` folds away): v(t−1) is
    written to ``v_prev`` only for LM-HT, whose leak gradient needs it."""
    F = type(leak)
    top, upper = F(levels), F(levels + 0.5)
    for n in range(lo, hi):
        v[n] = v_init[n]                                            # v holds v_{t-1} of this block
    for t in range(x.shape[0]):
        x_t, y_t, w_t, p_t = x[t], y[t], window[t], v_prev[t]
        for n in range(lo, hi):
            th, v_n = theta[n], v[n]
            if keep_prev:
                p_t[n] = v_n
            m = leak * v_n + x_t[n]
            k = np.floor(m / th)
            out = th * (F(0.0) if k < F(0.0) else top if k > top else k)
            y_t[n] = out
            w_t[n] = np.uint8(1) if m >= F(0.5) * th and m <= upper * th else np.uint8(0)
            v[n] = m - out


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _forward_kernel(x, theta, v_init, levels, leak, y, window, v, v_prev, keep_prev, block):
    N = x.shape[1]
    for b in prange((N + block - 1) // block):
        # Unsigned indices: numba then skips the negative-index wraparound, which stops LLVM vectorising.
        lo, hi = np.uint64(b * block), np.uint64(min(b * block + block, N))
        if keep_prev:
            _forward_block(x, theta, v_init, levels, leak, y, window, v, v_prev, True, lo, hi)
        else:
            _forward_block(x, theta, v_init, levels, leak, y, window, v, v_prev, False, lo, hi)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _backward_kernel(g_y, g_v_last, window, leak, g_x, g_v, block):
    T, N = g_y.shape
    for b in prange((N + block - 1) // block):
        lo, hi = np.uint64(b * block), np.uint64(min(b * block + block, N))
        for n in range(lo, hi):
            g_v[n] = g_v_last[n]                                    # g_v holds ∂L/∂v_t of this block
        for t in range(T - 1, -1, -1):
            gy_t, w_t, gx_t = g_y[t], window[t], g_x[t]
            for n in range(lo, hi):
                gy, gv = gy_t[n], g_v[n]                            # both loaded: the select vectorises
                g_m = gy if w_t[n] else gv
                gx_t[n] = g_m
                g_v[n] = leak * g_m



@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _lmht_backward_kernel(g_y, g_v_last, window, v_prev, zero, g_cur, g_lam, block):
    T, N = g_y.shape
    F = type(zero)                                                  # the arrays' dtype
    for b in prange((N + block - 1) // block):
        lo, hi = np.uint64(b * block), np.uint64(min(b * block + block, N))
        for n in range(lo, hi):
            g_lam[n] = F(0.0)
        for t in range(T):                                          # no recurrence: the membrane is detached
            gy_t, w_t, p_t, gc_t = g_y[t], window[t], v_prev[t], g_cur[t]
            last = t == T - 1
            for n in range(lo, hi):
                gy, gv = gy_t[n], g_v_last[n]                       # both loaded: the select vectorises
                d = (gy if w_t[n] else F(0.0)) + (gv if last else F(0.0))
                gc_t[n] = d
                g_lam[n] += d * p_t[n]


def mht_forward(x: Tensor, theta: Tensor, v_init: Tensor, levels: int, leak: float) -> tuple[Tensor, Tensor, Tensor]:
    """Forward over T steps: ``x [T, N]``, ``theta [N]``, ``v_init [N]`` (contiguous, one dtype) ->
    ``(y [T, N], window [T, N] uint8 = 1{θ/2 ≤ m ≤ (L + ½)θ}, v_last [N])``."""
    T, N = x.shape if x.dim() == 2 else (-1, -1)
    _check("mht_forward", {"x": x, "theta": theta, "v_init": v_init}, {"x": (T, N), "theta": (N,), "v_init": (N,)})
    y, window, v = POOL.empty((T, N), x.dtype), POOL.empty((T, N), torch.uint8), torch.empty_like(v_init)
    F = _np(x).dtype.type
    _launch(_forward_kernel, _np(x), _np(theta), _np(v_init), int(levels), F(leak), _np(y), _np(window), _np(v),
            _np(y), False, BLOCK)                                   # (no v_prev: y stands in, never written)
    return y, window, v


def mht_backward(g_y: Tensor, g_v_last: Tensor, window: Tensor, leak: float) -> tuple[Tensor, Tensor]:
    """Backward over T steps: ``g_y [T, N]``, ``g_v_last [N]`` (zeros when absent), the forward's ``window`` ->
    ``(g_x [T, N], g_v_init [N])``."""
    T, N = g_y.shape if g_y.dim() == 2 else (-1, -1)
    _check("mht_backward", {"g_y": g_y, "g_v_last": g_v_last}, {"g_y": (T, N), "g_v_last": (N,)})
    _check_window("mht_backward", window, (T, N))
    g_x, g_v = POOL.empty((T, N), g_y.dtype), torch.empty_like(g_v_last)
    F = _np(g_y).dtype.type
    _launch(_backward_kernel, _np(g_y), _np(g_v_last), _np(window), F(leak), _np(g_x), _np(g_v), BLOCK)
    return g_x, g_v


def lmht_forward(cur: Tensor, theta: Tensor, v_init: Tensor, levels: int, leak: float
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """LM-HT's recurrence (its T-GIM currents ``cur [T, N]`` mixed beforehand, leak λ) -> ``(y [T, N], window
    [T, N] uint8, v_prev [T, N] the membrane v(t−1) each step starts from, v_last [N])``; same maths forward
    as :func:`mht_forward`."""
    T, N = cur.shape if cur.dim() == 2 else (-1, -1)
    _check("lmht_forward", {"cur": cur, "theta": theta, "v_init": v_init},
           {"cur": (T, N), "theta": (N,), "v_init": (N,)})
    y, window, v_prev = POOL.empty((T, N), cur.dtype), POOL.empty((T, N), torch.uint8), POOL.empty((T, N), cur.dtype)
    v = torch.empty_like(v_init)
    F = _np(cur).dtype.type
    _launch(_forward_kernel, _np(cur), _np(theta), _np(v_init), int(levels), F(leak), _np(y), _np(window), _np(v),
            _np(v_prev), True, BLOCK)
    return y, window, v_prev, v


def lmht_backward(g_y: Tensor, g_v_last: Tensor, window: Tensor, v_prev: Tensor) -> tuple[Tensor, Tensor]:
    """LM-HT's backward (membrane and reset detached): δ(t) = ∂L/∂y(t)·w(t) (+ ∂L/∂v_last at t = T) ->
    ``(g_cur [T, N] = δ, g_lam [N] = Σ_t δ(t)·v(t−1) per neuron)``."""
    T, N = g_y.shape if g_y.dim() == 2 else (-1, -1)
    _check("lmht_backward", {"g_y": g_y, "g_v_last": g_v_last, "v_prev": v_prev},
           {"g_y": (T, N), "g_v_last": (N,), "v_prev": (T, N)})
    _check_window("lmht_backward", window, (T, N))
    g_cur, g_lam = POOL.empty((T, N), g_y.dtype), torch.empty_like(g_v_last)
    _launch(_lmht_backward_kernel, _np(g_y), _np(g_v_last), _np(window), _np(v_prev), _np(g_y).dtype.type(0.0),
            _np(g_cur), _np(g_lam), BLOCK)
    return g_cur, g_lam
