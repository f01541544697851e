"""The fused I-LIF (``ltsnn.kernels.ilif``): numba kernels against the functional reference, dispatch, custom ops.

The reference is :func:`ltsnn.functional.ilif.ilif_multistep` (the ``"torch"`` backend) in the same dtype: the
kernel must give the same integer spikes and final membrane bit for bit (round half to even, an inclusive
straight-through window) and the same gradients of x and v_init to float tolerance.
"""

from __future__ import annotations

import importlib.util
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ltsnn.functional.ilif import ilif_multistep as reference
from ltsnn.kernels import ilif as dispatch
from ltsnn.kernels import ilif_multistep
from ltsnn.neurons.ilif import ILIFNeuron

needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")
TOL = {torch.float64: dict(rtol=1e-9, atol=1e-11), torch.float32: dict(rtol=2e-5, atol=2e-5)}


def run(backend, x, v_init, g_s, g_h, **opts):
    """Spikes, h_last and the gradients of (s·g_s).sum() + (h_last·g_h).sum() w.r.t. x and v_init."""
    leaves = [t.detach().clone().requires_grad_() for t in (x, v_init)]
    if backend == "torch":                              # the definition itself
        s, h_last = reference(leaves[0], v_init=leaves[1], **opts)
    else:
        s, h_last = ilif_multistep(leaves[0], v_init=leaves[1], backend=backend, **opts)
    loss = (s * g_s).sum() + ((h_last * g_h).sum() if g_h is not None else 0.0)
    return s.detach(), h_last.detach(), torch.autograd.grad(loss, leaves)


def assert_same(x, v_init, g_s, g_h, **opts):
    s_k, h_k, grads_k = run("numba", x, v_init, g_s, g_h, **opts)
    s_r, h_r, grads_r = run("torch", x, v_init, g_s, g_h, **opts)
    assert s_k.dtype == x.dtype and torch.equal(s_k, s_r), "spikes differ"
    assert torch.equal(h_k, h_r), "h_last differs"
    for name, a, b in zip(("x", "v_init"), grads_k, grads_r):
        torch.testing.assert_close(a, b, **TOL[x.dtype], msg=lambda m, name=name: f"grad of {name}: {m}")
    return s_r


@st.composite
def cases(draw):
    """A random problem: shape, dtype, v_init shape, upstream gradients, D and β; inputs on a 1/4 grid
    half of the time, so that U lands exactly on ties (k + ½) and on the window's ends 0 and D."""
    T, C = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    step = (draw(st.integers(1, 3)), C, draw(st.integers(1, 7)), draw(st.integers(1, 7)))     # [B, C, H, W]
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    if draw(st.booleans()):
        x = torch.randint(-8, 24, (T, *step), generator=gen) / 4.0
    else:
        x = torch.randn(T, *step, generator=gen) * 2 + 1
    if draw(st.booleans()):                             # non-contiguous: a transposed view of the same values
        x = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    v_init = draw(st.sampled_from(["zero", "channel", "full"]))
    v_init = {"zero": torch.tensor(0.0), "channel": torch.rand(C, 1, 1, generator=gen),
              "full": torch.rand(step, generator=gen) - 0.5}[v_init]
    g_s = torch.randn(T, *step, generator=gen)
    g_h = torch.randn(step, generator=gen) if draw(st.booleans()) else None
    opts = dict(levels=draw(st.sampled_from([1, 2, 4])), decay=draw(st.sampled_from([0.25, 0.5, 0.9])))
    cast = (lambda t: None if t is None else t.to(dtype))
    return tuple(map(cast, (x, v_init, g_s, g_h))), opts


@needs_numba
@settings(max_examples=40, deadline=None, derandomize=True)
@given(cases())
def test_numba_matches_reference_on_random_problems(case):
    (x, v_init, g_s, g_h), opts = case
    assert_same(x, v_init, g_s, g_h, **opts)


@needs_numba
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ties_round_to_even_and_the_window_is_inclusive(dtype):
    # One step from rest: U = X. Ties 0.5, 1.5, 2.5, 3.5 round to 0, 2, 2, 4; U = 0 and U = D = 4 pass gradient.
    x = torch.tensor([[-0.5, 0.0, 0.5, 1.5, 2.5, 3.5, 4.0, 4.5]], dtype=dtype).requires_grad_()
    s, _ = ilif_multistep(x, backend="numba")
    assert s.flatten().tolist() == [0.0, 0.0, 0.0, 2.0, 2.0, 4.0, 4.0, 4.0]
    s.sum().backward()
    assert x.grad.flatten().tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    assert_same(x.detach(), torch.tensor(0.0, dtype=dtype), torch.ones_like(x), None)


