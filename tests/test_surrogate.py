import math

import pytest
import torch

from ltsnn.functional.surrogate import SURROGATES, get_surrogate, heaviside, surrogate_grad



@pytest.fixture(autouse=True)
def float64_default():
    """These checks compare against finite differences: float64, restored afterwards."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize("name", sorted(SURROGATES))
@pytest.mark.parametrize("width", [0.5, 1.0, 3.0])
def test_grad_is_derivative_of_primitive(name, width):
    s = get_surrogate(name)
    x = torch.linspace(-2.5, 2.5, 2001, dtype=torch.float64)
    # Stay away from the kinks of triangle / rectangle, where the derivative is not defined.
    kinks = torch.tensor([0.0, width, -width, width / 2, -width / 2])
    x = x[(x[:, None] - kinks).abs().min(1).values > 1e-3]
    h = 1e-6
    fd = (s.primitive(x + h, width) - s.primitive(x - h, width)) / (2 * h)
    torch.testing.assert_close(s.grad(x, width), fd, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_primitive_is_a_smooth_step(name):
    s = get_surrogate(name)
    w = s.default_width
    assert float(s.primitive(torch.tensor(0.0), w)) == pytest.approx(0.5)
    assert float(s.primitive(torch.tensor(-50.0), w)) == pytest.approx(0.0, abs=0.02)
    assert float(s.primitive(torch.tensor(50.0), w)) == pytest.approx(1.0, abs=0.02)
    # A surrogate of dH/dx integrates to one over the real line.
    x = torch.linspace(-200, 200, 400001)
    assert float(torch.trapezoid(s.grad(x, w), x)) == pytest.approx(1.0, abs=5e-3)


def test_triangle_values():
    x = torch.tensor([0.3, -0.4, 1.5, 0.0])
    torch.testing.assert_close(surrogate_grad(x, "triangle", 1.0), torch.tensor([0.7, 0.6, 0.0, 1.0]))
    # General width γ: (1/γ²) max(0, γ − |x|)
    torch.testing.assert_close(surrogate_grad(torch.tensor([0.5]), "triangle", 2.0), torch.tensor([1.5 / 4]))


def test_sigmoid_and_atan_peaks():
    assert float(surrogate_grad(torch.tensor(0.0), "sigmoid", 4.0)) == pytest.approx(1.0)   # α/4
    assert float(surrogate_grad(torch.tensor(0.0), "atan", 2.0)) == pytest.approx(1.0)      # α/2
    assert float(surrogate_grad(torch.tensor(1.0), "atan", 2.0)) == pytest.approx(1 / (1 + math.pi ** 2))


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_heaviside_forward_binary_backward_surrogate(name):
    x = torch.tensor([-1.0, -0.2, 0.0, 0.2, 1.0], requires_grad=True)
    y = heaviside(x, name)
    assert y.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert heaviside(x, name, fire_on_equal=False).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    y.backward(torch.ones_like(y))
    torch.testing.assert_close(x.grad, surrogate_grad(x.detach(), name))


def test_unknown_surrogate_lists_known():
    with pytest.raises(ValueError, match="triangle"):
        get_surrogate("gaussian")
