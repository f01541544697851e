"""The multi-step LIF of :mod:`ltsnn.functional.neuron` as two numba CPU kernels (the raw backend interface).

The equations (charge, fire, reset, and the backward of every threshold-gradient mode) are written out in
:mod:`ltsnn.functional.neuron`; these kernels compute the same quantities in one pass over time each, and
``tests/test_kernels_lif.py`` checks them against it (spikes exact, gradients to float tolerance).

Memory: the forward reads ``x`` and writes the spikes and the membrane before firing ``u`` (4 + 4 + 4
bytes per element in float32); the backward reads ``g_s`` and ``u``, recomputes the spikes from ``u`` with
the same comparison, and writes ``g_x`` (another 12): the 24 bytes/element floor. The neurons ``N`` are
cut into blocks; a thread walks the T steps of one block, so the running membrane (or its gradient) stays
in L1 while ``x``/``u``/``g`` stream through once. Blocks are spread over ``torch.get_num_threads()``
numba threads.

Exactness: spikes must equal the reference bit for bit, so the charge is computed as PyTorch's CPU
``add(x, v, alpha=decay)`` does it, a fused multiply-add ``fma(decay, v, input_scale · x)`` with one
rounding (LLVM's ``fma``; numba's ``fastmath`` stays off so nothing else is re-associated). Scalars are
cast to the tensor's dtype first, as PyTorch does.

Example:
    >>> import torch
    >>> from ltsnn.kernels.lif_numba import lif_forward
    >>> x = torch.full((3, 2), 0.7)                                     # [T, N]
    >>> s, u, v_last = lif_forward(x, torch.ones(2), torch.zeros(2), 0.5, 1.0, True, True)
    >>> s[:, 0].tolist(), u[:, 0].tolist()                              # fires at u = 1.05, resets to 0
    ([0.0, 1.0, 0.0], [0.699999988079071, 1.0499999523162842, 0.699999988079071])
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic

from ltsnn.kernels.buffers import BufferPool

Tensor = torch.Tensor

# Codes of the string options inside the kernels (numba branches on ints, not on strings).
MODES = {"fixed": 0, "stsg": 1, "sgp": 2, "sgp_official": 3, "penalty_for_all": 4}
SURROGATES = {"triangle": 0, "sigmoid": 1, "atan": 2, "rectangle": 3}
BLOCK = 2048          # neurons per block: v_th, v and g_vth of a block (24 KiB in float32) stay in L1
DTYPES = (torch.float32, torch.float64)
# The [T, N] outputs come from here: fresh multi-MB tensors cost a page fault per 4 KiB (see buffers.py).
# POOL.clear() gives the free ones back to the OS.
POOL = BufferPool(limit_bytes=2 << 30)

LN2_HI = 0.693145751953125            # ln 2 split in two (Cody-Waite): k · LN2_HI is exact for |k| < 2^9
LN2_LO = 1.4286068203094173e-06       # ln 2 − LN2_HI
EXP_CLAMP = 87.0                      # |argument| bound of _exp: 2^±126 stays a normal float32


@intrinsic
def _fma(typingctx, a, b, c):
    """``a · b + c`` rounded once, as PyTorch's vectorised CPU ``add(alpha=)``/``addcmul`` compute it."""
    if isinstance(a, types.Float) and a == b == c:
        def codegen(context, builder, sig, args):
            return builder.fma(*args)
        return a(a, b, c), codegen
    return None


@intrinsic
def _exp2i(typingctx, k):
    """``2 ** k`` for an integral float ``k`` with a normal result, built from the exponent bits (unlike
    ``math.ldexp``, a plain call, this vectorises)."""
    if isinstance(k, types.Float):
        width, mantissa, bias = (64, 52, 1023) if k.bitwidth == 64 else (32, 23, 127)

        def codegen(context, builder, sig, args):
            int_t = ir.IntType(width)
            bits = builder.shl(builder.add(builder.fptosi(args[0], int_t), int_t(bias)), int_t(mantissa))
            return builder.bitcast(bits, context.get_value_type(k))
        return k(k), codegen
    return None


