"""The fused LIF (``ltsnn.kernels``): numba kernels against the functional reference, dispatch, custom ops.

The reference is :func:`ltsnn.functional.neuron.lif_multistep` (the ``"torch"`` backend) in the same
dtype: the kernel must give the same spikes bit for bit (same charge arithmetic, one fused multiply-add),
the same final membrane, and the same gradients of x, v_th and v_init to float tolerance, for every mode.
"""

from __future__ import annotations

import importlib.util
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ltsnn.functional.neuron import THRESHOLD_GRADS, lif_multistep as reference
from ltsnn.functional.surrogate import SURROGATES
from ltsnn.kernels import lif as dispatch
from ltsnn.kernels import lif_multistep
from ltsnn.neurons import LIFNeuron

HAS_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (pip install 'ltsnn[fast]')")
TOL = {torch.float64: dict(rtol=1e-9, atol=1e-11), torch.float32: dict(rtol=2e-5, atol=2e-5)}


def run(backend, x, v_th, v_init, g_s, g_v, **opts):
    """Spikes, v_last and the gradients of (s·g_s).sum() + (v_last·g_v).sum() w.r.t. x, v_th and v_init."""
    leaves = [t.detach().clone().requires_grad_() for t in (x, v_th, v_init)]
    s, v_last = lif_multistep(leaves[0], leaves[1], v_init=leaves[2], backend=backend, **opts)
    loss = (s * g_s).sum() + ((v_last * g_v).sum() if g_v is not None else 0.0)
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return s.detach(), v_last.detach(), grads


def assert_same(x, v_th, v_init, g_s, g_v, **opts):
    s_k, v_k, grads_k = run("numba", x, v_th, v_init, g_s, g_v, **opts)
    s_r, v_r, grads_r = run("torch", x, v_th, v_init, g_s, g_v, **opts)
    assert s_k.dtype == x.dtype and torch.equal(s_k, s_r), "spikes differ"
    assert torch.equal(v_k, v_r), "v_last differs"
    tol = dict(TOL[x.dtype])
    for name, a, b in zip(("x", "v_th", "v_init"), grads_k, grads_r):
        if b is None:
            assert a is None, f"grad of {name} should be None"
            continue
        if name == "v_th":                              # a sum over up to T·N terms: scale the tolerance
            tol["atol"] = TOL[x.dtype]["atol"] * max(1.0, float(b.abs().max())) * x.numel() ** 0.5
        torch.testing.assert_close(a, b, **tol, msg=lambda m, name=name: f"grad of {name}: {m}")
    return s_r


@st.composite
def cases(draw):
    """A random problem: shape, dtype, v_th / v_init shapes, upstream gradients and every option."""
    T = draw(st.integers(1, 5))
    C = draw(st.integers(1, 5))
    step = (draw(st.integers(1, 3)), C, draw(st.integers(1, 7)), draw(st.integers(1, 7)))     # [B, C, H, W]
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    th_shape = draw(st.sampled_from(["scalar", "layer", "channel", "full"]))
    v_th = {"scalar": torch.tensor(0.9), "layer": torch.tensor([1.1]),
            "channel": torch.rand(C, 1, 1, generator=gen) + 0.5, "full": torch.rand(step, generator=gen) + 0.5}[th_shape]
    x = torch.randn(T, *step, generator=gen) * 0.8 + 0.6
    if draw(st.booleans()):                             # non-contiguous: a transposed view of the same values
        x = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    v_init = torch.rand(step, generator=gen) * 0.5 if draw(st.booleans()) else torch.tensor(0.0)
    g_s = torch.randn(T, *step, generator=gen)
    g_v = torch.randn(step, generator=gen) if draw(st.booleans()) else None
    surrogate = draw(st.sampled_from(sorted(SURROGATES)))
    opts = dict(decay=draw(st.sampled_from([0.5, 0.3, 0.9])), input_scale=draw(st.sampled_from([1.0, 0.7])),
                reset=draw(st.sampled_from(["hard", "soft"])), detach_reset=draw(st.booleans()),
                fire_on_equal=draw(st.booleans()), threshold_grad=draw(st.sampled_from(THRESHOLD_GRADS)),
                surrogate=surrogate, width=draw(st.sampled_from([None, 0.6, 1.7])))
    cast = (lambda t: None if t is None else t.to(dtype))
    return tuple(map(cast, (x, v_th, v_init, g_s, g_v))), opts


