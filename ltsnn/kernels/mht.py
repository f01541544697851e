"""The M-HT neuron through a chosen backend, the fused kernels as ``torch.library`` custom ops (as :mod:`.lif`).

:func:`mht_multistep` takes the arguments of :func:`ltsnn.functional.lmht.mht_multistep` (the definition, and
the ``"torch"`` backend) plus ``backend``; :class:`ltsnn.neurons.MHTNeuron` and its subclass, the conversion
IF neuron, call it. The numba kernels (:mod:`ltsnn.kernels.mht_numba`) run as ``ltsnn::mht_forward`` /
``ltsnn::mht_backward``, each with a fake implementation, the backward registered as the forward's autograd
formula. Raw interface::

    mht_forward(x [T, N], theta [N], v_init [N], levels, leak) -> (y [T, N], window [T, N] uint8, v_last [N])
    mht_backward(g_y [T, N], g_v_last [N], window [T, N], leak) -> (g_x [T, N], g_v_init [N])

θ gets no gradient (as in the reference). CUDA tensors run on torch (:func:`ltsnn.kernels.ilif.resolve_cpu_backend`).

:func:`lmht_multistep` does the same for LM-HT (:class:`ltsnn.neurons.LMHTNeuron`): the T-GIM mix
``I' = ω·I`` (a ``[T, T_in]`` matmul) and λ = σ(a) + ½ stay in torch, and the recurrence on ``I'`` runs as
``ltsnn::lmht_forward`` / ``ltsnn::lmht_backward``::

    lmht_forward(cur [T, N], theta [N], v_init [N], lam [], levels)
        -> (y [T, N], window [T, N] uint8, v_prev [T, N], v_last [N])
    lmht_backward(g_y [T, N], g_v_last [N], window, v_prev) -> (g_cur [T, N], g_lam per neuron [N])

LM-HT detaches the membrane between steps, so its backward has no recurrence; it needs v(t−1) for the leak's
gradient ∂L/∂λ = Σ δ(t)·v(t−1), hence ``v_prev`` (4 more bytes per element than M-HT). v(0) gets no gradient.

Example:
    >>> import torch
    >>> from ltsnn.kernels.mht import mht_multistep
    >>> mht_multistep(torch.tensor([[2.5], [0.2]]), 1.0, levels=2, backend="torch")[0].flatten().tolist()
    [2.0, 0.0]
"""

from __future__ import annotations

import torch

from ltsnn.functional import lmht as functional
from ltsnn.kernels.ilif import resolve_cpu_backend
from ltsnn.kernels.lif import _per_neuron, grad_or_zeros

Tensor = torch.Tensor


@torch.library.custom_op("ltsnn::mht_forward", mutates_args=())
def mht_forward_op(x: Tensor, theta: Tensor, v_init: Tensor, levels: int, leak: float) -> tuple[Tensor, Tensor, Tensor]:
    """Fused forward on ``[T, N]``: ``(y, window, v_last)``."""
    from ltsnn.kernels.mht_numba import mht_forward      # numba is optional: imported on first use
    return mht_forward(x, theta, v_init, levels, leak)


@mht_forward_op.register_fake
def _mht_forward_fake(x, theta, v_init, levels, leak):
    return torch.empty_like(x), torch.empty_like(x, dtype=torch.uint8), torch.empty_like(v_init)


@torch.library.custom_op("ltsnn::mht_backward", mutates_args=())
def mht_backward_op(g_y: Tensor, g_v_last: Tensor, window: Tensor, leak: float) -> tuple[Tensor, Tensor]:
    """Fused backward on ``[T, N]``: ``(g_x, g_v_init)``."""
    from ltsnn.kernels.mht_numba import mht_backward
    return mht_backward(g_y, g_v_last, window, leak)


@mht_backward_op.register_fake
def _mht_backward_fake(g_y, g_v_last, window, leak):
    return torch.empty_like(g_y), torch.empty_like(g_v_last)


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(output[1])                            # the 1-byte window only
    ctx.leak, ctx.dtype = inputs[4], inputs[0].dtype
    ctx.set_materialize_grads(False)                            # no [T, N] zeros for the window's (absent) grad


def _backward(ctx, g_y, g_window, g_v_last):
    (window,) = ctx.saved_tensors
    g_y, g_v_last = grad_or_zeros(g_y, window.shape, ctx.dtype), grad_or_zeros(g_v_last, window.shape[1:], ctx.dtype)
    g_x, g_v_init = mht_backward_op(g_y, g_v_last, window, ctx.leak)
    return g_x, None, g_v_init, None, None                      # θ gets no gradient


mht_forward_op.register_autograd(_backward, setup_context=_setup_context)


