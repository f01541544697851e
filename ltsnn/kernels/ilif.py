"""The COCO I-LIF through a chosen backend, the fused kernels as ``torch.library`` custom ops (as :mod:`.lif`).

:func:`ilif_multistep` takes the arguments of :func:`ltsnn.functional.ilif.ilif_multistep` (the definition,
and the ``"torch"`` backend) plus ``backend``. The numba kernels (:mod:`ltsnn.kernels.ilif_numba`) run as
``ltsnn::ilif_forward`` / ``ltsnn::ilif_backward``, each with a fake implementation, the backward registered
as the forward's autograd formula, so ``torch.compile(fullgraph=True)`` sees one opaque call. Raw interface::

    ilif_forward(x [T, N], v_init [N], levels, decay) -> (spikes [T, N], window [T, N] uint8, h_last [N])
    ilif_backward(g_s [T, N], g_h_last [N], window [T, N], decay) -> (g_x [T, N], g_v_init [N])

There is no GPU kernel yet: :func:`resolve_cpu_backend` runs CUDA tensors on torch (``"auto"``, or
``"triton"`` with a one-line notice). The backend changes no parameter or buffer.

Example:
    >>> import torch
    >>> from ltsnn.kernels.ilif import ilif_multistep
    >>> ilif_multistep(torch.tensor([[2.6], [1.0], [5.5]]), backend="torch")[0].flatten().tolist()
    [3.0, 1.0, 4.0]
"""

from __future__ import annotations

import warnings

import torch

from ltsnn.functional import ilif as functional
from ltsnn.kernels.lif import _per_neuron, grad_or_zeros, resolve_backend

Tensor = torch.Tensor

_NOTICED: set[str] = set()


def resolve_cpu_backend(backend: str, x: Tensor, neuron: str) -> str:
    """:func:`ltsnn.kernels.lif.resolve_backend` for a neuron with a numba kernel and no Triton one:
    ``"torch"`` or ``"numba"``. Where it would pick triton, the neuron runs on torch (with a one-line notice,
    once per neuron and process, when triton was asked for by name)."""
    name = resolve_backend(backend, x)
    if name != "triton":
        return name
    if backend == "triton" and neuron not in _NOTICED:
        _NOTICED.add(neuron)
        warnings.warn(f"ltsnn.kernels: the {neuron} neuron has no triton kernel; it runs on the 'torch' backend",
                      RuntimeWarning, stacklevel=3)
    return "torch"


@torch.library.custom_op("ltsnn::ilif_forward", mutates_args=())
def ilif_forward_op(x: Tensor, v_init: Tensor, levels: int, decay: float) -> tuple[Tensor, Tensor, Tensor]:
    """Fused forward on ``[T, N]``: ``(spikes, window, h_last)``."""
    from ltsnn.kernels.ilif_numba import ilif_forward     # numba is optional: imported on first use
    return ilif_forward(x, v_init, levels, decay)


@ilif_forward_op.register_fake
def _ilif_forward_fake(x, v_init, levels, decay):
    return torch.empty_like(x), torch.empty_like(x, dtype=torch.uint8), torch.empty_like(v_init)


@torch.library.custom_op("ltsnn::ilif_backward", mutates_args=())
def ilif_backward_op(g_s: Tensor, g_h_last: Tensor, window: Tensor, decay: float) -> tuple[Tensor, Tensor]:
    """Fused backward on ``[T, N]``: ``(g_x, g_v_init)``."""
    from ltsnn.kernels.ilif_numba import ilif_backward
    return ilif_backward(g_s, g_h_last, window, decay)


@ilif_backward_op.register_fake
def _ilif_backward_fake(g_s, g_h_last, window, decay):
    return torch.empty_like(g_s), torch.empty_like(g_h_last)


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(output[1])                            # the 1-byte window only
    ctx.decay, ctx.dtype = inputs[3], inputs[0].dtype
    ctx.set_materialize_grads(False)                            # no [T, N] zeros for the window's (absent) grad


def _backward(ctx, g_s, g_window, g_h_last):
    (window,) = ctx.saved_tensors
    g_s, g_h_last = grad_or_zeros(g_s, window.shape, ctx.dtype), grad_or_zeros(g_h_last, window.shape[1:], ctx.dtype)
    g_x, g_v_init = ilif_backward_op(g_s, g_h_last, window, ctx.decay)
    return g_x, g_v_init, None, None


ilif_forward_op.register_autograd(_backward, setup_context=_setup_context)


def ilif_multistep(x_seq: Tensor, *, levels: int = 4, decay: float = 0.25, v_init: Tensor | float = 0.0,
                   backend: str = "auto") -> tuple[Tensor, Tensor]:
    """:func:`ltsnn.functional.ilif.ilif_multistep` (same arguments, same results) on ``backend``.

    Args:
        backend: ``"auto"``, ``"torch"``, ``"numba"`` (or ``"triton"``, which runs torch: see
            :func:`resolve_cpu_backend`).

    Returns:
        ``(s_seq [T, B, ...], h_last [B, ...])`` as the functional version.
    """
    name = resolve_cpu_backend(backend, x_seq, "I-LIF")
    if name == "torch":
        return functional.ilif_multistep(x_seq, levels=levels, decay=decay, v_init=v_init)
    functional._check(x_seq, levels, "ilif_multistep")
    x_flat = x_seq.reshape(x_seq.shape[0], -1).contiguous()                 # [T, B, ...] -> [T, N]
    s_flat, _, h_last = ilif_forward_op(x_flat, _per_neuron(v_init, "v_init", x_seq), int(levels), float(decay))
    return s_flat.view(x_seq.shape), h_last.view(x_seq.shape[1:])           # [T, N] -> [T, B, ...]