@needs_numba
@settings(max_examples=60, deadline=None, derandomize=True)
@given(cases())
def test_numba_matches_reference_on_random_problems(case):
    (x, v_th, v_init, g_s, g_v), opts = case
    assert_same(x, v_th, v_init, g_s, g_v, **opts)


@needs_numba
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", THRESHOLD_GRADS)
@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
def test_every_mode_and_surrogate(dtype, mode, surrogate):
    gen = torch.Generator().manual_seed(7)
    T, step = 6, (3, 4, 5, 5)
    x = (torch.randn(T, *step, generator=gen) * 0.8 + 0.6).to(dtype)
    v_th = (torch.rand(4, 1, 1, generator=gen) + 0.5).to(dtype)
    v_init = (torch.rand(step, generator=gen) * 0.5).to(dtype)
    g_s, g_v = torch.randn(T, *step, generator=gen).to(dtype), torch.randn(step, generator=gen).to(dtype)
    for reset in ("hard", "soft"):
        s = assert_same(x, v_th, v_init, g_s, g_v, reset=reset, threshold_grad=mode, surrogate=surrogate,
                        width=0.8)
        assert 0.05 < float(s.mean()) < 0.95            # both branches of the comparison are exercised


@needs_numba
def test_ties_fire_on_equal_exactly():
    # Multiples of 1/8 and decay 1/2: u hits V_th exactly, where >= and > disagree.
    x = torch.tensor([[1.0, 0.5, 0.75], [0.5, 0.75, 0.625]], dtype=torch.float32).view(2, 1, 3)
    for fire_on_equal in (True, False):
        s_k, _ = lif_multistep(x, 1.0, fire_on_equal=fire_on_equal, backend="numba")
        s_r, _ = reference(x, 1.0, fire_on_equal=fire_on_equal)
        assert torch.equal(s_k, s_r)
    assert not torch.equal(lif_multistep(x, 1.0, fire_on_equal=True, backend="numba")[0],
                           lif_multistep(x, 1.0, fire_on_equal=False, backend="numba")[0])


@needs_numba
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode,reset", [("sgp", "hard"), ("sgp_official", "soft"), ("fixed", "hard")])
def test_one_value_arguments_equal_their_expanded_copies(dtype, mode, reset):
    # v_th / v_init / g_v_last as [1] (how the dispatcher passes a layer threshold and a zero start) against the
    # same values expanded to [N], over several blocks with a partial last one: same spikes and gradients, and
    # the [1] threshold's gradient is the sum of the per-neuron ones (the blocks' partial sums added up).
    from ltsnn.kernels.lif_numba import BLOCK, lif_backward, lif_forward

    gen = torch.Generator().manual_seed(11)
    T, N = 5, 2 * BLOCK + 37
    x = (torch.randn(T, N, generator=gen) * 0.8 + 0.6).to(dtype)
    g_s = torch.randn(T, N, generator=gen).to(dtype)
    one, zero = torch.tensor([0.9], dtype=dtype), torch.zeros(1, dtype=dtype)
    hard = reset == "hard"
    s1, u1, v1 = lif_forward(x, one, zero, 0.5, 1.0, hard, True)
    sn, un, vn = lif_forward(x, one.expand(N).contiguous(), zero.expand(N).contiguous(), 0.5, 1.0, hard, True)
    assert torch.equal(s1, sn) and torch.equal(u1, un) and torch.equal(v1, vn) and v1.shape == (N,)
    args = (0.5, 1.0, hard, False, True, mode, "triangle", 1.0)
    gx1, gth1, gv1 = lif_backward(g_s, zero, u1, one, *args)
    gxn, gthn, gvn = lif_backward(g_s, zero.expand(N).contiguous(), un, one.expand(N).contiguous(), *args)
    assert torch.equal(gx1, gxn) and torch.equal(gv1, gvn) and gth1.shape == (1,)
    torch.testing.assert_close(gth1, gthn.sum().reshape(1), rtol=1e-5, atol=1e-4)
    assert (mode == "fixed") == (not gth1.any())