@torch.library.custom_op("ltsnn::lmht_forward", mutates_args=())
def lmht_forward_op(cur: Tensor, theta: Tensor, v_init: Tensor, lam: Tensor,
                    levels: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fused LM-HT recurrence on ``[T, N]``: ``(y, window, v_prev, v_last)``."""
    from ltsnn.kernels.mht_numba import lmht_forward
    return lmht_forward(cur, theta, v_init, levels, float(lam))


@lmht_forward_op.register_fake
def _lmht_forward_fake(cur, theta, v_init, lam, levels):
    return (torch.empty_like(cur), torch.empty_like(cur, dtype=torch.uint8), torch.empty_like(cur),
            torch.empty_like(v_init))


@torch.library.custom_op("ltsnn::lmht_backward", mutates_args=())
def lmht_backward_op(g_y: Tensor, g_v_last: Tensor, window: Tensor, v_prev: Tensor) -> tuple[Tensor, Tensor]:
    """Fused LM-HT backward on ``[T, N]``: ``(g_cur, g_lam per neuron)``."""
    from ltsnn.kernels.mht_numba import lmht_backward
    return lmht_backward(g_y, g_v_last, window, v_prev)


@lmht_backward_op.register_fake
def _lmht_backward_fake(g_y, g_v_last, window, v_prev):
    return torch.empty_like(g_y), torch.empty_like(g_v_last)


def _lmht_setup_context(ctx, inputs, output):
    ctx.save_for_backward(output[1], output[2])                 # window (1 byte) and v(t−1)
    ctx.lam_meta = inputs[3].new_empty(inputs[3].shape)         # λ's dtype and shape, for its gradient
    ctx.mark_non_differentiable(output[2])
    ctx.set_materialize_grads(False)


def _lmht_backward(ctx, g_y, g_window, g_v_prev, g_v_last):
    window, v_prev = ctx.saved_tensors
    g_y, g_v_last = grad_or_zeros(g_y, v_prev.shape, v_prev.dtype), grad_or_zeros(g_v_last, v_prev.shape[1:], v_prev.dtype)
    g_cur, g_lam = lmht_backward_op(g_y, g_v_last, window, v_prev)
    g_lam = g_lam.sum().to(ctx.lam_meta.dtype).reshape(ctx.lam_meta.shape)
    return g_cur, None, None, g_lam, None                       # θ and v(0) get no gradient


lmht_forward_op.register_autograd(_lmht_backward, setup_context=_lmht_setup_context)


def mht_multistep(x_seq: Tensor, theta: Tensor | float, *, levels: int, leak: float = 1.0,
                  v_init: Tensor | float = 0.0, backend: str = "auto") -> tuple[Tensor, Tensor]:
    """:func:`ltsnn.functional.lmht.mht_multistep` (same arguments, same results) on ``backend``.

    Args:
        backend: ``"auto"``, ``"torch"``, ``"numba"`` (or ``"triton"``, which runs torch).

    Returns:
        ``(y_seq [T, B, ...], v_last [B, ...])`` as the functional version.
    """
    name = resolve_cpu_backend(backend, x_seq, "M-HT")
    if name == "torch":
        return functional.mht_multistep(x_seq, theta, levels=levels, leak=leak, v_init=v_init)
    functional._check(x_seq, levels, "mht_multistep")
    x_flat = x_seq.reshape(x_seq.shape[0], -1).contiguous()                 # [T, B, ...] -> [T, N]
    theta_flat = _per_neuron(torch.as_tensor(theta).detach(), "theta", x_seq)
    y_flat, _, v_last = mht_forward_op(x_flat, theta_flat, _per_neuron(v_init, "v_init", x_seq), int(levels),
                                       float(leak))
    return y_flat.view(x_seq.shape), v_last.view(x_seq.shape[1:])           # [T, N] -> [T, B, ...]


def lmht_multistep(x_seq: Tensor, theta: Tensor | float, M: Tensor, a: Tensor, *, levels: int,
                   v_init: Tensor | float = 0.0, backend: str = "auto") -> tuple[Tensor, Tensor]:
    """:func:`ltsnn.functional.lmht.lmht_multistep` (same arguments, same results) on ``backend``.

    Args:
        backend: ``"auto"``, ``"torch"``, ``"numba"`` (or ``"triton"``, which runs torch).

    Returns:
        ``(y_seq [T, B, ...], v_last [B, ...])`` as the functional version (T = M's rows).
    """
    name = resolve_cpu_backend(backend, x_seq, "LM-HT")
    if name == "torch":
        return functional.lmht_multistep(x_seq, theta, M, a, levels=levels, v_init=v_init)
    functional._check(x_seq, levels, "lmht_multistep")
    cur_seq = functional.tgim_mix(x_seq, M)                                 # [T_in, B, ...] -> [T, B, ...]
    cur_flat = cur_seq.reshape(cur_seq.shape[0], -1).contiguous()           # [T, B, ...] -> [T, N]
    theta_flat = _per_neuron(torch.as_tensor(theta).detach(), "theta", cur_seq)
    v_init_flat = _per_neuron(torch.as_tensor(v_init).detach(), "v_init", cur_seq)
    y_flat, _, _, v_last = lmht_forward_op(cur_flat, theta_flat, v_init_flat, functional.lmht_leak(a), int(levels))
    return y_flat.view(cur_seq.shape), v_last.view(cur_seq.shape[1:])       # [T, N] -> [T, B, ...]
