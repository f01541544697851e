"""The QCFS activation as an nn.Module: the ANN side of QCFS conversion and LM-HT hybrid training (§2.7-2.8).

It is registered with the neurons (``neuron="qcfs"``) because it sits where a spiking neuron sits and is
replaced by one in conversion (:mod:`ltsnn.convert.qcfs`); it is stateless and not a :class:`SpikingNeuron`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ltsnn.functional.quant import QCFS_ORDERS, qcfs
from ltsnn.neurons.registry import register_neuron


@register_neuron("qcfs")
class QCFS(nn.Module):
    """Quantisation-clip-floor-shift activation ``λ·clip(floor(z·Q/λ + ½)/Q, 0, 1)`` (methods §2.7).

    Elementwise, any input shape. ``lam`` (λ, one scalar per layer, init 8) is an ``nn.Parameter``: it is
    trained, sits under the optimizer's weight decay as in the official codes, and becomes the threshold
    θ of the SNN neuron that replaces this layer. ``order`` picks the gradient (``"clip_floor"``, the new
    code, or ``"floor_clip"``, the old one).

    Example:
        >>> import torch
        >>> QCFS()(torch.tensor([3.3, 9.0])).tolist()
        [3.0, 8.0]
    """

    threshold_grads: tuple[str, ...] = ()

    def __init__(self, *, levels: int = 8, lam: float = 8.0, order: str = "clip_floor"):
        super().__init__()
        if order not in QCFS_ORDERS:
            raise ValueError(f"unknown QCFS order {order!r}; expected one of {list(QCFS_ORDERS)}")
        if levels < 1 or lam <= 0:
            raise ValueError(f"QCFS needs levels >= 1 and lam > 0, got levels={levels}, lam={lam}")
        self.lam = nn.Parameter(torch.tensor(float(lam)))
        self.levels, self.order = int(levels), order

    @classmethod
    def threshold_options(cls, threshold_grad: str, *, learn: bool) -> dict[str, Any]:
        """None: λ is always learned, by plain autograd, so a model's ``threshold_grad`` does not apply."""
        return {}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return qcfs(z, self.lam, levels=self.levels, order=self.order)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, order={self.order!r}"
