"""The fused M-HT and LM-HT (``ltsnn.kernels.mht``): numba kernels against the functional reference, dispatch,
custom ops.

The references are :func:`ltsnn.functional.lmht.mht_multistep` (full BPTT) and
:func:`ltsnn.functional.lmht.lmht_multistep` (the ``"torch"`` backends) in the same dtype: the kernels must
give the same outputs s·θ and final membrane bit for bit and the same gradients (x and v_init for M-HT; x, the
T-GIM logits M and the leak logit a for LM-HT) to float tolerance; θ gets none. Also through MHTNeuron, the
conversion IF neuron and LMHTNeuron.
"""

from __future__ import annotations

import importlib.util
from functools import partial

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ltsnn.functional.lmht import lmht_multistep as lmht_reference
from ltsnn.functional.lmht import mht_multistep as reference
from ltsnn.kernels import mht as dispatch
from ltsnn.kernels import mht_multistep
from ltsnn.neurons.lmht import IFConvertNeuron, LMHTNeuron, MHTNeuron

needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")
TOL = {torch.float64: dict(rtol=1e-9, atol=1e-11), torch.float32: dict(rtol=2e-5, atol=2e-5)}


def run(backend, x, theta, v_init, g_y, g_v, **opts):
    """Outputs, v_last and the gradients of (y·g_y).sum() + (v_last·g_v).sum() w.r.t. x, θ and v_init."""
    leaves = [t.detach().clone().requires_grad_() for t in (x, theta, v_init)]
    if backend == "torch":                              # the definition itself
        y, v_last = reference(leaves[0], leaves[1], v_init=leaves[2], **opts)
    else:
        y, v_last = mht_multistep(leaves[0], leaves[1], v_init=leaves[2], backend=backend, **opts)
    loss = (y * g_y).sum() + ((v_last * g_v).sum() if g_v is not None else 0.0)
    return y.detach(), v_last.detach(), torch.autograd.grad(loss, leaves, allow_unused=True)


def assert_same(x, theta, v_init, g_y, g_v, **opts):
    y_k, v_k, (gx_k, gth_k, gv0_k) = run("numba", x, theta, v_init, g_y, g_v, **opts)
    y_r, v_r, (gx_r, gth_r, gv0_r) = run("torch", x, theta, v_init, g_y, g_v, **opts)
    assert y_k.dtype == x.dtype and torch.equal(y_k, y_r), "outputs differ"
    assert torch.equal(v_k, v_r), "v_last differs"
    assert gth_k is None and gth_r is None, "θ is not trained"
    torch.testing.assert_close(gx_k, gx_r, **TOL[x.dtype], msg=lambda m: f"grad of x: {m}")
    torch.testing.assert_close(gv0_k, gv0_r, **TOL[x.dtype], msg=lambda m: f"grad of v_init: {m}")
    return y_r


@st.composite
def cases(draw):
    """A random problem: shape, dtype, θ and v_init shapes, upstream gradients, L and λ; inputs on a θ/4
    grid half of the time (θ a power of 2), so that m lands exactly on level edges and the window's ends."""
    T, C = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    step = (draw(st.integers(1, 3)), C, draw(st.integers(1, 7)), draw(st.integers(1, 7)))     # [B, C, H, W]
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    levels = draw(st.sampled_from([1, 2, 4]))
    grid = draw(st.booleans())
    if grid:
        theta = torch.tensor(draw(st.sampled_from([0.5, 1.0, 2.0])))
        x = torch.randint(-4, 4 * levels + 8, (T, *step), generator=gen) * theta / 4
    else:
        theta = draw(st.sampled_from([torch.tensor(0.7), torch.rand(C, 1, 1, generator=gen) + 0.3,
                                      torch.rand(step, generator=gen) + 0.3]))
        x = torch.randn(T, *step, generator=gen) * levels + 0.5
    if draw(st.booleans()):                             # non-contiguous: a transposed view of the same values
        x = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    v_init = draw(st.sampled_from(["zero", "half", "full"]))
    v_init = {"zero": torch.tensor(0.0), "half": 0.5 * theta, "full": torch.rand(step, generator=gen)}[v_init]
    g_y = torch.randn(T, *step, generator=gen)
    g_v = torch.randn(step, generator=gen) if draw(st.booleans()) else None
    opts = dict(levels=levels, leak=draw(st.sampled_from([1.0, 0.75, 0.9])))
    cast = (lambda t: None if t is None else t.to(dtype))
    return tuple(map(cast, (x, theta, v_init, g_y, g_v))), opts


