"""Triton (GPU) backend of the multi-step LIF neuron of :mod:`ltsnn.functional.neuron`.

The equations, every threshold-gradient mode and the surrogates are defined once, in
:mod:`ltsnn.functional.neuron` and :mod:`ltsnn.functional.surrogate`; these kernels are the same
arithmetic in one pass over time and are tested against that float64 reference
(``tests/test_kernels_lif_triton.py``).

Raw interface (flattened, contiguous ``[T, N]`` tensors of one dtype, float32 or float64; the dispatch
in :mod:`ltsnn.kernels.lif` does the reshaping and broadcasting):

- :func:`lif_forward` reads the input once and writes the spikes and the membrane ``u`` before firing;
- :func:`lif_backward` recomputes the spikes from ``u`` (the same comparison), so nothing else is saved.

``v_th``, ``v_init`` and ``g_v_last`` are ``[N]`` or ``[1]`` (one value for every neuron, read once per
program); a ``[1]`` threshold's gradient is one partial sum per program, added up on return.

One program owns a block of ``BLOCK`` neurons and walks t = 0..T−1 (forward) or T−1..0 (backward),
keeping v (or ∂L/∂v) and the threshold gradient in registers, so each [T, N] tensor is read or written
exactly once: 24 bytes per element in float32 for forward + backward, the memory floor. Modes, reset,
surrogate and the scalar constants are ``tl.constexpr``: each variant compiles to straight code.

triton is imported with this module, which :mod:`ltsnn.kernels.lif` imports only when the triton backend
runs; where triton is absent the module still imports and the functions raise ImportError saying so. On
CPU tensors they run only under triton's interpreter, with ``TRITON_INTERPRET=1`` set before the import.
"""

from __future__ import annotations

import contextlib

import torch

try:
    import triton
    import triton.language as tl
    _jit = triton.jit
    _IMPORT_ERROR = None
except ImportError as err:          # the module still imports; the functions say why they cannot run
    triton = tl = None
    _IMPORT_ERROR = err

    def _jit(fn):
        return fn

Tensor = torch.Tensor

BLOCK = 1024            # neurons per program: 8 per thread at 4 warps, 128-bit loads in float32
NUM_WARPS = 4

# Which terms of the backward each threshold-gradient mode has (ltsnn.functional.neuron's table):
# (G·f' summed into ∂L/∂V_th, the masked σ term −G·f'·σ(x)·S, σ(x) also weighting the u path).
_MODE_TERMS = {
    "fixed": (False, False, False),
    "stsg": (True, False, False),
    "sgp": (False, True, False),
    "sgp_official": (True, True, False),
    "penalty_for_all": (True, False, True),
}
SURROGATES = ("triangle", "sigmoid", "atan", "rectangle")


@_jit
def _surrogate_grad(x, SURROGATE: tl.constexpr, WIDTH: tl.constexpr):
    # f'(x), as in ltsnn.functional.surrogate; the constants fold at compile time.
    if SURROGATE == "triangle":
        g = tl.maximum(WIDTH - tl.abs(x), 0.0) / (WIDTH * WIDTH)
    elif SURROGATE == "sigmoid":
        s = tl.sigmoid(WIDTH * x)
        g = WIDTH * s * (1.0 - s)
    elif SURROGATE == "atan":
        z = (0.5 * 3.141592653589793 * WIDTH) * x
        g = (0.5 * WIDTH) / (1.0 + z * z)
    else:  # rectangle; the cast (not a where on Python scalars) keeps 1/width in x's dtype
        g = (tl.abs(x) < 0.5 * WIDTH).to(x.dtype) / WIDTH
    return g


@_jit
def _per_neuron(ptr, offs, mask, ONE: tl.constexpr):
    # The [N] values of this block, or the one value of a [1] array broadcast over it.
    if ONE:
        value = tl.load(ptr + offs * 0, mask=mask)
    else:
        value = tl.load(ptr + offs, mask=mask)
    return value


