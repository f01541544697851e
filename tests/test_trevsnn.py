"""T-RevSNN (ltsnn/models/trevsnn.py): the reversible backward gives the gradients of plain autograd (float64),
the coupling and its inverse on the scalar oracle of docs/methods/asa_trevsnn.md §B.11, and the memory it keeps."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ltsnn.engine.energy import saved_tensor_bytes
from ltsnn.models import create_model
from ltsnn.models.trevsnn import Column, ReversibleColumn, ScaledStdConv2d
from ltsnn.neurons import NeuronSpec

D = torch.float64


def _model(**kw):
    torch.manual_seed(0)
    kw = {"num_classes": 3, "input_size": 8, "channels": (4, 6, 8, 8), **kw}
    return create_model("trevsnn_tiny", **kw).double()


def _grads(model, x):
    model.zero_grad(set_to_none=True)
    out = model(x)
    weights = torch.linspace(-1, 1, out.numel(), dtype=D).reshape(out.shape)
    (out * weights).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("rev_store", ["per_column", "last_only"])
@pytest.mark.parametrize("column_weights", ["shared", "per_column"])
def test_reversible_gradients_equal_stored_activation_gradients(rev_store, column_weights):
    model = _model(rev_store=rev_store, column_weights=column_weights, time_steps=4)
    x = torch.rand(4, 3, 2, 8, 8, generator=torch.Generator().manual_seed(1), dtype=D) * 2
    out_rev, g_rev = _grads(model, x)
    model.reversible = False
    out_plain, g_plain = _grads(model, x)
    torch.testing.assert_close(out_rev, out_plain, rtol=0, atol=0)
    assert set(g_rev) == set(g_plain) and any("v_th" in n for n in g_rev)       # thresholds learn too
    assert sum(g.abs().sum() for n, g in g_plain.items() if "alphas" in n) > 0
    for n in g_plain:
        torch.testing.assert_close(g_rev[n], g_plain[n], rtol=1e-9, atol=1e-12, msg=n)


class Affine(nn.Module):
    def __init__(self, scale: float = 1.0, shift: float = 0.0):
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x):
        return self.scale * x + self.shift


def _toy_column() -> Column:
    """§B.11 oracle 1: G_0 = d + u, G_1 = 2d − u, G_2 = d + ½u, G_3 = d − 1 (scalar levels), e = the frame."""
    column = Column(1, (1, 1, 1, 1), input_size=(1, 1), neuron=NeuronSpec(), kernel_size=1, scale_init=1.0).double()
    column.stem = nn.Identity()
    column.levels = nn.ModuleList([Affine(), Affine(), Affine(), Affine(shift=-1.0)])
    column.downs = nn.ModuleList([Affine(2.0), Affine(), Affine()])
    column.ups = nn.ModuleList([Affine(), Affine(-1.0), Affine(0.5)])
    return column


def test_scalar_oracle_coupling_inverse_and_alpha_gradients():
    first, second = _toy_column(), _toy_column()
    x = torch.ones(1, 1, 1, 1, dtype=D)
    params = [list(col.parameters()) for col in (first, second)]
    c1 = ReversibleColumn.apply(first, x, 0, *params[0])
    assert [c.item() for c in c1] == [1.0, 2.0, 2.0, 1.0]
    c2 = ReversibleColumn.apply(second, x, 4, *c1, *params[1])
    assert [c.item() for c in c2] == [3.5, 6.0, 7.5, 7.0]
    c_prev, _, _ = second.backward_step(x, [c.detach() for c in c2], [torch.zeros_like(c) for c in c2], first=False,
                                        params=params[1])
    assert [float(c) for c in c_prev] == [1.0, 2.0, 2.0, 1.0]                       # the inverse recovers c^1
    c2[3].sum().backward()
    assert [float(a.grad) for a in second.alphas] == [2.0, 2.0, 2.0, 1.0]
    assert all(a.grad is None or float(a.grad) == 0.0 for a in first.alphas)        # c^0 = 0


def test_scaled_std_conv_standardises_each_output_channel():
    conv = ScaledStdConv2d(2, 3, 1, bias=False).double()
    w = conv.weight.detach()
    x = torch.randn(1, 2, 2, 2, dtype=D)
    ref = torch.empty(1, 3, 2, 2, dtype=D)
    for o in range(3):
        m, v = w[o].mean(), w[o].var(unbiased=False)
        w_hat = (w[o] - m) / torch.sqrt(v + 1e-6) * 2 ** -0.5
        ref[0, o] = (w_hat[:, 0, 0, None, None] * x[0]).sum(0)
    torch.testing.assert_close(conv(x), ref)


def _saved(model, T):
    x = torch.rand(T, 2, 2, 8, 8, generator=torch.Generator().manual_seed(0), dtype=D)
    return saved_tensor_bytes(lambda: model(x).sum())


def _head_saved(model, T):
    f_seq = torch.zeros(T, 2, 8, 2, 2, dtype=D, requires_grad=True)        # the top level's states
    return saved_tensor_bytes(lambda: model.forward_head(f_seq).sum())


def test_memory_per_column_grows_by_the_states_and_last_only_by_the_frames():
    states = 2 * 8 * (4 * 8 * 8 + 6 * 4 * 4 + 8 * 2 * 2 + 8 * 2 * 2)               # Σ_l |c_l| in bytes, B = 2
    frame = 2 * 8 * 2 * 8 * 8                                                      # one step's input frames
    per_column, last_only, plain = _model(), _model(rev_store="last_only"), _model(reversible=False)
    head = _head_saved(per_column, 4) - _head_saved(per_column, 2)                # the per-step readout
    # Two more steps keep two more columns' states and frames (per_column), or only the frames (last_only).
    assert _saved(per_column, 4) - _saved(per_column, 2) == 2 * (states + frame) + head
    assert _saved(last_only, 4) - _saved(last_only, 2) == 2 * frame + head
    assert _saved(plain, 4) - _saved(plain, 2) > 10 * (_saved(per_column, 4) - _saved(per_column, 2))


def test_odd_input_sizes_work():
    out = _model(input_size=(9, 7))(torch.rand(2, 1, 2, 9, 7, dtype=D))
    assert out.shape == (2, 1, 3)


def test_options_are_checked():
    for kw in ({"rev_store": "none"}, {"column_weights": "mixed"}, {"channels": (4,)}, {"kernel_size": 2}):
        with pytest.raises(ValueError):
            _model(**kw)
    with pytest.raises(ValueError, match="time_steps=4"):
        _model(column_weights="per_column", time_steps=4)(torch.zeros(2, 1, 2, 8, 8, dtype=D))
