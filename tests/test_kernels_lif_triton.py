"""The Triton LIF kernels (``ltsnn.kernels.lif_triton``) against the float64 reference ``lif_multistep``.

The kernels run on CUDA tensors, or on CPU tensors under triton's interpreter, which ``triton.jit``
switches on (``TRITON_INTERPRET=1``) when it decorates them, i.e. when ``ltsnn.kernels.lif_triton`` is
first imported in the process, by this file or by any collected before it. So an ordinary run (CI, no
GPU) leaves its process alone: ``test_under_triton_interpreter`` re-runs this file in a child pytest
with the variable set, where the kernel tests run on the CPU. Where CUDA is available they also run in
this process, on the GPU. The device follows the module's actual mode, not the environment.

Inputs are multiples of 1/8 and the leak constants powers of two, so every membrane value is exact in
float32 and float64 alike: spikes compare exactly, and ties u == V_th really happen.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ltsnn.functional.neuron import THRESHOLD_GRADS, lif_multistep
from ltsnn.kernels import lif_triton

HAS_TRITON = lif_triton.triton is not None
INTERPRETED = lif_triton._INTERPRETED        # the module's own state, whatever the environment says now
DEVICE = "cpu" if INTERPRETED else "cuda" if HAS_TRITON and torch.cuda.is_available() else None
WIDTHS = {"triangle": 0.7, "sigmoid": 2.5, "atan": 1.3, "rectangle": 0.5}   # none the default; |x| = 0.25 occurs
D = torch.float64

needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")
needs_kernels = pytest.mark.skipif(DEVICE is None, reason="no triton or no CUDA here: these run under the "
                                                          "interpreter, in test_under_triton_interpreter's child")
HOST_ONLY = ("test_under_triton_interpreter", "test_cpu_tensors_need_the_interpreter", "test_imports_without_triton",
             "test_compiles_for_the_gpu")


@needs_triton
@pytest.mark.slow
def test_under_triton_interpreter():
    if INTERPRETED:
        pytest.skip("this is the child run")
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
                           "-k", f"not ({' or '.join(HOST_ONLY)})"], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=600)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    # A child that skipped its kernel tests would pass vacuously: require that none was skipped.
    assert proc.returncode == 0 and "passed" in summary and "skipped" not in summary, \
        proc.stdout[-8000:] + proc.stderr[-2000:]


# --------------------------------------------------------------------------- the two sides compared

def make_inputs(shape, v_th_shape, seed):
    """x [T, B, ...], v_th, v_init, upstream gradients of the spikes and of v_last; float64, exact values."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-8, 17, shape, generator=gen).to(D) / 8                # [-1, 2] in steps of 1/8
    v_th = torch.randint(4, 12, v_th_shape, generator=gen).to(D) / 8          # 0.5 .. 1.375
    v_init = torch.randint(-4, 9, shape[1:], generator=gen).to(D) / 8         # a stream continued
    return x, v_th, v_init, torch.randn(shape, generator=gen, dtype=D), torch.randn(shape[1:], generator=gen, dtype=D)


def reference(x, v_th, v_init, g_seq, g_v_last, **opts):
    """lif_multistep in float64 on the CPU: spikes, v_last and the gradients of Σ g·S + Σ g_v·v_last."""
    x, v_th, v_init = (t.detach().to("cpu", D).requires_grad_() for t in (x, v_th, v_init))
    s, v_last = lif_multistep(x, v_th, v_init=v_init, **opts)
    loss = (s * g_seq).sum() + (0 if g_v_last is None else (v_last * g_v_last).sum())
    g_x, g_vth, g_v_init = torch.autograd.grad(loss, [x, v_th, v_init], allow_unused=True)
    return s, v_last, g_x, g_vth, g_v_init


def kernels(x, v_th, v_init, g_seq, g_v_last, *, decay, input_scale, reset, detach_reset, fire_on_equal,
            threshold_grad, surrogate, width):
    """The raw kernels on [T, B, ...] inputs: flatten to [T, N], expand v_th / v_init to [N] (a single value
    goes in as [1], as the dispatcher passes it), reduce g_vth."""
    T, step = x.shape[0], x.shape[1:]

    def per_neuron(t):                                                       # broadcastable to [B, ...] -> [N]
        return t.reshape(1).contiguous() if t.numel() == 1 else t.expand(step).reshape(-1).contiguous()

    v_th_n = per_neuron(v_th)
    g_v_last = torch.zeros(1, dtype=x.dtype, device=x.device) if g_v_last is None else g_v_last
    s, u, v_last = lif_triton.lif_forward(x.reshape(T, -1), v_th_n, per_neuron(v_init), decay, input_scale,
                                          reset == "hard", fire_on_equal)
    g_x, g_vth, g_v_init = lif_triton.lif_backward(g_seq.reshape(T, -1), per_neuron(g_v_last), u, v_th_n, decay,
                                                   input_scale, reset == "hard", detach_reset, fire_on_equal,
                                                   threshold_grad, surrogate, width)
    return (s.view(x.shape), v_last.view(step), g_x.view(x.shape),
            g_vth.reshape(v_th.shape) if v_th.numel() == 1 else g_vth.view(step).sum_to_size(v_th.shape),
            g_v_init.view(step))


