"""The LT-SNN detector's YOLOv1-style loss (spec §2.4): target assignment by IoU and the five weighted terms.

For each ground-truth box (u, v, w, h, k) of an image with input H × W and grid Gh × Gw:

1. centre (x_c, y_c) = (u + w/2, v + h/2) (rounding ``ltsnn_code``: u + ⌊w/2⌋, v + ⌊h/2⌋); responsible cell
   i = ⌊y_c·Gh/H⌋, j = ⌊x_c·Gw/W⌋;
2. targets t_r = y_c·Gh/H − i, t_c = x_c·Gw/W − j, t_h = √(h/H), t_w = √(w/W);
3. the B predictors of cell (i, j) are decoded (:meth:`YoloGrid.boxes`; ``ltsnn_code`` truncates them to integer
   pixels) and the one with the highest IoU with the GT box is responsible (first on ties); its confidence target
   is that IoU, detached (q);
4. with mean_g over all GT boxes of the batch and p = σ(o)::

       L_xy    = λ_coord · mean_g[(r − t_r)² + (c − t_c)²]
       L_wh    = λ_coord · mean_g[(sh − t_h)² + (sw − t_w)²]
       L_obj   = mean_g[(p − q)²]
       L_noobj = λ_noobj · mean of p² over every predictor slot (n, i, j, b) of the batch responsible for no GT
       L_cls   = λ_cls · ℓ(z of the GT's cell, k)
                 ℓ = CE (``ce``), or 0.25·CE + 0.75·mean_k (z_k − 1)² (``ltsnn_code``)
       L       = L_xy + L_wh + L_obj + L_noobj + L_cls

Two GT boxes may pick the same slot; both contribute to the mean_g terms. A batch without GT boxes has
L_xy = L_wh = L_obj = L_cls = 0 (the LT-SNN code would give NaN).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ltsnn.tasks.detection.boxes import box_iou
from ltsnn.tasks.detection.grid import ROUNDINGS, HeadOutputs, YoloGrid

Tensor = torch.Tensor
Target = dict[str, Tensor]

CLS_LOSSES = ("ce", "ltsnn_code")


class Assignment(NamedTuple):
    """One row per GT box of the batch ([G] each, [G, 4] for ``boxes``): where it lands and what it asks for."""

    image: Tensor        # int64, index of the image in the batch
    row: Tensor          # int64, responsible cell row i
    col: Tensor          # int64, responsible cell column j
    predictor: Tensor    # int64, responsible predictor b* of that cell
    iou: Tensor          # float, IoU of b*'s box with the GT box (detached): the confidence target q
    target_r: Tensor
    target_c: Tensor
    target_sh: Tensor
    target_sw: Tensor
    label: Tensor        # int64 class id
    boxes: Tensor        # float [G, 4] GT xywh px


def _first_bad(bad: Tensor, image: Tensor, index: Tensor) -> tuple[int, int, int] | None:
    """(image n, box m within image n, row g of the batch) of the first True in ``bad`` [G], or None."""
    if not bool(bad.any()):
        return None
    g = int(bad.nonzero()[0, 0])
    return int(image[g]), int(index[g]), g


def _stack_targets(targets: Sequence[Target], layout: YoloGrid, *, dtype: torch.dtype, device: torch.device
                   ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Concatenate the per-image targets into (image [G], index in image [G], boxes [G, 4], labels [G]).

    Raises ValueError naming ``targets[n]`` and the box for a wrong shape, an empty box or an unknown class.
    """
    images, indices, boxes, labels = [], [], [], []
    for n, target in enumerate(targets):
        b = torch.as_tensor(target["boxes"], dtype=dtype, device=device)
        k = torch.as_tensor(target["labels"], device=device)
        if b.dim() != 2 or b.shape[1] != 4 or k.shape != (b.shape[0],):
            raise ValueError(f"targets[{n}]: expected boxes [M, 4] and labels [M], got {list(b.shape)} and "
                             f"{list(k.shape)}")
        if k.is_floating_point():
            raise ValueError(f"targets[{n}]['labels']: expected integer class ids, got {k.dtype}")
        images.append(torch.full((b.shape[0],), n, dtype=torch.int64, device=device))
        indices.append(torch.arange(b.shape[0], device=device))
        boxes.append(b)
        labels.append(k.to(torch.int64))
    image, index, box, label = torch.cat(images), torch.cat(indices), torch.cat(boxes), torch.cat(labels)
    bad = _first_bad(~((box[:, 2] > 0) & (box[:, 3] > 0) & box[:, :2].isfinite().all(1)), image, index)
    if bad:
        raise ValueError(f"targets[{bad[0]}]['boxes'][{bad[1]}] = {box[bad[2]].tolist()}: "
                         "expected finite x, y and width, height > 0 (drop empty boxes after cropping)")
    bad = _first_bad((label < 0) | (label >= layout.num_classes), image, index)
    if bad:
        raise ValueError(f"targets[{bad[0]}]['labels'][{bad[1]}] = {int(label[bad[2]])}: "
                         f"expected a class id in [0, {layout.num_classes})")
    return image, index, box, label


