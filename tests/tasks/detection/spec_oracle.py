"""The hand-worked head output of the detection spec §6.2/§6.3, shared by the loss and decode tests."""

from __future__ import annotations

import math

import torch

from ltsnn.tasks.detection import YoloGrid

LAYOUT = YoloGrid(grid=(3, 4), num_boxes=2, num_classes=2, input_size=(96, 128))


def oracle_pred() -> torch.Tensor:
    """The §6.2 head output, [1, 3, 4, 12] float64, per-cell layout [r0 r1 c0 c1 sh0 sh1 sw0 sw1 o0 o1 z0 z1]."""
    pred = torch.zeros(1, 3, 4, 12, dtype=torch.float64)
    pred[0, 1, 1] = torch.tensor([0.5, 0.375, 0.25, 0.25, 0.5, 0.25, 0.5, 0.25, math.log(4), 0, 2, 0],
                                 dtype=torch.float64)
    pred[0, 1, 3] = torch.tensor([0, 0.875, 0, 0.125, 0, 0.75, 0, 0.5, 0, 0, 0, 0], dtype=torch.float64)
    pred[0, 0, 0, 8] = -math.log(4)                                                  # p = 0.2
    return pred