def check(shape, v_th_shape, *, dtype=D, seed=0, absent_g_v_last=False, **opts):
    """Kernels (in ``dtype``, on DEVICE) against the float64 reference: spikes exact, the rest to tolerance."""
    x, v_th, v_init, g_seq, g_v_last = make_inputs(shape, v_th_shape, seed)
    if absent_g_v_last:
        g_v_last = None
    ref = reference(x, v_th, v_init, g_seq, g_v_last, **opts)
    dev = [None if t is None else t.to(DEVICE, dtype) for t in (x, v_th, v_init, g_seq, g_v_last)]
    got = [t.to("cpu", D) for t in kernels(*dev, **opts)]
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == D else dict(rtol=1e-5, atol=1e-5)
    assert torch.equal(got[0], ref[0]), "spikes differ"
    torch.testing.assert_close(got[1], ref[1], **tol, msg="v_last")
    torch.testing.assert_close(got[2], ref[2], **tol, msg="g_x")
    if opts["threshold_grad"] == "fixed":
        assert ref[3] is None and not got[3].any()
    else:
        torch.testing.assert_close(got[3], ref[3], **tol, msg="g_vth")
    torch.testing.assert_close(got[4], ref[4], **tol, msg="g_v_init")
    return ref


OPTS = dict(decay=0.75, input_scale=0.5, reset="hard", detach_reset=False, fire_on_equal=True,
            threshold_grad="sgp", surrogate="triangle", width=1.0)
SHAPE, PER_CHANNEL = (4, 2, 3, 5, 7), (3, 1, 1)                              # [T, B, C, H, W]: N = 210


@needs_kernels
@pytest.mark.parametrize("surrogate", list(WIDTHS))
@pytest.mark.parametrize("reset,detach_reset,fire_on_equal",
                         list(itertools.product(["hard", "soft"], [False, True], [True, False])))
@pytest.mark.parametrize("mode", THRESHOLD_GRADS)
def test_every_option_float64(mode, reset, detach_reset, fire_on_equal, surrogate):
    check(SHAPE, PER_CHANNEL, seed=1, **{**OPTS, "threshold_grad": mode, "reset": reset, "surrogate": surrogate,
                                         "detach_reset": detach_reset, "fire_on_equal": fire_on_equal,
                                         "width": WIDTHS[surrogate]})


@needs_kernels
def test_inputs_hit_the_threshold_exactly():
    # Else fire_on_equal above would be tested on data where >= and > agree.
    x, v_th, *_ = make_inputs(SHAPE, PER_CHANNEL, 1)
    s_ge, _ = lif_multistep(x, v_th, decay=0.75, input_scale=0.5, fire_on_equal=True)
    s_gt, _ = lif_multistep(x, v_th, decay=0.75, input_scale=0.5, fire_on_equal=False)
    assert not torch.equal(s_ge, s_gt)


@needs_kernels
@pytest.mark.parametrize("reset", ["hard", "soft"])
@pytest.mark.parametrize("mode", THRESHOLD_GRADS)
def test_float32(mode, reset):
    check(SHAPE, PER_CHANNEL, dtype=torch.float32, seed=2, **{**OPTS, "threshold_grad": mode, "reset": reset,
                                                              "surrogate": "sigmoid", "width": 2.5})


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, D])
def test_several_blocks_odd_size_layer_threshold(dtype):
    # N = 1 · 7 · 13 · 13 = 1183: two programs, the second one partly masked; one threshold for the layer, as
    # [1]: its gradient is the two programs' partial sums (the masked lanes' garbage must not enter).
    for absent in (False, True):                                             # g_v_last [N], or zeros as [1]
        check((3, 1, 7, 13, 13), (1,), dtype=dtype, seed=3, absent_g_v_last=absent,
              **{**OPTS, "threshold_grad": "sgp_official", "reset": "soft", "decay": 0.5, "input_scale": 1.0})


@needs_kernels
@pytest.mark.parametrize("mode", ["sgp", "stsg"])
def test_single_step(mode):
    check((1, 3, 5), (5,), seed=4, **{**OPTS, "threshold_grad": mode, "surrogate": "atan", "width": 1.3})


