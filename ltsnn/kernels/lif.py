"""The multi-step LIF through a chosen backend, and the fused kernels as ``torch.library`` custom ops.

:func:`lif_multistep` takes the arguments of :func:`ltsnn.functional.neuron.lif_multistep` (the definition,
and the ``"torch"`` backend) plus ``backend``. The fused backends run as two custom ops,
``ltsnn::lif_forward`` and ``ltsnn::lif_backward``, with a fake (shape-only) implementation each and the
backward registered as the forward's autograd formula, so ``torch.compile(model, fullgraph=True)`` keeps
the neuron in its graph as one opaque call instead of tracing (or breaking at) a Python loop over T.

Every fused backend implements the same raw interface on flattened, contiguous tensors of one dtype::

    lif_forward(x [T, N], v_th [N], v_init [N], decay, input_scale, hard_reset, fire_on_equal)
        -> (spikes [T, N], u [T, N] membrane before firing, v_last [N])
    lif_backward(g_s [T, N], g_v_last [N], u [T, N], v_th [N], decay, input_scale, hard_reset,
                 detach_reset, fire_on_equal, mode, surrogate, width)
        -> (g_x [T, N], g_vth [N] per neuron summed over t, g_v_init [N])

``v_th``, ``v_init`` and ``g_v_last`` may also be ``[1]``, one value for every neuron, and ``g_vth`` then
comes back as ``[1]``, summed over the neurons. Only ``u`` is kept for the backward: the spikes are
recomputed from it with the same comparison. A one-value ``v_th`` / ``v_init`` (a layer threshold, a zero
start) goes in as ``[1]``; any other shape the functional API accepts is expanded to ``[N]`` here, and
autograd sums the gradient back to the caller's shape. The backend is a runtime choice only: it changes no
parameter or buffer, so a checkpoint trained with one backend loads and runs with any other.

Example:
    >>> import torch
    >>> from ltsnn.kernels.lif import lif_multistep
    >>> x_seq = torch.full((3, 1, 2), 0.7)                              # [T, B, N]
    >>> lif_multistep(x_seq, 1.0, backend="torch")[0][:, 0, 0].tolist()
    [0.0, 1.0, 0.0]
"""

from __future__ import annotations

import os
import warnings
from importlib.util import find_spec

import torch

from ltsnn.functional import neuron as functional
from ltsnn.functional.surrogate import get_surrogate

Tensor = torch.Tensor

BACKENDS = ("auto", "torch", "numba", "triton")
FUSED_DTYPES = (torch.float32, torch.float64)

# Looked up once at import (find_spec imports nothing), so that resolving a backend under torch.compile
# reads constants instead of searching sys.path.
_INSTALLED = {"numba": find_spec("numba") is not None,
              "triton": find_spec("triton") is not None and find_spec("ltsnn.kernels.lif_triton") is not None}
_NOTICED: set[str] = set()


def _fallback(reason: str) -> str:
    if reason not in _NOTICED:                                  # one line, once per reason and process
        _NOTICED.add(reason)
        warnings.warn(f"ltsnn.kernels: {reason}; the LIF neuron runs on the 'torch' backend (slower)",
                      RuntimeWarning, stacklevel=3)
    return "torch"


