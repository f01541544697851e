"""Heaviside step with surrogate gradients.

Each surrogate is a pair: a smooth *primitive* ``f(x)`` that approximates the step H(x), and its
derivative ``f'(x)``, which replaces the (zero almost everywhere) derivative of H in the backward
pass. The pair is written once here; the neurons call :func:`surrogate_grad` inside their own
backward, and :func:`heaviside` offers the single-step autograd function.

Surrogates (``width`` is the one shape parameter of each):

- ``triangle``  (γ = width):  f'(x) = max(0, γ − |x|) / γ²  (LT-SNN Eq. 5/8, TET; γ = 1 there)
- ``sigmoid``   (α = width):  f(x) = σ(αx),  f'(x) = α σ(αx)(1 − σ(αx))  (SpikingJelly's default α = 4)
- ``atan``      (α = width):  f(x) = ½ + arctan(π α x / 2)/π,  f'(x) = (α/2) / (1 + (π α x / 2)²)
- ``rectangle`` (a = width):  f'(x) = 1{|x| < a/2} / a  (STBP/tdBN; the primitive is a clipped ramp)
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch

Tensor = torch.Tensor


class Surrogate(NamedTuple):
    """A smooth approximation of the step function and its derivative."""

    primitive: Callable[[Tensor, float], Tensor]
    grad: Callable[[Tensor, float], Tensor]
    default_width: float


def _triangle_primitive(x: Tensor, width: float) -> Tensor:
    # Integral of max(0, γ − |x|)/γ²: a piecewise quadratic from 0 (x ≤ −γ) to 1 (x ≥ γ).
    z = (x / width).clamp(-1.0, 1.0)
    return torch.where(z < 0, 0.5 * (1 + z) ** 2, 1 - 0.5 * (1 - z) ** 2)


def _triangle_grad(x: Tensor, width: float) -> Tensor:
    g = x.abs().neg_().add_(width).clamp_min_(0.0)              # one allocation: this runs every step
    return g if width == 1.0 else g.div_(width * width)


def _sigmoid_primitive(x: Tensor, width: float) -> Tensor:
    return torch.sigmoid(width * x)


def _sigmoid_grad(x: Tensor, width: float) -> Tensor:
    s = torch.sigmoid(width * x)
    return width * s * (1 - s)


def _atan_primitive(x: Tensor, width: float) -> Tensor:
    return 0.5 + torch.atan(0.5 * math.pi * width * x) / math.pi


def _atan_grad(x: Tensor, width: float) -> Tensor:
    return (0.5 * width) / (1 + (0.5 * math.pi * width * x) ** 2)


def _rectangle_primitive(x: Tensor, width: float) -> Tensor:
    return (x / width + 0.5).clamp(0.0, 1.0)


def _rectangle_grad(x: Tensor, width: float) -> Tensor:
    return (x.abs() < 0.5 * width).to(x.dtype) / width


SURROGATES: dict[str, Surrogate] = {
    "triangle": Surrogate(_triangle_primitive, _triangle_grad, 1.0),
    "sigmoid": Surrogate(_sigmoid_primitive, _sigmoid_grad, 4.0),
    "atan": Surrogate(_atan_primitive, _atan_grad, 2.0),
    "rectangle": Surrogate(_rectangle_primitive, _rectangle_grad, 1.0),
}


def get_surrogate(name: str) -> Surrogate:
    """Look a surrogate up by name; the error lists the known ones."""
    try:
        return SURROGATES[name]
    except KeyError:
        raise ValueError(f"unknown surrogate {name!r}; expected one of {sorted(SURROGATES)}") from None


def surrogate_grad(x: Tensor, name: str = "triangle", width: float | None = None) -> Tensor:
    """f'(x) of the named surrogate (``width`` defaults to the surrogate's usual value)."""
    s = get_surrogate(name)
    return s.grad(x, s.default_width if width is None else width)


class _Heaviside(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, name: str, width: float, fire_on_equal: bool) -> Tensor:
        ctx.save_for_backward(x)
        ctx.name, ctx.width = name, width
        return (x >= 0).to(x.dtype) if fire_on_equal else (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (x,) = ctx.saved_tensors
        return grad_out * surrogate_grad(x, ctx.name, ctx.width), None, None, None


def heaviside(x: Tensor, surrogate: str = "triangle", *, width: float | None = None,
              fire_on_equal: bool = True) -> Tensor:
    """H(x) in the forward pass (1 where x >= 0, or x > 0 with ``fire_on_equal=False``), the named
    surrogate's derivative in the backward pass."""
    s = get_surrogate(surrogate)
    return _Heaviside.apply(x, surrogate, s.default_width if width is None else width, fire_on_equal)
