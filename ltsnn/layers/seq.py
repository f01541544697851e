"""Apply stateless layers to every time step at once by folding T into the batch."""

from __future__ import annotations

import torch
from torch import nn


class SeqToBatch(nn.Sequential):
    """Run the wrapped (stateless) layers on ``[T, B, ...]`` as one ``[T*B, ...]`` batch.

    Convolutions, pooling and BatchNorm see all T·B frames jointly, so BN statistics are over
    (T, B, H, W) per channel: the "tdBN" of the TET / LT-SNN code.
    """

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.dim() < 3:
            raise ValueError(f"SeqToBatch expects [T, B, ...], got shape {tuple(x_seq.shape)}")
        y = super().forward(x_seq.flatten(0, 1))                   # [T*B, ...]
        return y.unflatten(0, x_seq.shape[:2])                     # [T*B, ...] -> [T, B, ...]
