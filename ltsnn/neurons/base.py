"""What every spiking neuron module shares: a registered threshold and one reset path."""

from __future__ import annotations

import torch
from torch import nn


class SpikingNeuron(nn.Module):
    """Base of the neuron modules.

    Owns ``v_th`` (an ``nn.Parameter`` when learnable, else a buffer, so ``state_dict`` and ``.to()`` see it
    either way) and the runtime membrane ``v`` carried between calls until :meth:`reset`.
    """

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
