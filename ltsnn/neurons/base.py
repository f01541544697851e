"""What every spiking neuron module shares: a registered threshold and one reset path."""

from __future__ import annotations

import torch
from torch import nn


class SpikingNeuron(nn.Module):
    """Base of the neuron modules.

    Owns ``v_th`` (an ``nn.Parameter`` when learnable, else a buffer, so ``state_dict`` and ``.to()`` see it
    either way) and the runtime membrane ``v`` carried between calls until :meth:`reset`.

    ``threshold_grads`` lists the ``threshold_grad`` values a neuron accepts: models pass theirs to every
    neuron, and neurons with a fixed θ (LM-HT, I-LIF) accept only ``"fixed"``.
    """

    threshold_grads: tuple[str, ...] = ("fixed",)

    @classmethod
    def check_threshold_grad(cls, threshold_grad: str) -> None:
        """Raise a ValueError listing the accepted values if ``threshold_grad`` is not one of them."""
        if threshold_grad not in cls.threshold_grads:
            raise ValueError(f"{cls.__name__}: unknown threshold_grad {threshold_grad!r}; expected one of "
                             f"{list(cls.threshold_grads)}")

    def __init__(self, v_th_init: torch.Tensor, *, learnable: bool):
        super().__init__()
        if learnable:
            self.v_th = nn.Parameter(v_th_init)
        else:
            self.register_buffer("v_th", v_th_init)
        self.v: torch.Tensor | None = None

    @property
    def learnable(self) -> bool:
        return isinstance(self.v_th, nn.Parameter)

    def reset(self) -> None:
        """Forget the membrane: the next call starts from v = 0."""
        self.v = None