def resolve_backend(backend: str, x: Tensor) -> str:
    """The backend that runs ``x``: ``"torch"``, ``"numba"`` or ``"triton"``.

    ``"auto"`` picks triton for CUDA tensors and numba for CPU ones when installed (float32/float64),
    else torch with a one-line notice. An explicit backend that cannot run ``x`` raises a ValueError.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown LIF backend {backend!r}; expected one of {list(BACKENDS)}")
    fused = "triton" if x.is_cuda else "numba" if x.device.type == "cpu" else None
    if backend == "auto":
        if fused is None:
            return "torch"
        if not _INSTALLED[fused]:
            return _fallback(f"{fused} is not installed (pip install 'ltsnn[fast]')" if fused == "numba"
                             else "triton (or ltsnn.kernels.lif_triton) is not available")
        if x.dtype not in FUSED_DTYPES:
            return _fallback(f"the {fused} kernel takes float32/float64, not {x.dtype}")
        return fused
    if backend == "numba" and x.device.type != "cpu":
        raise ValueError(f"LIF backend 'numba' runs on CPU tensors, got one on {x.device}")
    if backend == "triton" and not x.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError(f"LIF backend 'triton' runs on CUDA tensors (or on the CPU with TRITON_INTERPRET=1), "
                         f"got one on {x.device}")
    if backend != "torch" and x.dtype not in FUSED_DTYPES:
        raise ValueError(f"LIF backend {backend!r} takes float32 or float64 tensors, got {x.dtype}")
    return backend


def _raw(backend: str):
    """The module implementing the raw interface, imported on first use (numba/triton are optional)."""
    if backend == "numba":
        import ltsnn.kernels.lif_numba as module
    else:
        import ltsnn.kernels.lif_triton as module
    return module


@torch.library.custom_op("ltsnn::lif_forward", mutates_args=())
def lif_forward_op(x: Tensor, v_th: Tensor, v_init: Tensor, decay: float, input_scale: float, hard_reset: bool,
                   detach_reset: bool, fire_on_equal: bool, mode: str, surrogate: str, width: float,
                   backend: str) -> tuple[Tensor, Tensor, Tensor]:
    """Fused forward on ``[T, N]``: ``(spikes, u, v_last)``. The backward's options ride along because the
    autograd formula sees only the inputs."""
    return _raw(backend).lif_forward(x, v_th, v_init, decay, input_scale, hard_reset, fire_on_equal)


@lif_forward_op.register_fake
def _lif_forward_fake(x, v_th, v_init, decay, input_scale, hard_reset, detach_reset, fire_on_equal, mode,
                      surrogate, width, backend):
    return torch.empty_like(x), torch.empty_like(x), x.new_empty(x.shape[1])


@torch.library.custom_op("ltsnn::lif_backward", mutates_args=())
def lif_backward_op(g_s: Tensor, g_v_last: Tensor, u: Tensor, v_th: Tensor, decay: float, input_scale: float,
                    hard_reset: bool, detach_reset: bool, fire_on_equal: bool, mode: str, surrogate: str,
                    width: float, backend: str) -> tuple[Tensor, Tensor, Tensor]:
    """Fused backward on ``[T, N]``: ``(g_x, g_vth per neuron, g_v_init)``."""
    return _raw(backend).lif_backward(g_s, g_v_last, u, v_th, decay, input_scale, hard_reset, detach_reset,
                                      fire_on_equal, mode, surrogate, width)


@lif_backward_op.register_fake
def _lif_backward_fake(g_s, g_v_last, u, v_th, decay, input_scale, hard_reset, detach_reset, fire_on_equal,
                       mode, surrogate, width, backend):
    return torch.empty_like(u), torch.empty_like(v_th), u.new_empty(u.shape[1])


def _setup_context(ctx, inputs, output):
    _, v_th, _, *options = inputs
    ctx.save_for_backward(output[1], v_th)                      # u only: spikes are recomputed from it
    ctx.options = options
    ctx.mark_non_differentiable(output[1])
    ctx.set_materialize_grads(False)                            # no [T, N] zeros for u's (absent) gradient


def _backward(ctx, g_s, g_u, g_v_last):
    u, v_th = ctx.saved_tensors
    decay, input_scale, hard_reset, detach_reset, fire_on_equal, mode, surrogate, width, backend = ctx.options
    if not ctx.needs_input_grad[1] and mode != "penalty_for_all":
        mode = "fixed"                                          # skip the threshold terms (g_x is the same)
    g_s, g_v_last = grad_or_zeros(g_s, u.shape, u.dtype, u.device), grad_or_zeros(g_v_last, (1,), u.dtype, u.device)
    g_x, g_vth, g_v_init = lif_backward_op(g_s, g_v_last, u, v_th, decay, input_scale, hard_reset, detach_reset,
                                           fire_on_equal, mode, surrogate, width, backend)
    return (g_x, None if mode == "fixed" else g_vth, g_v_init) + (None,) * 9


lif_forward_op.register_autograd(_backward, setup_context=_setup_context)


def grad_or_zeros(grad: Tensor | None, shape: torch.Size | tuple[int, ...], dtype: torch.dtype,
                  device: torch.device | str = "cpu") -> Tensor:
    """The incoming gradient of a kernel's output, contiguous, or zeros of ``shape`` when autograd passed None
    (the output was not used): what every fused backward needs before it calls its op."""
    return torch.zeros(shape, dtype=dtype, device=device) if grad is None else grad.contiguous()


def _per_neuron(value: Tensor | float, name: str, like: Tensor, order: list[int] | None = None) -> Tensor:
    """``value`` broadcast to one step ``like.shape[1:]`` and flattened to ``[N]`` (differentiably), the step's
    dims taken in ``order`` (:func:`memory_order` of ``like``; default: as they are)."""
    step = functional.per_step(value, name, like).expand(like.shape[1:])
    if order is not None:
        step = step.permute([d - 1 for d in order[1:]])
    return step.reshape(-1).contiguous()


def _per_neuron_or_one(value: Tensor | float, name: str, like: Tensor, order: list[int]) -> Tensor:
    """As :func:`_per_neuron`, but a single value stays ``[1]``: the LIF kernels broadcast it themselves, which
    saves writing and reading an ``[N]`` copy (and, for its gradient, summing one)."""
    step = functional.per_step(value, name, like)
    return step.reshape(1).contiguous() if step.numel() == 1 else _per_neuron(step, name, like, order)


def memory_order(x_seq: Tensor) -> list[int]:
    """The order of ``x_seq``'s dims, time first, in which its memory is contiguous (``[0, 1, ..., n-1]`` for
    a contiguous tensor, ``[0, 1, 3, 4, 2]`` for a ``[T, B, C, H, W]`` unflattened from a channels-last
    batch), or the plain order when no permutation of it is contiguous (the kernels then run on a copy).

    An element-wise neuron can run on the memory as it lies: the spikes come back in the input's layout,
    so a channels-last network (faster convolutions on the CPU) stays channels-last through its neurons.
    """
    plain = list(range(x_seq.dim()))
    if x_seq.is_contiguous():
        return plain
    order = [0] + sorted(range(1, x_seq.dim()), key=lambda d: -x_seq.stride(d))
    return order if x_seq.permute(order).is_contiguous() else plain


def lif_multistep(x_seq: Tensor, v_th: Tensor | float, *, v_init: Tensor | float = 0.0, decay: float = 0.5,
                  input_scale: float = 1.0, reset: str = "hard", detach_reset: bool = False,
                  fire_on_equal: bool = True, threshold_grad: str = "sgp", surrogate: str = "triangle",
                  width: float | None = None, sgp_weight: str = "sigmoid",
                  backend: str = "auto") -> tuple[Tensor, Tensor]:
    """:func:`ltsnn.functional.neuron.lif_multistep` (same arguments, same results) on ``backend``.

    Args:
        backend: ``"auto"``, ``"torch"``, ``"numba"`` or ``"triton"`` (see :func:`resolve_backend`).
            The fused kernels weight SGP with the sigmoid only: another ``sgp_weight`` (LT-SNN Table 11)
            runs the torch reference under ``"auto"`` and is an error with ``"numba"`` or ``"triton"``.

    Returns:
        ``(spikes_seq [T, B, ...], v_last [B, ...])`` as the functional version.
    """
    functional.check_lif_options(threshold_grad=threshold_grad, reset=reset, sgp_weight=sgp_weight)
    if sgp_weight != "sigmoid" and backend in ("numba", "triton"):
        raise ValueError(f"LIF backend {backend!r} weights SGP with the sigmoid only, got sgp_weight="
                         f"{sgp_weight!r} (expected backend='torch' or 'auto')")
    name = "torch" if sgp_weight != "sigmoid" else resolve_backend(backend, x_seq)
    if name == "torch":
        return functional.lif_multistep(x_seq, v_th, v_init=v_init, decay=decay, input_scale=input_scale,
                                        reset=reset, detach_reset=detach_reset, fire_on_equal=fire_on_equal,
                                        threshold_grad=threshold_grad, surrogate=surrogate, width=width,
                                        sgp_weight=sgp_weight)
    functional.check_lif_options(threshold_grad=threshold_grad, reset=reset)
    if x_seq.dim() < 2 or x_seq.shape[0] < 1:
        raise ValueError(f"lif_multistep expects x_seq of shape [T, B, ...] with T >= 1, got {tuple(x_seq.shape)}")
    s = get_surrogate(surrogate)
    order = memory_order(x_seq)
    x_mem = x_seq.permute(order)                                            # a view, contiguous when possible
    x_flat = x_mem.reshape(x_seq.shape[0], -1).contiguous()                 # [T, B, ...] -> [T, N]
    s_flat, _, v_last = lif_forward_op(
        x_flat, _per_neuron_or_one(v_th, "v_th", x_seq, order), _per_neuron_or_one(v_init, "v_init", x_seq, order),
        float(decay), float(input_scale), reset == "hard", bool(detach_reset), bool(fire_on_equal), threshold_grad,
        surrogate, float(s.default_width if width is None else width), name)
    inverse = sorted(range(len(order)), key=order.__getitem__)             # back to x_seq's dims and layout
    return (s_flat.view(x_mem.shape).permute(inverse),                      # [T, N] -> [T, B, ...]
            v_last.view(x_mem.shape[1:]).permute([d - 1 for d in inverse[1:]]))