@njit(cache=True, inline="always", error_model="numpy")
def _exp(y):
    """e^y for |y| <= EXP_CLAMP to ~1 ulp, written out so that loops calling it vectorise (numba calls
    libm's exp one element at a time): y = k ln 2 + r with |r| <= ln 2 / 2, e^r by its Taylor series
    (to r^7/7! in float32, r^12/12! in float64: truncation < 1e-8 / 2e-16 relative), times 2^k."""
    F = type(y)
    k = np.floor(y * F(1.4426950408889634) + F(0.5))
    r = (y - k * F(LN2_HI)) - k * F(LN2_LO)
    if F(1.0) + F(1e-10) == F(1.0):                                 # float32 (a constant, folded away)
        p = F(1.0 / 5040.0)
    else:
        p = F(1.0 / 479001600.0)
        for c in (39916800.0, 3628800.0, 362880.0, 40320.0, 5040.0):
            p = _fma(p, r, F(1.0 / c))
    for c in (720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0):
        p = _fma(p, r, F(1.0 / c))
    return p * _exp2i(k)


@njit(cache=True, inline="always", error_model="numpy")
def _sigmoid(x):
    F = type(x)
    return F(1.0) / (F(1.0) + _exp(min(max(-x, F(-EXP_CLAMP)), F(EXP_CLAMP))))


@njit(cache=True, inline="always", error_model="numpy")
def _surrogate_grad(x, surrogate, width):
    """f'(x) of :mod:`ltsnn.functional.surrogate` (codes in SURROGATES), in x's dtype."""
    F = type(x)
    if surrogate == 0:                                              # triangle: max(0, w − |x|) / w²
        return max(width - abs(x), F(0.0)) * (F(1.0) / (width * width))  # 1/w² is hoisted out of the loop
    if surrogate == 1:                                              # sigmoid: w σ(wx) (1 − σ(wx))
        s = _sigmoid(width * x)
        return width * s * (F(1.0) - s)
    if surrogate == 2:                                              # atan: (w/2) / (1 + (π w x / 2)²)
        z = F(0.5 * np.pi) * width * x
        return F(0.5) * width / (F(1.0) + z * z)
    return F(1.0) / width if abs(x) < F(0.5) * width else F(0.0)    # rectangle: 1{|x| < w/2} / w


