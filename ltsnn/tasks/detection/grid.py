"""The YOLOv1-style grid head of the LT-SNN detector (spec §2.3): output layout and predictor boxes.

The input frame (H × W px) is cut into Gh rows × Gw columns of cells of (c_h, c_w) = (H/Gh, W/Gw) px. Each cell
has B box predictors and C class logits shared by them: K = 5B + C numbers per cell, grouped by quantity::

    [0, B)        r_b    centre offset along rows (y), in cell heights   (raw: no sigmoid)
    [B, 2B)       c_b    centre offset along columns (x), in cell widths (raw)
    [2B, 3B)      sh_b   sqrt(h / H)                                     (raw: squared on decode)
    [3B, 4B)      sw_b   sqrt(w / W)
    [4B, 5B)      o_b    objectness logit, p_b = sigmoid(o_b)
    [5B, 5B + C)  z_k    class logits

``pred`` is [N, Gh, Gw, K] or the flat [N, Gh·Gw·K] = ``pred.view(N, Gh, Gw, K)`` (row-major over row i,
column j, channel k, as the LT-SNN code reshapes its FC576 output). A conv head's [N, K, Gh, Gw] needs
``.permute(0, 2, 3, 1)`` first.

Box of predictor (i, j, b) (spec §2.5): h = sh²·H, w = sw²·W, centre row = (i + r)·c_h,
centre column = (j + c)·c_w, top = centre row − h/2, left = centre column − w/2
(rounding ``ltsnn_code``: − ⌊h/2⌋ and − ⌊w/2⌋).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

Tensor = torch.Tensor

ROUNDINGS = ("none", "ltsnn_code")


class HeadOutputs(NamedTuple):
    """The head output split by quantity. Each box quantity is [N, Gh, Gw, B]; ``cls_logit`` is [N, Gh, Gw, C]."""

    r: Tensor
    c: Tensor
    sh: Tensor
    sw: Tensor
    obj_logit: Tensor
    cls_logit: Tensor


@dataclass(frozen=True)
class YoloGrid:
    """Geometry and output layout of a grid head. ``grid`` = (Gh, Gw) cells, ``input_size`` = (H, W) px."""

    grid: tuple[int, int]
    num_boxes: int
    num_classes: int
    input_size: tuple[int, int]

    def __post_init__(self) -> None:
        for name, value in (("grid", self.grid), ("input_size", self.input_size)):
            if len(value) != 2 or min(value) <= 0:
                raise ValueError(f"YoloGrid: {name} must be two positive sizes (rows, columns), got {value}")
        if self.num_boxes <= 0 or self.num_classes <= 0:
            raise ValueError(f"YoloGrid: num_boxes and num_classes must be positive, got "
                             f"{self.num_boxes} and {self.num_classes}")

    @property
    def channels(self) -> int:
        """K = 5B + C outputs per cell."""
        return 5 * self.num_boxes + self.num_classes

    @property
    def num_outputs(self) -> int:
        """Gh·Gw·K outputs per image (576 for the LT-SNN head: 6 × 8 × 12)."""
        return self.grid[0] * self.grid[1] * self.channels

    @property
    def cell_size(self) -> tuple[float, float]:
        """(c_h, c_w) in px."""
        return self.input_size[0] / self.grid[0], self.input_size[1] / self.grid[1]

    def split(self, pred: Tensor) -> HeadOutputs:
        """Split ``pred`` ([N, Gh, Gw, K] or [N, Gh·Gw·K]) into its quantities (views, no copy)."""
        gh, gw = self.grid
        k = self.channels
        if pred.dim() == 2 and pred.shape[1] == self.num_outputs:
            pred = pred.view(pred.shape[0], gh, gw, k)                 # [N, Gh*Gw*K] -> [N, Gh, Gw, K]
        elif pred.dim() != 4 or tuple(pred.shape[1:]) != (gh, gw, k):
            raise ValueError(f"head output: expected [N, {gh}, {gw}, {k}] or [N, {self.num_outputs}] "
                             f"(grid {self.grid}, B={self.num_boxes}, C={self.num_classes}), got {list(pred.shape)}")
        b = self.num_boxes
        return HeadOutputs(pred[..., 0:b], pred[..., b:2 * b], pred[..., 2 * b:3 * b], pred[..., 3 * b:4 * b],
                           pred[..., 4 * b:5 * b], pred[..., 5 * b:])

    def boxes(self, out: HeadOutputs, *, rounding: str = "none") -> Tensor:
        """Decoded xywh boxes of every predictor, [N, Gh, Gw, B, 4] px in the input frame."""
        if rounding not in ROUNDINGS:
            raise ValueError(f"unknown rounding {rounding!r}; expected one of {list(ROUNDINGS)}")
        H, W = self.input_size
        ch, cw = self.cell_size
        gh, gw = self.grid
        rows = torch.arange(gh, dtype=out.r.dtype, device=out.r.device).view(gh, 1, 1)   # [Gh, 1, 1]
        cols = torch.arange(gw, dtype=out.c.dtype, device=out.c.device).view(1, gw, 1)   # [1, Gw, 1]
        h = out.sh.square() * H
        w = out.sw.square() * W
        centre_y = (rows + out.r) * ch
        centre_x = (cols + out.c) * cw
        half_h, half_w = (h / 2, w / 2) if rounding == "none" else (torch.floor(h / 2), torch.floor(w / 2))
        return torch.stack([centre_x - half_w, centre_y - half_h, w, h], dim=-1)