def assign_targets(out: HeadOutputs, targets: Sequence[Target], *, layout: YoloGrid,
                   rounding: str = "none") -> Assignment:
    """Responsible cell and predictor of every GT box (steps 1–3 above).

    ``out``: :meth:`YoloGrid.split` of the head output; ``targets``: one dict per image with ``boxes`` float
    [M, 4] xywh px in the input frame and ``labels`` int [M]. Raises ValueError for an empty box, a centre
    outside the frame (nothing is clipped here: crop upstream) or an unknown class.
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"unknown rounding {rounding!r}; expected one of {list(ROUNDINGS)}")
    N = out.r.shape[0]
    if len(targets) != N:
        raise ValueError(f"targets: expected one entry per image ({N}), got {len(targets)}")
    image, index, boxes, label = _stack_targets(targets, layout, dtype=out.r.dtype, device=out.r.device)
    H, W = layout.input_size
    gh, gw = layout.grid
    x, y, w, h = boxes.unbind(-1)
    half_w, half_h = (w / 2, h / 2) if rounding == "none" else (torch.floor(w / 2), torch.floor(h / 2))
    # Scale by Gh/H rather than divide by the cell height: exact for integer centres on exact cell borders.
    row_f = (y + half_h) * gh / H
    col_f = (x + half_w) * gw / W
    row, col = row_f.floor().long(), col_f.floor().long()
    bad = _first_bad((row < 0) | (row >= gh) | (col < 0) | (col >= gw), image, index)
    if bad:
        raise ValueError(f"targets[{bad[0]}]['boxes'][{bad[1]}] = {boxes[bad[2]].tolist()}: "
                         f"centre outside the {H} x {W} input frame")
    with torch.no_grad():
        cand = layout.boxes(HeadOutputs(*(t.detach() for t in out)), rounding=rounding)[image, row, col]  # [G, B, 4]
        if rounding == "ltsnn_code":
            cand = cand.trunc()
        iou = box_iou(cand, boxes[:, None])                                                # [G, B]
        predictor = iou.argmax(dim=1)                                                      # first on ties
        q = iou.gather(1, predictor[:, None]).squeeze(1)
    return Assignment(image, row, col, predictor, q, row_f - row, col_f - col, (h / H).sqrt(), (w / W).sqrt(),
                      label, boxes)


def yolo_loss(pred: Tensor, targets: Sequence[Target], *, layout: YoloGrid, cls_loss: str = "ce",
              rounding: str = "none", lambda_coord: float = 5.0, lambda_noobj: float = 0.5,
              lambda_cls: float = 1.0) -> dict[str, Tensor]:
    """The loss of a batch: ``{"loss", "xy", "wh", "obj", "noobj", "cls"}``, scalar tensors (weights included).

    ``pred``: [N, Gh, Gw, K] or [N, Gh·Gw·K] (layout in :mod:`ltsnn.tasks.detection.grid`); ``targets``: N dicts
    ``{"boxes": float [M, 4] xywh px in the input frame, "labels": int [M]}``.
    """
    if cls_loss not in CLS_LOSSES:
        raise ValueError(f"unknown cls_loss {cls_loss!r}; expected one of {list(CLS_LOSSES)}")
    out = layout.split(pred)
    a = assign_targets(out, targets, layout=layout, rounding=rounding)
    p = out.obj_logit.sigmoid()                                                            # [N, Gh, Gw, B]
    slot = (a.image, a.row, a.col, a.predictor)
    responsible = torch.zeros_like(p, dtype=torch.bool)
    responsible[slot] = True
    free = ~responsible
    noobj = lambda_noobj * (p.square() * free).sum() / free.sum().clamp(min=1)
    if a.image.numel() == 0:
        zero = pred.new_zeros(())
        xy = wh = obj = cls = zero
    else:
        xy = lambda_coord * ((out.r[slot] - a.target_r).square() + (out.c[slot] - a.target_c).square()).mean()
        wh = lambda_coord * ((out.sh[slot] - a.target_sh).square() + (out.sw[slot] - a.target_sw).square()).mean()
        obj = (p[slot] - a.iou).square().mean()
        z = out.cls_logit[a.image, a.row, a.col]                                           # [G, C]
        cls = F.cross_entropy(z, a.label)
        if cls_loss == "ltsnn_code":
            # The code's local "TET_loss" with λ = 0.75 and target 1 (spec §2.4): not methods.md's TET.
            cls = 0.25 * cls + 0.75 * (z - 1).square().mean()
        cls = lambda_cls * cls
    return {"loss": xy + wh + obj + noobj + cls, "xy": xy, "wh": wh, "obj": obj, "noobj": noobj, "cls": cls}


class YoloLoss(nn.Module):
    """:func:`yolo_loss` for a fixed head: ``YoloLoss(grid=(Gh, Gw), num_boxes=B, num_classes=C,
    input_size=(H, W))(pred, targets) -> {"loss", "xy", "wh", "obj", "noobj", "cls"}``.

    ``cls_loss``: ``"ce"`` (default, asynet's) or ``"ltsnn_code"`` (0.25·CE + 0.75·MSE to 1); ``rounding``:
    ``"none"`` (float boxes, default) or ``"ltsnn_code"`` (integer centres and truncated predictor boxes).
    """

    def __init__(self, grid: tuple[int, int], num_boxes: int, num_classes: int, input_size: tuple[int, int], *,
                 cls_loss: str = "ce", rounding: str = "none", lambda_coord: float = 5.0,
                 lambda_noobj: float = 0.5, lambda_cls: float = 1.0):
        super().__init__()
        if cls_loss not in CLS_LOSSES:
            raise ValueError(f"unknown cls_loss {cls_loss!r}; expected one of {list(CLS_LOSSES)}")
        if rounding not in ROUNDINGS:
            raise ValueError(f"unknown rounding {rounding!r}; expected one of {list(ROUNDINGS)}")
        self.layout = YoloGrid(tuple(grid), num_boxes, num_classes, tuple(input_size))
        self.cls_loss = cls_loss
        self.rounding = rounding
        self.lambda_coord, self.lambda_noobj, self.lambda_cls = lambda_coord, lambda_noobj, lambda_cls

    def forward(self, pred: Tensor, targets: Sequence[Target]) -> dict[str, Tensor]:
        return yolo_loss(pred, targets, layout=self.layout, cls_loss=self.cls_loss, rounding=self.rounding,
                         lambda_coord=self.lambda_coord, lambda_noobj=self.lambda_noobj,
                         lambda_cls=self.lambda_cls)

    def extra_repr(self) -> str:
        return (f"layout={self.layout}, cls_loss={self.cls_loss!r}, rounding={self.rounding!r}, "
                f"lambdas=({self.lambda_coord}, {self.lambda_noobj}, {self.lambda_cls})")
