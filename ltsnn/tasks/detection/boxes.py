"""Axis-aligned boxes: format conversion, IoU, and the LT-SNN code's crop (clipping to the frame is the data's).

Boxes are float tensors ``[..., 4]``. ``xywh`` = (left x, top y, width w, height h) and ``xyxy`` = (left, top,
right, bottom), in pixels; x runs along columns, y along rows. Two IoU conventions are in use (spec §6.1):

- ``continuous``: a box covers [x, x + w) × [y, y + h); area = w·h (COCO, RVT, our loss and NMS).
- ``voc_plus_one``: a box covers the integer pixels x … x + w inclusive; every side length gains 1 and
  area = (w + 1)(h + 1) (PASCAL VOC devkit, the LT-SNN evaluator's AP50).
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor

IOU_CONVENTIONS = ("continuous", "voc_plus_one")


def xywh_to_xyxy(boxes: Tensor) -> Tensor:
    """(left, top, w, h) -> (left, top, right, bottom). ``boxes``: [..., 4] px."""
    x, y, w, h = boxes.unbind(-1)
    return torch.stack([x, y, x + w, y + h], dim=-1)


def xyxy_to_xywh(boxes: Tensor) -> Tensor:
    """(left, top, right, bottom) -> (left, top, w, h). ``boxes``: [..., 4] px."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([x1, y1, x2 - x1, y2 - y1], dim=-1)


def box_iou(a: Tensor, b: Tensor, *, convention: str = "continuous") -> Tensor:
    """Intersection over union of xywh boxes, broadcast over the leading dimensions.

    ``a``: [..., 4], ``b``: [..., 4] (broadcastable); returns [...]. For the pairwise matrix of [N, 4] and [M, 4]
    use ``box_iou(a[:, None], b[None])`` -> [N, M]. A pair whose union is empty (two zero-size boxes under
    ``continuous``) has IoU 0 rather than NaN, so degenerate boxes never match anything.
    """
    if convention not in IOU_CONVENTIONS:
        raise ValueError(f"unknown IoU convention {convention!r}; expected one of {list(IOU_CONVENTIONS)}")
    extra = 1.0 if convention == "voc_plus_one" else 0.0
    ax1, ay1, ax2, ay2 = xywh_to_xyxy(a).unbind(-1)
    bx1, by1, bx2, by2 = xywh_to_xyxy(b).unbind(-1)
    inter_w = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1) + extra).clamp(min=0)
    inter_h = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1) + extra).clamp(min=0)
    inter = inter_w * inter_h
    area_a = (ax2 - ax1 + extra) * (ay2 - ay1 + extra)
    area_b = (bx2 - bx1 + extra) * (by2 - by1 + extra)
    union = area_a + area_b - inter
    # union = 0 only when both boxes are empty, and then inter = 0 too: dividing by 1 there gives IoU 0.
    return inter / torch.where(union > 0, union, torch.ones_like(union))


def crop_boxes_ltsnn_code(boxes: Tensor, *, height: int, width: int) -> Tensor:
    """The LT-SNN code's crop (spec §2.5): left/top clamped to [0, W − 1]/[0, H − 1], then
    w ≤ W − 1 − left and h ≤ H − 1 − top. Unlike :func:`clip_boxes` a box starting left of the frame keeps its
    full width. ``boxes``: [..., 4] xywh px -> [..., 4]."""
    x, y, w, h = boxes.unbind(-1)
    x, y = x.clamp(0, width - 1), y.clamp(0, height - 1)
    w = torch.minimum(w, width - 1 - x)
    h = torch.minimum(h, height - 1 - y)
    return torch.stack([x, y, w, h], dim=-1)