@needs_numba
@settings(max_examples=40, deadline=None, derandomize=True)
@given(cases())
def test_numba_matches_reference_on_random_problems(case):
    (x, theta, v_init, g_y, g_v), opts = case
    assert_same(x, theta, v_init, g_y, g_v, **opts)


@needs_numba
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_level_edges_and_the_inclusive_window(dtype):
    # One step from rest, θ = 1, L = 2: m = x. floor gives 0, 0, 1, 1, 2, 2, 2; the window [½, 5/2] is closed.
    x = torch.tensor([[0.25, 0.5, 1.0, 1.75, 2.0, 2.5, 2.75]], dtype=dtype).requires_grad_()
    y, _ = mht_multistep(x, 1.0, levels=2, backend="numba")
    assert y.flatten().tolist() == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    y.sum().backward()
    assert x.grad.flatten().tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    assert_same(x.detach(), torch.tensor(1.0, dtype=dtype), torch.tensor(0.0, dtype=dtype), torch.ones_like(x), None,
                levels=2)


@needs_numba
def test_raw_interface_shapes_and_errors():
    from ltsnn.kernels.mht_numba import mht_backward, mht_forward

    x = torch.randn(4, 9)
    y, window, v = mht_forward(x, torch.ones(9), torch.zeros(9), 2, 1.0)
    assert y.shape == window.shape == (4, 9) and window.dtype == torch.uint8 and v.shape == (9,)
    g_x, g_v0 = mht_backward(torch.ones(4, 9), torch.zeros(9), window, 1.0)
    assert g_x.shape == (4, 9) and g_v0.shape == (9,)
    with pytest.raises(ValueError, match="theta must be a contiguous CPU torch.float32 tensor of shape \\[9\\]"):
        mht_forward(x, torch.ones(3), torch.zeros(9), 2, 1.0)
    with pytest.raises(ValueError, match="window must be a contiguous CPU uint8 tensor"):
        mht_backward(torch.ones(4, 9), torch.zeros(9), window[:2], 1.0)
    with pytest.raises(ValueError, match="theta of shape \\(3,\\) must broadcast"):
        mht_multistep(torch.zeros(2, 1, 4), torch.ones(3), levels=1, backend="numba")


@st.composite
def lmht_cases(draw):
    """A random LM-HT problem: T_in (1 is the DVS path, one step spread over T), T, L, θ and v_init shapes,
    M, a, dtype and upstream gradients; inputs on a θ/4 grid half of the time."""
    (x, theta, v_init, g_y, g_v), opts = draw(cases())
    steps_in, dtype = x.shape[0], x.dtype
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    steps = draw(st.sampled_from([steps_in, steps_in + 2]))
    M = torch.randn(steps, draw(st.sampled_from([steps_in, 3])) if steps_in == 1 else steps_in, generator=gen)
    a = torch.randn((), generator=gen)
    g_y = torch.randn(steps, *x.shape[1:], generator=gen).to(dtype)
    return (x, theta, v_init, M.to(dtype), a.to(dtype), g_y, g_v), opts["levels"]


def run_lmht(backend, x, theta, v_init, M, a, g_y, g_v, levels):
    leaves = [t.detach().clone().requires_grad_() for t in (x, M, a, theta, v_init)]
    fn = lmht_reference if backend == "torch" else partial(dispatch.lmht_multistep, backend=backend)
    y, v_last = fn(leaves[0], leaves[3], leaves[1], leaves[2], levels=levels, v_init=leaves[4])
    loss = (y * g_y).sum() + ((v_last * g_v).sum() if g_v is not None else 0.0)
    return y.detach(), v_last.detach(), torch.autograd.grad(loss, leaves, allow_unused=True)


@needs_numba
@settings(max_examples=30, deadline=None, derandomize=True)
@given(lmht_cases())
def test_lmht_numba_matches_reference_on_random_problems(case):
    (x, theta, v_init, M, a, g_y, g_v), levels = case
    y_k, v_k, grads_k = run_lmht("numba", x, theta, v_init, M, a, g_y, g_v, levels)
    y_r, v_r, grads_r = run_lmht("torch", x, theta, v_init, M, a, g_y, g_v, levels)
    assert torch.equal(y_k, y_r), "outputs differ"
    assert torch.equal(v_k, v_r), "v_last differs"
    for name, g_k, g_r in zip(("x", "M", "a", "theta", "v_init"), grads_k, grads_r):
        if g_r is None or name in ("theta", "v_init"):          # detached in the definition
            assert g_k is None and g_r is None, f"{name} gets no gradient"
            continue
        tol = dict(TOL[x.dtype])                            # M and a sum over B·N·T terms: scale atol
        tol["atol"] *= max(1.0, float(g_r.abs().max())) * (x.numel() ** 0.5 if name != "x" else 1.0)
        torch.testing.assert_close(g_k, g_r, **tol, msg=lambda m, name=name: f"grad of {name}: {m}")