@needs_numba
def test_raw_interface_shapes_and_errors():
    from ltsnn.kernels.lif_numba import lif_backward, lif_forward

    x = torch.randn(4, 9)
    s, u, v = lif_forward(x, torch.ones(9), torch.zeros(9), 0.5, 1.0, True, True)
    assert s.shape == u.shape == (4, 9) and v.shape == (9,)
    g_x, g_vth, g_v0 = lif_backward(torch.ones(4, 9), torch.zeros(9), u, torch.ones(9), 0.5, 1.0, True, False,
                                    True, "fixed", "triangle", 1.0)
    assert g_x.shape == (4, 9) and g_vth.shape == g_v0.shape == (9,) and not g_vth.any()
    with pytest.raises(ValueError, match="v_th must be a contiguous CPU torch.float32 tensor of shape \\[9\\]"):
        lif_forward(x, torch.ones(3), torch.zeros(9), 0.5, 1.0, True, True)
    with pytest.raises(ValueError, match="dtype torch.float16 unsupported"):
        lif_forward(x.half(), torch.ones(9).half(), torch.zeros(9).half(), 0.5, 1.0, True, True)
    with pytest.raises(ValueError, match="mode 'magic'"):
        lif_backward(torch.ones(4, 9), torch.zeros(9), u, torch.ones(9), 0.5, 1.0, True, False, True, "magic",
                     "triangle", 1.0)


def test_resolve_backend():
    x = torch.zeros(2, 3)
    assert dispatch.resolve_backend("torch", x) == "torch"
    assert dispatch.resolve_backend("auto", x) == ("numba" if HAS_NUMBA else "torch")
    with pytest.raises(ValueError, match="unknown LIF backend 'cuda'; expected one of"):
        dispatch.resolve_backend("cuda", x)
    with pytest.raises(ValueError, match="float32 or float64"):
        dispatch.resolve_backend("numba", x.half())


def test_triton_on_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        lif_multistep(torch.zeros(2, 3), 1.0, backend="triton")


