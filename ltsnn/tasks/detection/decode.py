"""From head outputs to detections (spec §2.5): decoding, confidence threshold, non-maximum suppression.

Two styles:

- ``ltsnn`` (ours): float boxes clipped to the frame (:func:`clip_boxes`), boxes with w ≤ 0 or h ≤ 0 dropped,
  class = argmax of the cell's logits, score = p·softmax(z)_class, kept if score > ``conf_threshold``, NMS ranked
  by score.
- ``ltsnn_code`` (the LT-SNN code): boxes with ⌊h/2⌋, ⌊w/2⌋ offsets and the code's crop
  (:func:`crop_boxes_ltsnn_code`), kept if p > ``conf_threshold`` (0.4 there), zero-size boxes kept, the
  detection's score is the raw logit of its class, NMS ranked by p.

NMS is class-wise (a box only suppresses boxes of its own class) or class-agnostic; a box is suppressed by an
earlier-ranked kept box when their IoU is > ``nms_iou``.
"""

from __future__ import annotations

import torch

from ltsnn.data.functional.boxes import clip_boxes
from ltsnn.tasks.detection.boxes import box_iou, crop_boxes_ltsnn_code
from ltsnn.tasks.detection.grid import YoloGrid

Tensor = torch.Tensor

DECODE_STYLES = ("ltsnn", "ltsnn_code")
NMS_MODES = ("class_wise", "class_agnostic")

# Keyword sets of the two recipes: decode(pred, layout=..., **DECODE_PRESETS["ltsnn_code"]).
DECODE_PRESETS: dict[str, dict] = {
    "ltsnn": {"conf_threshold": 0.01, "nms_iou": 0.5, "nms": "class_wise", "style": "ltsnn",
              "max_detections": 100},
    "ltsnn_code": {"conf_threshold": 0.4, "nms_iou": 0.5, "nms": "class_agnostic", "style": "ltsnn_code",
                   "max_detections": None},
}


def batched_nms(boxes: Tensor, scores: Tensor, groups: Tensor, *, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression within groups, without a Python loop over boxes.

    ``boxes``: [M, 4] xywh; ``scores``: [M] (ranking key); ``groups``: int [M] (class ids for class-wise NMS,
    all equal for class-agnostic). Returns the indices of the kept boxes, int64, by decreasing score (ties keep
    input order).

    Greedy NMS keeps box j (in rank order) iff no kept box ranked before it in its group overlaps it by more
    than the threshold. That rule refers only to earlier boxes, so iterating keep ← ¬any(keep ∧ overlaps)
    from "keep all" fixes one more leading box per pass and stops at the unique solution (usually in a few
    passes instead of M).
    """
    order = scores.argsort(descending=True, stable=True)
    b, g = boxes[order], groups[order]
    overlaps = (box_iou(b[:, None], b[None]) > iou_threshold) & (g[:, None] == g[None])   # [M, M]
    overlaps = overlaps.triu(diagonal=1)                      # [i, j]: i ranked before j suppresses j
    keep = torch.ones(order.shape[0], dtype=torch.bool, device=boxes.device)
    while True:
        new_keep = ~(overlaps & keep[:, None]).any(dim=0)
        if torch.equal(new_keep, keep):
            return order[keep]
        keep = new_keep


def decode(pred: Tensor, *, layout: YoloGrid, conf_threshold: float = 0.01, nms_iou: float = 0.5,
           nms: str = "class_wise", style: str = "ltsnn", max_detections: int | None = 100) -> list[dict[str, Tensor]]:
    """Detections of each image of a batch.

    ``pred``: [N, Gh, Gw, K] or [N, Gh·Gw·K] head output (layout in :mod:`ltsnn.tasks.detection.grid`).
    Returns N dicts ``{"boxes": float [M, 4] xywh px in the input frame, "scores": float [M],
    "labels": int64 [M]}`` ordered by the NMS ranking key (score; p for ``ltsnn_code``), at most
    ``max_detections`` each (None: no limit).
    """
    if style not in DECODE_STYLES:
        raise ValueError(f"unknown decode style {style!r}; expected one of {list(DECODE_STYLES)}")
    if nms not in NMS_MODES:
        raise ValueError(f"unknown nms {nms!r}; expected one of {list(NMS_MODES)}")
    if max_detections is not None and max_detections <= 0:
        raise ValueError(f"max_detections must be positive or None, got {max_detections}")
    H, W = layout.input_size
    out = layout.split(pred.detach())
    p = out.obj_logit.sigmoid()                                                         # [N, Gh, Gw, B]
    label = out.cls_logit.argmax(dim=-1, keepdim=True).expand(*p.shape)                 # first index on ties
    if style == "ltsnn":
        boxes = clip_boxes(layout.boxes(out), height=H, width=W)                        # [N, Gh, Gw, B, 4]
        class_prob = out.cls_logit.softmax(dim=-1).amax(dim=-1, keepdim=True)           # [N, Gh, Gw, 1]
        score = rank = p * class_prob
        keep = (score > conf_threshold) & (boxes[..., 2] > 0) & (boxes[..., 3] > 0)
    else:
        boxes = crop_boxes_ltsnn_code(layout.boxes(out, rounding="ltsnn_code"), height=H, width=W)
        score = out.cls_logit.gather(-1, label[..., :1]).expand(*p.shape)               # raw class logit
        rank = p
        keep = p > conf_threshold
    N = p.shape[0]
    boxes, score, rank, label, keep = (t.reshape(N, -1, *t.shape[4:]) for t in (boxes, score, rank, label, keep))
    detections = []
    for n in range(N):                                                                  # [Gh*Gw*B] slots each
        idx = keep[n].nonzero().squeeze(1)
        groups = label[n, idx] if nms == "class_wise" else torch.zeros_like(idx)
        kept = idx[batched_nms(boxes[n, idx], rank[n, idx], groups, iou_threshold=nms_iou)]
        if max_detections is not None:
            kept = kept[:max_detections]
        detections.append({"boxes": boxes[n, kept], "scores": score[n, kept], "labels": label[n, kept]})
    return detections
