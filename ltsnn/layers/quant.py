"""SAWB weight quantisation of a built model, without changing its classes.

``quantize_weights(model, bits=4)`` registers a :class:`SAWBWeight` parametrization
(``torch.nn.utils.parametrize``) on the weight of every Conv2d (and, if asked, every Linear): the
float weight is kept as the trained parameter (``<layer>.parametrizations.weight.original`` in the
state dict) and every forward uses its quantised value. A checkpoint of a quantised model therefore
loads into a model built the same way: build, quantise, then ``load_state_dict``.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn
from torch.nn.utils import parametrize

from ltsnn.functional.quant import check_sawb_options, sawb_clip, sawb_codes, sawb_quantize

P = TypeVar("P", bound=nn.Module)


class SAWBWeight(nn.Module):
    """Parametrization ``w -> sawb_quantize(w)`` (methods §1.6); it holds no state, only its options."""

    def __init__(self, *, bits: int, coeff: str = "ibm"):
        super().__init__()
        check_sawb_options(bits=bits, coeff=coeff)
        self.bits, self.coeff = bits, coeff

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return sawb_quantize(w, bits=self.bits, coeff=self.coeff)

    def codes(self, w: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Integer codes of the float weight ``w`` (the smallest signed dtype that holds them) and the
        step in weight units: ``w_q = q · step``."""
        q, step = sawb_codes(w, sawb_clip(w, bits=self.bits, coeff=self.coeff), bits=self.bits, coeff=self.coeff)
        dtype = torch.int8 if q.abs().max() <= 127 else torch.int16     # mid-rise 8-bit codes reach ±255
        return q.to(dtype), float(step)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, coeff={self.coeff!r}"


def quantize_weights(model: nn.Module, *, bits: int, coeff: str = "ibm", include_linear: bool = False) -> list[str]:
    """Quantise the weights of ``model``'s Conv2d layers (and Linear ones if ``include_linear``) in place.

    Biases, BatchNorm and thresholds stay float, as in LT-SNN's 4-bit VGG-9 (whose FC layers are float
    too: ``include_linear=False``).

    Returns:
        The qualified names of the quantised layers, in module order.
    Raises:
        ValueError: unknown ``coeff`` or a bit width it has no coefficients for; a layer already quantised.
    """
    check_sawb_options(bits=bits, coeff=coeff)
    kinds = (nn.Conv2d, nn.Linear) if include_linear else (nn.Conv2d,)
    names = []
    for name, m in model.named_modules():
        if isinstance(m, kinds):
            if parametrize.is_parametrized(m, "weight"):
                raise ValueError(f"layer {name!r} is already quantised; quantize_weights runs once per model")
            parametrize.register_parametrization(m, "weight", SAWBWeight(bits=bits, coeff=coeff))
            names.append(name)
    return names


def quantized_layers(model: nn.Module) -> dict[str, SAWBWeight]:
    """Qualified layer name -> the :class:`SAWBWeight` on its weight, for every quantised layer."""
    return weight_parametrizations(model, SAWBWeight)


def weight_parametrizations(model: nn.Module, kind: type[P]) -> dict[str, P]:
    """Qualified layer name -> the first parametrization of type ``kind`` on its weight, in module order."""
    found = {}
    for name, m in model.named_modules():
        if parametrize.is_parametrized(m, "weight"):
            mine = [p for p in m.parametrizations.weight if isinstance(p, kind)]
            if mine:
                found[name] = mine[0]
    return found
