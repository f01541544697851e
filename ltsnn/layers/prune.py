"""Pruning masks on the weights of a built model, without changing its classes.

``add_masks(model, names)`` registers a :class:`WeightMask` parametrization (``torch.nn.utils.parametrize``,
as :mod:`ltsnn.layers.quant` does for SAWB) on the weight of each named Conv2d / Linear layer: the dense
weight stays the trained parameter (``<layer>.parametrizations.weight.original``), the mask is a buffer
(``<layer>.parametrizations.weight.<i>.mask``, so it is in the state dict and every checkpoint), and every
forward computes with ``w ⊙ mask``. Because the mask multiplies the weight in the forward, the gradient of a
pruned entry is exactly 0: no optimizer (momentum, weight decay, Adam) moves a pruned weight that was 0.

Order with SAWB quantisation: quantise first, mask last (``w -> sawb(w) -> sawb(w) ⊙ mask``). SAWB's
mid-rise grids (``ibm``, ``ibm_new``) have no zero level, so a weight masked *before* quantisation would come
out as ±step/2; masked last, a pruned weight is exactly 0 whatever the grid. A model is therefore rebuilt
as: build, quantise, add masks, ``load_state_dict`` (:func:`ltsnn.build.model_from_args`).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from ltsnn.layers.quant import weight_parametrizations

PRUNABLE = (nn.Conv2d, nn.Linear)


class WeightMask(nn.Module):
    """Parametrization ``w -> w ⊙ mask``; ``mask`` is a bool buffer of the weight's shape (True = alive).

    Example:
        >>> layer = nn.Linear(2, 2, bias=False)
        >>> _ = nn.init.ones_(layer.weight)
        >>> _ = parametrize.register_parametrization(layer, "weight", WeightMask(layer.weight.shape))
        >>> masked_layers(layer)[""].mask[0, 1] = False
        >>> layer.weight.tolist()
        [[1.0, 0.0], [1.0, 1.0]]
    """

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.register_buffer("mask", torch.ones(tuple(shape), dtype=torch.bool))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.mask

    def extra_repr(self) -> str:
        return f"alive={int(self.mask.sum())}/{self.mask.numel()}"


def add_masks(model: nn.Module, names: Sequence[str]) -> None:
    """Register an all-ones :class:`WeightMask` on the weight of each layer of ``model`` named in ``names``
    (after any SAWB parametrization already there, see the module docstring).

    Raises:
        ValueError: a name that is not a Conv2d / Linear layer of ``model``, or a layer already masked.
    """
    for name in names:
        try:
            layer = model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"prune layer {name!r}: no such layer in the model; expected a Conv2d or Linear "
                             f"layer name") from None
        if not isinstance(layer, PRUNABLE):
            raise ValueError(f"prune layer {name!r}: a {type(layer).__name__}; expected a Conv2d or Linear layer")
        if name in masked_layers(model):
            raise ValueError(f"prune layer {name!r} already has a mask; masks are added once per model")
        parametrize.register_parametrization(layer, "weight", WeightMask(layer.weight.shape))


def masked_layers(model: nn.Module) -> dict[str, WeightMask]:
    """Qualified layer name -> the :class:`WeightMask` on its weight, for every masked layer, in module order."""
    return weight_parametrizations(model, WeightMask)


def dense_weight(layer: nn.Module) -> torch.Tensor:
    """The trained parameter behind ``layer.weight``: the dense original of a parametrized weight (masked or
    quantised), else the weight itself."""
    if parametrize.is_parametrized(layer, "weight"):
        return layer.parametrizations.weight.original
    return layer.weight