@njit(cache=True, inline="always", error_model="numpy")
def _block_copy(dst, src, lo, hi):
    """``dst[:hi-lo] = src[lo:hi]``, or ``src[0]`` everywhere when ``src`` holds one value for all neurons."""
    if src.shape[0] == 1:
        for i in range(hi - lo):
            dst[i] = src[0]
    else:
        for i in range(hi - lo):
            dst[i] = src[lo + i]


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _forward_kernel(x, v_th, v_init, decay, input_scale, hard_reset, fire_on_equal, s, u, v, block):
    T, N = x.shape
    F = type(decay)
    for b in prange((N + block - 1) // block):
        # Unsigned indices: numba then skips the negative-index wraparound, which stops LLVM vectorising.
        lo, hi = np.uint64(b * block), np.uint64(min(b * block + block, N))
        th = np.empty(block, x.dtype)                               # this block's V_th (L1-resident)
        _block_copy(th, v_th, lo, hi)
        _block_copy(v[lo:hi], v_init, lo, hi)                       # v holds v_{t-1} of this block
        for t in range(T):
            x_t, u_t, s_t = x[t], u[t], s[t]
            for n in range(lo, hi):
                un = _fma(decay, v[n], x_t[n] * input_scale)        # u = decay · v + input_scale · I
                fired = un >= th[n - lo] if fire_on_equal else un > th[n - lo]
                u_t[n] = un
                s_t[n] = F(1.0) if fired else F(0.0)
                v[n] = (F(0.0) if hard_reset else un - th[n - lo]) if fired else un


@njit(cache=True, inline="always", error_model="numpy")
def _backward_block(g_s, g_v_last, u, v_th, decay, input_scale, hard_reset, detach_reset, fire_on_equal, mode,
                    surrogate, width, g_x, g_vth, g_v, lo, hi, th, acc):
    """The backward of neurons lo..hi-1, walking T in reverse (inlined: constant options fold away).
    ``th`` and ``acc`` are block-sized scratch: V_th and the running ∂L/∂V_th of these neurons."""
    F = type(decay)
    _block_copy(th, v_th, lo, hi)
    _block_copy(g_v[lo:hi], g_v_last, lo, hi)                       # g_v holds ∂L/∂v_t of this block
    for i in range(hi - lo):
        acc[i] = F(0.0)
    for t in range(u.shape[0] - 1, -1, -1):
        u_t, gs_t, gx_t = u[t], g_s[t], g_x[t]
        for n in range(lo, hi):
            un, thn, gv = u_t[n], th[n - lo], g_v[n]
            x = un - thn
            fired = un >= thn if fire_on_equal else un > thn        # the forward's spike, recomputed
            g = gs_t[n]                                             # G_t: the spike's gradient ...
            if not detach_reset:                                    # ... plus the reset path
                g = g - gv * (un if hard_reset else thn)
            sg = _surrogate_grad(x, surrogate, width) * g           # G_t · f'(x)
            sig = _sigmoid(x) if mode >= 2 else F(0.0)              # σ(x): sgp, sgp_official, penalty_for_all
            if mode == 4:                                           # penalty_for_all: σ weights the u path
                sg = sg * sig
            if hard_reset:                                          # ∂L/∂u = ∂L/∂v·(1 − S) + G·f'
                gu = sg if fired else gv + sg
            else:
                gu = gv + sg
            if mode != 0:
                d = F(0.0)
                if mode == 1 or mode == 3 or mode == 4:             # stsg, sgp_official, penalty_for_all
                    d = d - sg
                if (mode == 2 or mode == 3) and fired:              # the masked sigmoid term of SGP
                    d = d - sig * sg
                if not hard_reset and fired:                        # v = u − S·V_th uses V_th directly
                    d = d - gv
                acc[n - lo] += d
            g_v[n] = gu * decay
            gx_t[n] = gu * input_scale
    if g_vth.shape[0] == g_v.shape[0]:                              # one threshold per neuron
        for i in range(hi - lo):
            g_vth[lo + i] = acc[i]
    else:                                                           # one for all: this block's sum
        total = F(0.0)
        for i in range(hi - lo):
            total += acc[i]
        g_vth[lo // len(th)] = total


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _backward_kernel(g_s, g_v_last, u, v_th, decay, input_scale, hard_reset, detach_reset, fire_on_equal,
                     mode, surrogate, width, g_x, g_vth, g_v, block):
    N = u.shape[1]
    for b in prange((N + block - 1) // block):
        # Unsigned indices: numba then skips the negative-index wraparound, which stops LLVM vectorising.
        lo, hi = np.uint64(b * block), np.uint64(min(b * block + block, N))
        th, acc = np.empty(block, u.dtype), np.empty(block, u.dtype)
        # The options are runtime values, so the general loop keeps a branch per option (~1.6x slower);
        # LT-SNN's own setting gets a copy with them as constants.
        if mode == 2 and surrogate == 0 and hard_reset and not detach_reset:
            _backward_block(g_s, g_v_last, u, v_th, decay, input_scale, True, False, fire_on_equal, 2, 0, width,
                            g_x, g_vth, g_v, lo, hi, th, acc)
        else:
            _backward_block(g_s, g_v_last, u, v_th, decay, input_scale, hard_reset, detach_reset, fire_on_equal,
                            mode, surrogate, width, g_x, g_vth, g_v, lo, hi, th, acc)


def _check(name: str, tensors: dict[str, Tensor], shapes: dict[str, tuple]) -> None:
    """One-line ValueError unless every tensor is a contiguous CPU float32/float64 tensor of its shape (a shape,
    or a list of the shapes allowed)."""
    dtype = next(iter(tensors.values())).dtype
    if dtype not in DTYPES:
        raise ValueError(f"ltsnn.kernels.lif_numba.{name}: dtype {dtype} unsupported; expected float32 or float64")
    for key, t in tensors.items():
        allowed = shapes[key] if isinstance(shapes[key], list) else [shapes[key]]
        if t.device.type != "cpu" or t.dtype != dtype or not t.is_contiguous() or tuple(t.shape) not in allowed:
            raise ValueError(f"ltsnn.kernels.lif_numba.{name}: {key} must be a contiguous CPU {dtype} tensor "
                             f"of shape {' or '.join(str(list(a)) for a in allowed)}, got {t.dtype} "
                             f"{list(t.shape)} on {t.device} (contiguous: {t.is_contiguous()})")


def _launch(kernel, *args) -> None:
    """Run ``kernel`` on as many numba threads as torch uses (``torch.set_num_threads`` rules both)."""
    torch_threads = torch.get_num_threads()
    numba.set_num_threads(max(1, min(torch_threads, numba.config.NUMBA_NUM_THREADS)))
    kernel(*args)
    if torch.get_num_threads() != torch_threads:                   # numba's OpenMP layer resets it at start-up
        torch.set_num_threads(torch_threads)


def _np(t: Tensor) -> np.ndarray:
    return t.detach().numpy()


def lif_forward(x: Tensor, v_th: Tensor, v_init: Tensor, decay: float, input_scale: float, hard_reset: bool,
                fire_on_equal: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Forward over T steps: ``x [T, N]``, ``v_th [N]`` or ``[1]`` (one for all), ``v_init [N]`` or ``[1]``
    (contiguous, one dtype) -> ``(spikes [T, N], u [T, N] membrane before firing, v_last [N])``."""
    T, N = x.shape if x.dim() == 2 else (-1, -1)
    _check("lif_forward", {"x": x, "v_th": v_th, "v_init": v_init},
           {"x": (T, N), "v_th": [(N,), (1,)], "v_init": [(N,), (1,)]})
    s, u, v = POOL.empty((T, N), x.dtype), POOL.empty((T, N), x.dtype), x.new_empty(N)
    F = _np(x).dtype.type
    _launch(_forward_kernel, _np(x), _np(v_th), _np(v_init), F(decay), F(input_scale), bool(hard_reset),
                    bool(fire_on_equal), _np(s), _np(u), _np(v), BLOCK)
    return s, u, v


def lif_backward(g_s: Tensor, g_v_last: Tensor, u: Tensor, v_th: Tensor, decay: float, input_scale: float,
                 hard_reset: bool, detach_reset: bool, fire_on_equal: bool, mode: str, surrogate: str,
                 width: float) -> tuple[Tensor, Tensor, Tensor]:
    """Backward over T steps: ``g_s [T, N]``, ``g_v_last [N]`` or ``[1]`` (zeros when absent), the forward's
    ``u [T, N]`` and ``v_th [N]`` or ``[1]`` -> ``(g_x [T, N], g_vth shaped as v_th: summed over t, and over the
    neurons for a [1] threshold (zeros for mode "fixed"), g_v_init [N])``."""
    T, N = u.shape if u.dim() == 2 else (-1, -1)
    _check("lif_backward", {"u": u, "g_s": g_s, "g_v_last": g_v_last, "v_th": v_th},
           {"u": (T, N), "g_s": (T, N), "g_v_last": [(N,), (1,)], "v_th": [(N,), (1,)]})
    if mode not in MODES or surrogate not in SURROGATES:
        raise ValueError(f"ltsnn.kernels.lif_numba.lif_backward: mode {mode!r} / surrogate {surrogate!r}; "
                         f"expected one of {list(MODES)} / {list(SURROGATES)}")
    # A [1] threshold's gradient: one partial sum per block, added up here (a [N] array would cost 1/T of
    # the backward's traffic again).
    per_neuron = v_th.shape[0] == N
    g_x, g_v = POOL.empty((T, N), u.dtype), u.new_empty(N)
    g_vth = u.new_empty(N) if per_neuron else u.new_zeros(max(1, -(-N // BLOCK)))
    F = _np(u).dtype.type
    _launch(_backward_kernel, _np(g_s), _np(g_v_last), _np(u), _np(v_th), F(decay), F(input_scale), bool(hard_reset),
                     bool(detach_reset), bool(fire_on_equal), MODES[mode], SURROGATES[surrogate], F(width),
                     _np(g_x), _np(g_vth), _np(g_v), BLOCK)
    return g_x, (g_vth if per_neuron else g_vth.sum().reshape(1)), g_v