@pytest.mark.parametrize("cls", [MHTNeuron, IFConvertNeuron])
@needs_numba
def test_neuron_modules_same_on_every_cpu_backend_and_stream(cls):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 2, 4, 6, 6, generator=gen) * 4 + 1
    g = torch.randn(5, 2, 4, 6, 6, generator=gen)
    results = {}
    for backend in ("torch", "numba", "auto"):
        neuron = cls(v_th=1.5, backend=backend)
        xb = x.clone().requires_grad_()
        y = neuron(xb)
        (y * g).sum().backward()
        results[backend] = (y.detach(), neuron.v, xb.grad)
        assert set(neuron.state_dict()) == {"v_th", "v_init"}  # the backend is not part of the checkpoint
    for backend in ("numba", "auto"):
        assert torch.equal(results[backend][0], results["torch"][0])
        assert torch.equal(results[backend][1], results["torch"][1])
        torch.testing.assert_close(results[backend][2], results["torch"][2], **TOL[torch.float32])
    neuron = cls(v_th=1.5, backend="numba")
    neuron.stream = True
    assert torch.equal(torch.cat([neuron(x[:2]), neuron(x[2:])]), results["torch"][0])
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        cls(backend="gpu")


@needs_numba
def test_lmht_neuron_same_on_every_cpu_backend():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(4, 2, 3, 5, 5, generator=gen) + 0.8
    g = torch.randn(4, 2, 3, 5, 5, generator=gen)
    results = {}
    for backend in ("torch", "numba"):
        neuron = LMHTNeuron(levels=2, steps=4, backend=backend)
        with torch.no_grad():
            neuron.M.copy_(torch.randn(4, 4, generator=torch.Generator().manual_seed(1)))
            neuron.a.fill_(0.4)
        xb = x.clone().requires_grad_()
        (neuron(xb) * g).sum().backward()
        results[backend] = (neuron(x).detach(), xb.grad, neuron.M.grad, neuron.a.grad)
        assert set(neuron.state_dict()) == {"v_th", "M", "a", "v_init", "input_scale"}
    assert torch.equal(results["numba"][0], results["torch"][0])
    for a, b in zip(results["numba"][1:], results["torch"][1:]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


@needs_numba
def test_custom_ops_pass_opcheck():
    gen = torch.Generator().manual_seed(0)
    x, theta, v0 = torch.randn(3, 10, generator=gen) * 2, torch.rand(10, generator=gen) + 0.5, torch.rand(10)
    torch.library.opcheck(dispatch.mht_forward_op, (x.requires_grad_(), theta, v0.requires_grad_(), 2, 0.9))
    _, window, _ = dispatch.mht_forward_op(x.detach(), theta, v0.detach(), 2, 0.9)
    torch.library.opcheck(dispatch.mht_backward_op, (torch.randn(3, 10, generator=gen), torch.zeros(10), window, 0.9))
    lam = torch.tensor(0.8, requires_grad=True)
    torch.library.opcheck(dispatch.lmht_forward_op, (x.detach().requires_grad_(), theta, v0.detach(), lam, 2))
    _, window, v_prev, _ = dispatch.lmht_forward_op(x.detach(), theta, v0.detach(), lam.detach(), 2)
    torch.library.opcheck(dispatch.lmht_backward_op, (torch.randn(3, 10, generator=gen), torch.randn(10), window,
                                                       v_prev))


@needs_numba
def test_torch_compile_fullgraph_has_no_break_at_the_neuron():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), MHTNeuron(levels=4, backend="numba"),
                          LMHTNeuron(steps=4, backend="numba"))
    x = torch.randn(4, 2, 6) * 3
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")   # raises on a graph break
    y_c = compiled(x)
    y_c.sum().backward()
    grads_c = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    y_e = model(x)
    y_e.sum().backward()
    assert torch.equal(y_c, y_e)
    for a, b in zip(grads_c, (p.grad for p in model.parameters())):
        torch.testing.assert_close(a, b)