@_jit
def _forward(x_ptr, v_th_ptr, v_init_ptr, s_ptr, u_ptr, v_last_ptr, T, N,
             DECAY: tl.constexpr, INPUT_SCALE: tl.constexpr, HARD_RESET: tl.constexpr,
             FIRE_ON_EQUAL: tl.constexpr, VTH_ONE: tl.constexpr, VINIT_ONE: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v_th = _per_neuron(v_th_ptr, offs, mask, VTH_ONE)
    v = _per_neuron(v_init_ptr, offs, mask, VINIT_ONE)
    # Row pointers step by N: 64-bit pointer arithmetic, so T·N may exceed 2³¹.
    x_ptr += offs
    s_ptr += offs
    u_ptr += offs
    for _ in range(T):
        x = tl.load(x_ptr, mask=mask)
        u = tl.fma(v, DECAY, x * INPUT_SCALE)       # one rounding, as PyTorch's add(alpha=) and lif_numba
        if FIRE_ON_EQUAL:
            s = u >= v_th
        else:
            s = u > v_th
        tl.store(s_ptr, s.to(x.dtype), mask=mask)
        tl.store(u_ptr, u, mask=mask)
        if HARD_RESET:
            v = tl.where(s, 0.0, u)
        else:
            v = u - tl.where(s, v_th, 0.0)
        x_ptr += N
        s_ptr += N
        u_ptr += N
    tl.store(v_last_ptr + offs, v, mask=mask)


@_jit
def _backward(g_s_ptr, u_ptr, g_x_ptr, g_v_last_ptr, v_th_ptr, g_vth_ptr, g_v_init_ptr, T, N,
              DECAY: tl.constexpr, INPUT_SCALE: tl.constexpr, HARD_RESET: tl.constexpr,
              DETACH_RESET: tl.constexpr, FIRE_ON_EQUAL: tl.constexpr, VTH_SG: tl.constexpr,
              VTH_MASKED: tl.constexpr, SIGMA_ON_U: tl.constexpr, WANT_VTH: tl.constexpr,
              SURROGATE: tl.constexpr, WIDTH: tl.constexpr, VTH_ONE: tl.constexpr, GVL_ONE: tl.constexpr,
              BLOCK: tl.constexpr):
    # The row pointers arrive at t = T−1 and step back by N.
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v_th = _per_neuron(v_th_ptr, offs, mask, VTH_ONE)
    g_v = _per_neuron(g_v_last_ptr, offs, mask, GVL_ONE)     # ∂L/∂v_t, carried backwards
    g_vth = tl.zeros([BLOCK], dtype=v_th.dtype)
    g_s_ptr += offs
    u_ptr += offs
    g_x_ptr += offs
    for _ in range(T):
        u = tl.load(u_ptr, mask=mask)
        g = tl.load(g_s_ptr, mask=mask)
        if FIRE_ON_EQUAL:                                    # the forward's spike, recomputed
            s = u >= v_th
        else:
            s = u > v_th
        x = u - v_th
        if DETACH_RESET:                                     # G_t: the spike's gradient ...
            g_spike = g
        elif HARD_RESET:                                     # ... plus the reset path
            g_spike = g - g_v * u
        else:
            g_spike = g - g_v * v_th
        sg = _surrogate_grad(x, SURROGATE, WIDTH) * g_spike   # G_t · f'(x)
        if SIGMA_ON_U or VTH_MASKED:
            sigma = tl.sigmoid(x)
        if SIGMA_ON_U:
            sg = sg * sigma
        if HARD_RESET:                                       # ∂L/∂u = ∂L/∂v·(1 − S) + G·f'
            g_u = tl.where(s, 0.0, g_v) + sg
        else:
            g_u = g_v + sg
        if VTH_SG:
            g_vth -= sg
        if VTH_MASKED:
            g_vth -= tl.where(s, sigma * sg, 0.0)
        if WANT_VTH and not HARD_RESET:                      # v = u − S·V_th uses V_th directly
            g_vth -= tl.where(s, g_v, 0.0)
        g_v = g_u * DECAY
        tl.store(g_x_ptr, g_u * INPUT_SCALE, mask=mask)
        g_s_ptr -= N
        u_ptr -= N
        g_x_ptr -= N
    if VTH_ONE:                                              # this program's share of the one threshold
        tl.store(g_vth_ptr + tl.program_id(0), tl.sum(tl.where(mask, g_vth, 0.0), axis=0))
    else:
        tl.store(g_vth_ptr + offs, g_vth, mask=mask)
    tl.store(g_v_init_ptr + offs, g_v, mask=mask)


# Under TRITON_INTERPRET=1 (read by triton.jit, i.e. when this module is imported) the kernels run on
# CPU tensors, in numpy; otherwise they are compiled for the GPU.
_INTERPRETED = triton is not None and not isinstance(_forward, triton.runtime.JITFunction)


def _setup(x: Tensor) -> None:
    """Raise with the reason if the kernels cannot run on x."""
    if triton is None:
        raise ImportError("ltsnn.kernels.lif_triton needs the 'triton' package (it ships with the CUDA builds "
                          "of torch on Linux); use the torch or numba backend instead") from _IMPORT_ERROR
    if x.dim() != 2 or x.shape[0] < 1 or x.dtype not in (torch.float32, torch.float64) or not x.is_contiguous():
        raise ValueError(f"lif_triton: expected a contiguous float32/float64 [T, N] tensor with T >= 1, "
                         f"got {x.dtype} {list(x.shape)}")
    if not (x.is_cuda or (_INTERPRETED and x.device.type == "cpu")):
        raise ValueError(f"lif_triton runs on CUDA tensors (got {x.device}); CPU tensors only under triton's "
                         f"interpreter, with TRITON_INTERPRET=1 set before this module is imported")


def _check(name: str, t: Tensor, shape: tuple[int, ...], like: Tensor) -> None:
    """A one-line ValueError unless ``t`` is contiguous, of ``like``'s dtype and device, and of ``shape`` (or
    ``[1]`` too, for a per-neuron ``[N]`` argument)."""
    allowed = [shape, (1,)] if len(shape) == 1 else [shape]
    if tuple(t.shape) not in allowed or t.dtype != like.dtype or t.device != like.device or not t.is_contiguous():
        raise ValueError(f"lif_triton: {name} must be a contiguous {like.dtype} tensor of shape "
                         f"{' or '.join(str(list(a)) for a in allowed)} on {like.device}, got {t.dtype} "
                         f"{list(t.shape)} on {t.device}{'' if t.is_contiguous() else ' (not contiguous)'}")


def _launch(kernel, x: Tensor, *args, **constexprs) -> None:
    n = x.shape[1]
    if n == 0:                                   # an empty grid is not a valid launch
        return
    grid = (-(-n // BLOCK),)
    # No FMA contraction: the GPU then rounds exactly as the interpreter (numpy) that the tests run.
    with torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext():   # x's GPU, not the current one
        kernel[grid](*args, BLOCK=BLOCK, num_warps=NUM_WARPS, enable_fp_fusion=False, **constexprs)


def lif_forward(x: Tensor, v_th: Tensor, v_init: Tensor, decay: float, input_scale: float,
                hard_reset: bool, fire_on_equal: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Run the LIF forward over T steps.

    Args:
        x: input currents ``[T, N]``.
        v_th: threshold per neuron ``[N]``, or ``[1]`` for all.
        v_init: membrane before the first step ``[N]`` or ``[1]``.
        decay, input_scale: u_t = decay·v_{t−1} + input_scale·I_t.
        hard_reset: v = (1 − S)·u if True, else v = u − S·V_th.
        fire_on_equal: S = (u >= V_th) if True, else (u > V_th).

    Returns:
        ``(spikes [T, N] in x's dtype, u [T, N] the membrane before firing, v_last [N])``.
    """
    _setup(x)
    T, N = x.shape
    _check("v_th", v_th, (N,), x)
    _check("v_init", v_init, (N,), x)
    s, u, v_last = torch.empty_like(x), torch.empty_like(x), x.new_empty(N)
    _launch(_forward, x, x, v_th, v_init, s, u, v_last, T, N, DECAY=float(decay),
            INPUT_SCALE=float(input_scale), HARD_RESET=bool(hard_reset), FIRE_ON_EQUAL=bool(fire_on_equal),
            VTH_ONE=v_th.shape[0] != N, VINIT_ONE=v_init.shape[0] != N)
    return s, u, v_last


def lif_backward(g_s: Tensor, g_v_last: Tensor, u: Tensor, v_th: Tensor, decay: float, input_scale: float,
                 hard_reset: bool, detach_reset: bool, fire_on_equal: bool, mode: str, surrogate: str,
                 width: float) -> tuple[Tensor, Tensor, Tensor]:
    """Run the LIF backward over T steps in reverse.

    Args:
        g_s: ∂L/∂S ``[T, N]``.
        g_v_last: ∂L/∂v_last ``[N]``, or ``[1]`` for all (zeros when v_last is unused).
        u: the forward's membrane before firing ``[T, N]``.
        v_th: threshold per neuron ``[N]``, or ``[1]`` for all.
        decay, input_scale, hard_reset, fire_on_equal: as in :func:`lif_forward`.
        detach_reset: no gradient through the spike in the reset.
        mode: the threshold-gradient mode (``ltsnn.functional.neuron.THRESHOLD_GRADS``).
        surrogate, width: the surrogate of ∂S/∂u (``ltsnn.functional.surrogate``).

    Returns:
        ``(g_x [T, N], g_vth shaped as v_th: summed over t, and over the neurons for a ``[1]`` threshold
        (zeros for "fixed"; the caller reduces it to the threshold's shape), g_v_init [N])``.
    """
    if mode not in _MODE_TERMS:
        raise ValueError(f"lif_triton: unknown mode {mode!r}; expected one of {list(_MODE_TERMS)}")
    if surrogate not in SURROGATES:
        raise ValueError(f"lif_triton: unknown surrogate {surrogate!r}; expected one of {list(SURROGATES)}")
    _setup(u)
    T, N = u.shape
    _check("g_s", g_s, (T, N), u)
    for name, t in (("g_v_last", g_v_last), ("v_th", v_th)):
        _check(name, t, (N,), u)
    vth_sg, vth_masked, sigma_on_u = _MODE_TERMS[mode]
    vth_one = v_th.shape[0] != N
    g_x, g_v_init = torch.empty_like(u), u.new_empty(N)
    g_vth = u.new_zeros(-(-N // BLOCK) or 1) if vth_one else u.new_empty(N)
    # The last rows' views: the kernel walks back from t = T−1 by pointer steps.
    _launch(_backward, u, g_s[-1], u[-1], g_x[-1], g_v_last, v_th, g_vth, g_v_init, T, N,
            DECAY=float(decay), INPUT_SCALE=float(input_scale), HARD_RESET=bool(hard_reset),
            DETACH_RESET=bool(detach_reset), FIRE_ON_EQUAL=bool(fire_on_equal), VTH_SG=vth_sg,
            VTH_MASKED=vth_masked, SIGMA_ON_U=sigma_on_u, WANT_VTH=mode != "fixed", SURROGATE=surrogate,
            WIDTH=float(width), VTH_ONE=vth_one, GVL_ONE=g_v_last.shape[0] != N)
    return g_x, (g_vth.sum().reshape(1) if vth_one else g_vth), g_v_init