@needs_numba
def test_raw_interface_shapes_and_errors():
    from ltsnn.kernels.ilif_numba import ilif_backward, ilif_forward

    x = torch.randn(4, 9)
    s, window, h = ilif_forward(x, torch.zeros(9), 4, 0.25)
    assert s.shape == window.shape == (4, 9) and window.dtype == torch.uint8 and h.shape == (9,)
    g_x, g_v0 = ilif_backward(torch.ones(4, 9), torch.zeros(9), window, 0.25)
    assert g_x.shape == (4, 9) and g_v0.shape == (9,)
    with pytest.raises(ValueError, match="v_init must be a contiguous CPU torch.float32 tensor of shape \\[9\\]"):
        ilif_forward(x, torch.zeros(3), 4, 0.25)
    with pytest.raises(ValueError, match="window must be a contiguous CPU uint8 tensor of shape \\[4, 9\\]"):
        ilif_backward(torch.ones(4, 9), torch.zeros(9), window.float(), 0.25)
    with pytest.raises(ValueError, match="needs levels >= 1"):
        ilif_multistep(torch.zeros(2, 3), levels=0, backend="numba")


def test_resolve_cpu_backend(monkeypatch):
    x = torch.zeros(2, 3)
    assert dispatch.resolve_cpu_backend("torch", x, "I-LIF") == "torch"
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):     # lif.resolve_backend's checks still apply
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
        ilif_multistep(x, backend="triton")
    # Where the LIF dispatch would pick triton (a CUDA tensor), I-LIF runs the reference, said once.
    monkeypatch.setattr(dispatch, "resolve_backend", lambda backend, x: "triton")
    monkeypatch.setattr(dispatch, "_NOTICED", set())
    assert dispatch.resolve_cpu_backend("auto", x, "I-LIF") == "torch"
    with pytest.warns(RuntimeWarning, match="I-LIF neuron has no triton kernel"):
        s, _ = ilif_multistep(torch.full((2, 3), 2.6), backend="triton")
    assert s.flatten().tolist() == [3.0] * 3 + [2.0] * 3            # U2 = −0.1 + 2.6 = 2.5 -> 2 (half to even)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                              # said once: the second call is silent
        ilif_multistep(x, backend="triton")


@needs_numba
def test_neuron_module_same_on_every_cpu_backend_and_streams():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 2, 4, 6, 6, generator=gen) * 2 + 1
    g = torch.randn(5, 2, 4, 6, 6, generator=gen)
    results = {}
    for backend in ("torch", "numba", "auto"):
        neuron = ILIFNeuron(backend=backend)
        xb = x.clone().requires_grad_()
        s = neuron(xb)
        (s * g).sum().backward()
        results[backend] = (s.detach(), neuron.v, xb.grad)
        assert set(neuron.state_dict()) == set()                # the backend is not part of the checkpoint
    for backend in ("numba", "auto"):
        assert torch.equal(results[backend][0], results["torch"][0])
        assert torch.equal(results[backend][1], results["torch"][1])
        torch.testing.assert_close(results[backend][2], results["torch"][2], **TOL[torch.float32])
    neuron = ILIFNeuron(backend="numba")
    neuron.stream = True
    assert torch.equal(torch.cat([neuron(x[:2]), neuron(x[2:])]), results["torch"][0])
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        ILIFNeuron(backend="gpu")


@needs_numba
def test_custom_ops_pass_opcheck():
    gen = torch.Generator().manual_seed(0)
    x, v0 = torch.randn(3, 10, generator=gen) * 2 + 1, torch.rand(10, generator=gen)
    torch.library.opcheck(dispatch.ilif_forward_op, (x.requires_grad_(), v0.requires_grad_(), 4, 0.25))
    _, window, _ = dispatch.ilif_forward_op(x.detach(), v0.detach(), 4, 0.25)
    torch.library.opcheck(dispatch.ilif_backward_op, (torch.randn(3, 10, generator=gen), torch.zeros(10), window,
                                                       0.25))


@needs_numba
def test_torch_compile_fullgraph_has_no_break_at_the_neuron():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), ILIFNeuron(backend="numba"))
    x = torch.randn(4, 2, 6) * 3
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")   # raises on a graph break
    s_c = compiled(x)
    s_c.sum().backward()
    grads_c = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    s_e = model(x)
    s_e.sum().backward()
    assert torch.equal(s_c, s_e)
    for a, b in zip(grads_c, (p.grad for p in model.parameters())):
        torch.testing.assert_close(a, b)
