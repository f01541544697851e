"""QCFS activation: spec §8 values and both orders' gradients (methods §2.7)."""

import pytest
import torch

from ltsnn.functional.quant import qcfs
from ltsnn.neurons.qcfs import QCFS

D = torch.float64


@pytest.mark.parametrize("z,value", [(3.3, 3.0), (3.6, 4.0), (-0.3, 0.0), (9.0, 8.0), (8.2, 8.0)])
@pytest.mark.parametrize("order", ["clip_floor", "floor_clip"])
def test_spec_forward_values(z, value, order):
    assert qcfs(torch.tensor(z, dtype=D), 8.0, levels=8, order=order).item() == value


# (∂ĥ/∂z, ∂ĥ/∂λ) at λ = 8, Q = 8 (methods §8)
GRADS = {
    "clip_floor": {3.3: (1.0, -0.0375), 9.0: (0.0, 1.0), -0.3: (0.0, 0.0), 8.2: (0.0, 1.0)},
    "floor_clip": {3.3: (1.0, -0.0375), 9.0: (0.0, 1.0), -0.3: (1.0, 0.0375), 8.2: (1.0, -0.025)},
}


@pytest.mark.parametrize("order,z", [(o, z) for o, zs in GRADS.items() for z in zs])
def test_spec_gradients(order, z):
    z_t = torch.tensor(z, dtype=D, requires_grad=True)
    lam = torch.tensor(8.0, dtype=D, requires_grad=True)
    qcfs(z_t, lam, levels=8, order=order).backward()
    g_z, g_lam = GRADS[order][z]
    assert z_t.grad.item() == pytest.approx(g_z, abs=1e-12)
    assert lam.grad.item() == pytest.approx(g_lam, abs=1e-12)


@pytest.mark.parametrize("order", ["clip_floor", "floor_clip"])
def test_gradients_match_the_formulas_on_a_grid(order):
    lam_v, q = 2.0, 4
    z = torch.linspace(-1, 3, 4001, dtype=D).requires_grad_()
    lam = torch.tensor(lam_v, dtype=D, requires_grad=True)
    h = qcfs(z, lam, levels=q, order=order)
    g_z, = torch.autograd.grad(h.sum(), z, retain_graph=True)
    g_lam, = torch.autograd.grad(h.sum(), lam)
    zd, qv = z.detach(), (h / lam_v).detach()
    if order == "clip_floor":
        inside = (zd >= 0) & (zd <= lam_v)
    else:
        inside = (zd >= -lam_v / (2 * q)) & (zd < lam_v * (1 + 1 / (2 * q)))
    torch.testing.assert_close(g_z, inside.to(D))
    # per-element λ-gradient: q − z/λ inside, 1 above, 0 below; check it summed, and one element at a time
    per = torch.where(inside, qv - zd / lam_v, (zd > 0).to(D))
    torch.testing.assert_close(g_lam, per.sum())
    for i in (0, 600, 1000, 2500, 3000, 3900):
        lam_i = torch.tensor(lam_v, dtype=D, requires_grad=True)
        qcfs(zd[i], lam_i, levels=q, order=order).backward()
        assert lam_i.grad.item() == pytest.approx(per[i].item(), abs=1e-12)


def test_orders_agree_forward():
    z = torch.linspace(-3, 12, 3001, dtype=D)
    torch.testing.assert_close(qcfs(z, 8.0, order="clip_floor"), qcfs(z, 8.0, order="floor_clip"))


def test_module_learns_lambda_and_rejects_bad_order():
    layer = QCFS()
    assert isinstance(layer.lam, torch.nn.Parameter) and layer.lam.item() == 8.0 and layer.levels == 8
    out = layer(torch.tensor([3.3, 9.0]))
    assert out.tolist() == pytest.approx([3.0, 8.0])
    out.sum().backward()
    assert layer.lam.grad.item() == pytest.approx(-0.0375 + 1.0, abs=1e-6)
    with pytest.raises(ValueError, match="clip_floor"):
        QCFS(order="floor_then_clip")
    with pytest.raises(ValueError, match="clip_floor"):
        qcfs(torch.zeros(1), 8.0, order="nope")