def test_auto_falls_back_to_torch_with_one_notice(monkeypatch):
    monkeypatch.setitem(dispatch._INSTALLED, "numba", False)
    monkeypatch.setattr(dispatch, "_NOTICED", set())
    x = torch.full((3, 1, 2), 0.7)
    with pytest.warns(RuntimeWarning, match="numba is not installed.*'torch' backend"):
        s, _ = lif_multistep(x, 1.0)
    assert torch.equal(s, reference(x, 1.0)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # said once: the second call is silent
        lif_multistep(x, 1.0)
    monkeypatch.setitem(dispatch._INSTALLED, "numba", True)
    with pytest.warns(RuntimeWarning, match="takes float32/float64"):
        lif_multistep(x.bfloat16(), 1.0)


@needs_numba
@pytest.mark.parametrize("threshold_shape", ["layer", "channel"])
def test_neuron_module_same_on_every_cpu_backend(threshold_shape):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 2, 4, 6, 6, generator=gen) + 0.6
    g = torch.randn(5, 2, 4, 6, 6, generator=gen)
    results = {}
    for backend in ("torch", "numba", "auto"):
        lif = LIFNeuron(threshold_shape=threshold_shape, channels=4, backend=backend)
        xb = x.clone().requires_grad_()
        s = lif(xb)
        (s * g).sum().backward()
        results[backend] = (s.detach(), xb.grad, lif.v_th.grad, lif.v)
        assert set(lif.state_dict()) == {"v_th"}        # the backend is not part of the checkpoint
    for backend in ("numba", "auto"):
        assert torch.equal(results[backend][0], results["torch"][0])
        assert torch.equal(results[backend][3], results["torch"][3])
        for a, b in zip(results[backend][1:3], results["torch"][1:3]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        LIFNeuron(backend="gpu")


@needs_numba
def test_streaming_continues_from_v_last():
    lif = LIFNeuron(backend="numba")
    lif.stream = True
    x = torch.randn(6, 2, 8, generator=torch.Generator().manual_seed(5)) + 0.6
    chunks = torch.cat([lif(x[:3]), lif(x[3:])])
    assert torch.equal(chunks, reference(x, 1.0)[0])


@needs_numba
def test_custom_ops_pass_opcheck():
    gen = torch.Generator().manual_seed(0)
    x, v_th, v0 = torch.randn(3, 10, generator=gen) + 0.6, torch.rand(10, generator=gen) + 0.5, torch.zeros(10)
    options = (0.5, 1.0, True, False, True, "sgp", "triangle", 1.0, "numba")
    torch.library.opcheck(dispatch.lif_forward_op, (x.requires_grad_(), v_th.requires_grad_(), v0) + options)
    _, u, _ = dispatch.lif_forward_op(x.detach(), v_th.detach(), v0, *options)
    torch.library.opcheck(dispatch.lif_backward_op, (torch.randn(3, 10, generator=gen), torch.zeros(10), u,
                                                      v_th.detach()) + options[:-1] + ("numba",))


class _ConvBNLIF(nn.Module):
    def __init__(self, backend):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.lif = LIFNeuron(threshold_shape="channel", channels=4, backend=backend)

    def forward(self, x_seq):                                   # [T, B, 2, H, W] -> [T, B, 4, H, W]
        y = self.bn(self.conv(x_seq.flatten(0, 1))).unflatten(0, x_seq.shape[:2])
        return self.lif(y)


@needs_numba
def test_torch_compile_fullgraph_has_no_break_at_the_neuron():
    torch.manual_seed(0)
    model = _ConvBNLIF("numba")
    x = torch.randn(4, 2, 2, 8, 8)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")   # raises on a graph break
    s_c = compiled(x)
    s_c.sum().backward()
    grads_c = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.lif.reset()
    s_e = model(x)
    s_e.sum().backward()
    assert torch.equal(s_c, s_e)
    for a, b in zip(grads_c, (p.grad for p in model.parameters())):
        torch.testing.assert_close(a, b)


@needs_numba
def test_charge_is_one_fused_multiply_add_like_torch():
    # Where decay·v + I rounded twice differs from PyTorch's fused add(alpha=), put V_th on PyTorch's value:
    # only the same single rounding gives the reference's spike.
    gen = torch.Generator().manual_seed(0)
    x, v0 = torch.randn(1, 4096, generator=gen), torch.randn(4096, generator=gen)
    fused, twice = torch.add(x[0], v0, alpha=0.3), 0.3 * v0 + x[0]
    pick = twice < fused
    assert pick.sum() > 10
    x, v0, v_th = x[:, pick], v0[pick], fused[pick]
    s_k, _ = lif_multistep(x, v_th, v_init=v0, decay=0.3, backend="numba")
    assert s_k.all() and torch.equal(s_k, reference(x, v_th, v_init=v0, decay=0.3)[0])


def test_buffer_pool_reuses_only_dead_buffers():
    from ltsnn.kernels.buffers import BufferPool

    pool = BufferPool(limit_bytes=3 * 4096, min_bytes=0)
    a = pool.empty((4, 256), torch.float32)
    address, view = a.data_ptr(), a[1:]
    del a
    b = pool.empty((4, 256), torch.float32)
    assert b.data_ptr() != address                       # a view of the first buffer is still alive
    del view
    c = pool.empty((4, 256), torch.float32)
    assert c.data_ptr() == address                       # now it is free, and reused
    d = pool.empty((4, 128), torch.float64)              # same bytes, other dtype: a third buffer
    assert d.dtype == torch.float64 and d.shape == (4, 128)
    del b, c, d
    assert pool._free_bytes == 3 * 4096
    big = [pool.empty((1024,), torch.float32) for _ in range(4)]
    del big                                              # four come back: only the limit's three are kept
    assert pool._free_bytes == 3 * 4096
    pool.clear()
    assert pool._free_bytes == 0

@needs_numba
def test_pooled_outputs_stay_correct_across_layers_and_steps(monkeypatch):
    from ltsnn.kernels import lif_numba
    from ltsnn.kernels.buffers import BufferPool

    monkeypatch.setattr(lif_numba, "POOL", BufferPool(limit_bytes=1 << 24, min_bytes=0))
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(4, 3, 16, generator=gen) + 0.6
    w = torch.randn(16, 16, generator=gen) * 0.5
    results = {}
    for backend in ("torch", "numba"):
        first, second = LIFNeuron(backend=backend), LIFNeuron(backend=backend, threshold_grad="stsg")
        for step in range(3):                            # later steps reuse the earlier steps' buffers
            xb = (x * (1 + step)).requires_grad_()
            out = second(first(xb) @ w + 0.3)
            (out * torch.arange(16.0)).sum().backward()
            results[backend, step] = (out.detach(), xb.grad, first.v_th.grad.clone(), second.v_th.grad.clone())
    for step in range(3):
        assert torch.equal(results["numba", step][0], results["torch", step][0])
        for a, b in zip(results["numba", step][1:], results["torch", step][1:]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


TRITON_SCRIPT = """
import torch
from ltsnn.kernels import lif_multistep
gen = torch.Generator().manual_seed(2)
x = torch.randn(3, 2, 4, 3, 3, generator=gen, dtype=torch.float64) + 0.6
v_th = torch.rand(4, 1, 1, generator=gen, dtype=torch.float64) + 0.5
out = {}
for backend in ("torch", "triton"):
    xb, vb = x.clone().requires_grad_(), v_th.clone().requires_grad_()
    s, v = lif_multistep(xb, vb, reset="soft", threshold_grad="sgp", backend=backend)
    (s * x).sum().backward()
    out[backend] = (s, v, xb.grad, vb.grad)
assert torch.equal(out["torch"][0], out["triton"][0]) and torch.equal(out["torch"][1], out["triton"][1])
for a, b in zip(out["torch"][2:], out["triton"][2:]):
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
def test_triton_backend_through_the_custom_op_under_the_interpreter():
    import os
    import subprocess
    import sys

    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", TRITON_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


@needs_numba
def test_channels_last_maps_run_as_they_lie():
    # A [T, B, C, H, W] unflattened from a channels-last batch: the kernels run on its memory as it lies
    # (no copy), the spikes and v_last come back in the same layout, and every value and gradient equals the
    # reference on the contiguous copy; per-channel thresholds and a per-neuron start follow the permutation.
    from ltsnn.kernels.lif import memory_order

    gen = torch.Generator().manual_seed(5)
    T, B, C, H, W = 3, 2, 4, 5, 6
    x = (torch.randn(T * B, C, H, W, generator=gen) * 0.8 + 0.6).to(memory_format=torch.channels_last)
    x = x.unflatten(0, (T, B)).requires_grad_()
    assert memory_order(x) == [0, 1, 3, 4, 2] and memory_order(x.contiguous()) == [0, 1, 2, 3, 4]
    v_th = (torch.rand(C, 1, 1, generator=gen) + 0.5).requires_grad_()
    v_init = torch.rand(B, C, H, W, generator=gen) * 0.5
    g_s, g_v = torch.randn(T, B, C, H, W, generator=gen), torch.randn(B, C, H, W, generator=gen)
    s, v_last = lif_multistep(x, v_th, v_init=v_init, backend="numba")
    assert s.stride() == x.stride() and v_last.stride() == x.stride()[1:]
    ((s * g_s).sum() + (v_last * g_v).sum()).backward()
    x_ref = x.detach().contiguous().requires_grad_()
    v_th_ref = v_th.detach().clone().requires_grad_()
    s_ref, v_ref = reference(x_ref, v_th_ref, v_init=v_init)
    ((s_ref * g_s).sum() + (v_ref * g_v).sum()).backward()
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(v_last, v_ref)
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(v_th.grad, v_th_ref.grad)