@needs_kernels
@pytest.mark.parametrize("input_scale", [1.0, 0.7])
def test_charge_rounds_once_like_torch(input_scale):
    # u = decay·v + input_scale·I rounds once in PyTorch (a fused multiply-add). Put V_th on that value where
    # rounding twice would land below it: only the same single rounding fires, as the reference does.
    gen = torch.Generator().manual_seed(6)
    x, v_init = torch.randn(1, 4096, generator=gen), torch.randn(4096, generator=gen)
    fused = torch.mul(x[0], input_scale).add_(v_init, alpha=0.3)
    pick = 0.3 * v_init + x[0] * input_scale < fused
    assert pick.sum() > 10
    x, v_init, v_th = x[:, pick], v_init[pick], fused[pick]
    assert lif_multistep(x, v_th, v_init=v_init, decay=0.3, input_scale=input_scale)[0].all()
    s, _, _ = lif_triton.lif_forward(x.to(DEVICE).contiguous(), v_th.to(DEVICE), v_init.to(DEVICE), 0.3,
                                     input_scale, True, True)
    assert s.all()


@needs_kernels
@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_without_v_last_gradient(reset):
    # The reference then carries no ∂L/∂v at all; the kernel gets zeros.
    check(SHAPE, PER_CHANNEL, seed=5, absent_g_v_last=True, **{**OPTS, "reset": reset, "threshold_grad": "stsg"})


@needs_kernels
def test_bad_arguments_raise():
    lif_forward, lif_backward = lif_triton.lif_forward, lif_triton.lif_backward
    x = torch.zeros(3, 4, dtype=D, device=DEVICE)
    n = torch.zeros(4, dtype=D, device=DEVICE)
    with pytest.raises(ValueError, match="contiguous"):
        lif_forward(x.t(), n[:3], n[:3], 0.5, 1.0, True, True)
    with pytest.raises(ValueError, match="v_th"):
        lif_forward(x, n.float(), n, 0.5, 1.0, True, True)
    with pytest.raises(ValueError, match="mode"):
        lif_backward(x, n, x, n, 0.5, 1.0, True, False, True, "bogus", "triangle", 1.0)
    with pytest.raises(ValueError, match="surrogate"):
        lif_backward(x, n, x, n, 0.5, 1.0, True, False, True, "sgp", "bogus", 1.0)


# --------------------------------------------------------------------------- without a GPU or triton

@needs_triton
@pytest.mark.skipif(INTERPRETED or torch.cuda.is_available(), reason="CPU tensors are allowed here")
def test_cpu_tensors_need_the_interpreter():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="TRITON_INTERPRET"):
        lif_triton.lif_forward(x, x[0], x[0], 0.5, 1.0, True, True)


def test_imports_without_triton(monkeypatch):
    # A fresh copy of the module, with `import triton` failing as it does where triton is absent.
    monkeypatch.setitem(sys.modules, "triton", None)
    spec = importlib.util.spec_from_file_location("lif_triton_without_triton",
                                                  Path(__file__).resolve().parents[1] / "ltsnn/kernels/lif_triton.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = torch.zeros(2, 3)
    with pytest.raises(ImportError, match="needs the 'triton' package"):
        module.lif_forward(x, x[0], x[0], 0.5, 1.0, True, True)


@needs_triton
@pytest.mark.skipif(INTERPRETED, reason="the interpreter does not compile")
@pytest.mark.parametrize("dtype", ["fp32", "fp64"])
def test_compiles_for_the_gpu(dtype):
    """The interpreter runs the kernels as Python and misses what only the compiler checks (loop-carried
    types, constexpr branches): compile both kernels for an H100 (sm_90, no GPU needed) with the
    alignment a contiguous tensor gets, and check the float32 code moves 16 bytes per load and store and
    does no float64 arithmetic."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    import triton

    def ptx(kernel, constexprs):
        params = kernel.params
        signature = {p.name: "constexpr" if p.is_constexpr else "i32" if p.name in ("T", "N") else f"*{dtype}"
                     for p in params}
        aligned = {(p.num,): [["tt.divisibility", 16]] for p in params if not p.is_constexpr and p.name != "T"}
        source = ASTSource(kernel, signature, {**constexprs, "BLOCK": lif_triton.BLOCK}, aligned)
        options = {"num_warps": lif_triton.NUM_WARPS, "enable_fp_fusion": False}
        return triton.compile(source, target=GPUTarget("cuda", 90, 32), options=options).asm["ptx"]

    codes = [ptx(lif_triton._forward, dict(DECAY=0.3, INPUT_SCALE=0.7, HARD_RESET=False, FIRE_ON_EQUAL=True))]
    for i, ((vth_sg, vth_masked, sigma_on_u), surrogate) in enumerate(zip(lif_triton._MODE_TERMS.values(),
                                                                          itertools.cycle(lif_triton.SURROGATES))):
        codes.append(ptx(lif_triton._backward, dict(
            DECAY=0.3, INPUT_SCALE=0.7, HARD_RESET=i % 2 == 0, DETACH_RESET=False, FIRE_ON_EQUAL=False,
            VTH_SG=vth_sg, VTH_MASKED=vth_masked, SIGMA_ON_U=sigma_on_u, WANT_VTH=i > 0, SURROGATE=surrogate,
            WIDTH=1.3)))
    if dtype == "fp32":
        for code in codes:
            assert "ld.global.v4" in code and "st.global.v4" in code
            assert ".f64" not in code
