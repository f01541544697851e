"""Detection evaluation with the Prophesee protocol (spec §4): filtering, time matching, COCO mAP, VOC AP50.

Per recording, ground truth and predictions are structured box arrays (:data:`ltsnn.data.io.BOX_DTYPE`, or the
legacy Gen1 fields ``ts``/``confidence``) in sensor pixels, sorted by t. Steps:

1. GT boxes are cropped to the frame (corners clipped to [0, W − 1] × [0, H − 1], as RVT does); those left with
   zero width or height are dropped (:func:`ltsnn.data.box_filter.crop_to_frame`).
2. GT and predictions are filtered by a :class:`~ltsnn.data.box_filter.BoxFilter` (keep t > skip, w² + h² ≥ d²,
   w ≥ s and h ≥ s); the filters and their presets are the data's (:mod:`ltsnn.data.box_filter`), which cleans
   the training labels with the same rules.
3. Every distinct GT timestamp ts of a recording makes one image: its GT boxes and all predictions with
   t ∈ [ts − tol, ts + tol] (both ends included). Instants with no GT left are not evaluated.
4. COCO (category id = class id + 1, area = w·h, continuous coordinates) through faster-coco-eval or pycocotools:
   mAP@[.5:.95] (``map``), AP50, AP75, AP small/medium/large, per-class AP; no predictions at all gives 0.
5. Second report: the LT-SNN code's VOC AP50 (PASCAL "every point" interpolation, +1 pixel convention, greedy
   matching by score to the best-IoU GT of the image, mean over classes with GT), optionally with its bug of
   pooling all images into one (``voc_pooled_image_ids``).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from ltsnn.data.box_filter import BoxFilter, crop_to_frame
from ltsnn.data.io.boxes import BOX_DTYPE, reformat_boxes
from ltsnn.tasks.detection.boxes import box_iou

Tensor = torch.Tensor

COCO_BACKENDS = ("faster_coco_eval", "pycocotools")
VOC_IOU_THRESHOLD = 0.5


def box_array(t_us: int | np.ndarray, boxes: Tensor | np.ndarray, labels: Tensor | np.ndarray,
              scores: Tensor | np.ndarray | None = None) -> np.ndarray:
    """Boxes as a :data:`BOX_DTYPE` array. ``t_us``: µs, scalar or [M]; ``boxes``: [M, 4] xywh px (sensor frame:
    rescale predictions made at another resolution first); ``labels``: [M]; ``scores``: [M] (1 for GT if None)."""
    boxes = np.asarray(torch.as_tensor(boxes).detach().cpu(), dtype=np.float64).reshape(-1, 4)
    out = np.zeros(boxes.shape[0], dtype=BOX_DTYPE)
    out["t"] = t_us
    out["x"], out["y"], out["w"], out["h"] = boxes.T
    out["class_id"] = np.asarray(torch.as_tensor(labels).cpu())
    out["class_confidence"] = 1.0 if scores is None else np.asarray(torch.as_tensor(scores).detach().cpu())
    return out


@dataclass
class _Image:
    """One evaluated label instant: GT [G, 4] xywh + labels [G]; predictions [D, 4] + scores [D] + labels [D]."""

    gt_boxes: np.ndarray
    gt_labels: np.ndarray
    dt_boxes: np.ndarray
    dt_scores: np.ndarray
    dt_labels: np.ndarray


def _check_recording(boxes: np.ndarray, *, where: str, num_classes: int) -> None:
    """Raise if the array is not sorted by t or holds an unknown class id."""
    unsorted = np.flatnonzero(np.diff(boxes["t"]) < 0)
    if unsorted.size:
        i = int(unsorted[0]) + 1
        raise ValueError(f"{where}: boxes must be sorted by t; box {i} has t = {boxes['t'][i]} < "
                         f"t = {boxes['t'][i - 1]} of box {i - 1}")
    bad = np.flatnonzero(boxes["class_id"] >= num_classes)
    if bad.size:
        raise ValueError(f"{where}: box {int(bad[0])} has class_id {boxes['class_id'][bad[0]]}; expected a class "
                         f"id in [0, {num_classes})")


def match_instants(gt: Sequence[np.ndarray], dt: Sequence[np.ndarray], *, height: int, width: int,
                   num_classes: int, box_filter: BoxFilter, time_tol_us: int = 50_000) -> list[_Image]:
    """Steps 1–3: crop, filter and time-match; one :class:`_Image` per (recording, remaining GT instant)."""
    if len(gt) != len(dt):
        raise ValueError(f"expected one prediction array per recording: {len(gt)} GT arrays, {len(dt)} prediction "
                         "arrays")
    images = []
    for r, (g, d) in enumerate(zip(gt, dt)):
        g, d = reformat_boxes(g, where=f"gt[{r}]"), reformat_boxes(d, where=f"dt[{r}]")
        _check_recording(g, where=f"gt[{r}]", num_classes=num_classes)
        _check_recording(d, where=f"dt[{r}]", num_classes=num_classes)
        g = crop_to_frame(g, height=height, width=width)
        g, d = g[box_filter.keep(g)], d[box_filter.keep(d)]
        for ts in np.unique(g["t"]):
            gi = g[g["t"] == ts]
            lo, hi = np.searchsorted(d["t"], ts - time_tol_us, "left"), np.searchsorted(d["t"], ts + time_tol_us,
                                                                                         "right")
            di = d[lo:hi]
            images.append(_Image(_xywh(gi), gi["class_id"].astype(np.int64), _xywh(di),
                                 di["class_confidence"].astype(np.float64), di["class_id"].astype(np.int64)))
    return images


def _xywh(boxes: np.ndarray) -> np.ndarray:
    return np.stack([boxes["x"], boxes["y"], boxes["w"], boxes["h"]], axis=1).astype(np.float64).reshape(-1, 4)


def _coco_api(backend: str):
    """(COCO, COCOeval) classes of the backend, imported on first use."""
    if backend == "faster_coco_eval":
        try:
            from faster_coco_eval import COCO, COCOeval_faster
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError("COCO evaluation needs the 'faster-coco-eval' package: "
                                      "pip install 'ltsnn[detection]'", name=e.name) from e
        return COCO, COCOeval_faster
    if backend == "pycocotools":
        try:
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError("backend 'pycocotools' needs the 'pycocotools' package: pip install "
                                      "pycocotools", name=e.name) from e
        return COCO, COCOeval
    raise ValueError(f"unknown COCO backend {backend!r}; expected one of {list(COCO_BACKENDS)}")


def coco_dataset(images: Sequence[_Image], *, class_names: Sequence[str], height: int, width: int
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Step 4: the COCO ground-truth dict and the result list (image ids 1…, annotation ids 1…: id 0 would
    read as "unmatched" inside COCOeval)."""
    dataset: dict[str, Any] = {
        "info": {}, "licenses": [],
        "images": [{"id": i + 1, "height": height, "width": width} for i in range(len(images))],
        "categories": [{"id": k + 1, "name": name, "supercategory": "none"} for k, name in enumerate(class_names)],
        "annotations": [],
    }
    results = []
    for i, im in enumerate(images):
        for box, label in zip(im.gt_boxes.tolist(), im.gt_labels.tolist()):
            dataset["annotations"].append({"id": len(dataset["annotations"]) + 1, "image_id": i + 1,
                                           "category_id": label + 1, "bbox": box, "area": box[2] * box[3],
                                           "iscrowd": 0})
        for box, score, label in zip(im.dt_boxes.tolist(), im.dt_scores.tolist(), im.dt_labels.tolist()):
            results.append({"image_id": i + 1, "category_id": label + 1, "bbox": box, "score": score})
    return dataset, results


COCO_STATS = ("map", "map50", "map75", "map_small", "map_medium", "map_large")


def coco_metrics(images: Sequence[_Image], *, class_names: Sequence[str], height: int, width: int,
                 backend: str = "faster_coco_eval") -> dict[str, Any]:
    """Step 5: COCOeval "bbox" with its defaults -> stats[0..5] under :data:`COCO_STATS` names, plus
    ``per_class_ap`` and ``per_class_ap50`` ({name: AP}, NaN for a class without GT)."""
    COCO, COCOeval = _coco_api(backend)
    dataset, results = coco_dataset(images, class_names=class_names, height=height, width=width)
    has_gt = {a["category_id"] - 1 for a in dataset["annotations"]}
    if not results:                                               # COCOeval cannot load an empty result list
        per_class = {n: (0.0 if k in has_gt else float("nan")) for k, n in enumerate(class_names)}
        return {**{s: 0.0 for s in COCO_STATS}, "per_class_ap": per_class, "per_class_ap50": dict(per_class)}
    with contextlib.redirect_stdout(io.StringIO()):               # both backends print progress
        if backend == "pycocotools":
            coco_gt = COCO()
            coco_gt.dataset = dataset
            coco_gt.createIndex()
        else:
            coco_gt = COCO(dataset)
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = np.asarray(ev.eval["precision"])                   # [iou T, recall R, class K, area A, maxDets M]
    per_class, per_class50 = {}, {}
    for k, name in enumerate(class_names):
        p = precision[:, :, k, 0, -1]                              # area "all", maxDets 100
        per_class[name] = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
        p50 = p[0]
        per_class50[name] = float(p50[p50 > -1].mean()) if (p50 > -1).any() else float("nan")
    stats = {s: float(v) for s, v in zip(COCO_STATS, ev.stats[:6])}
    return {**stats, "per_class_ap": per_class, "per_class_ap50": per_class50}


def every_point_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """PASCAL VOC (≥ 2010) "every point" AP: the exact area under the monotone precision envelope.
    ``recall``, ``precision``: [D] after each ranked detection."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))


def _voc_true_positives(gt: list[np.ndarray], dets: list[np.ndarray], iou_threshold: float) -> list[np.ndarray]:
    """Greedy matching of the LT-SNN/Padilla evaluator, all groups (image × class) at once.

    ``gt[i]``: [G_i, 4] xywh; ``dets[i]``: [D_i, 4] already ranked by decreasing score. A detection is a TP iff
    the GT with the highest +1-convention IoU in its group (first on ties) has IoU ≥ threshold and is not yet
    matched; it never falls back to the second-best GT. Rank r of every group is handled in one vectorised step.
    """
    n = len(gt)
    g_max, d_max = max((len(x) for x in gt), default=0), max((len(x) for x in dets), default=0)
    if n == 0 or d_max == 0:
        return [np.zeros(len(x), dtype=bool) for x in dets]
    gt_pad = torch.zeros(n, max(g_max, 1), 4, dtype=torch.float64)
    gt_valid = torch.zeros(n, max(g_max, 1), dtype=torch.bool)
    det_pad = torch.zeros(n, d_max, 4, dtype=torch.float64)
    det_valid = torch.zeros(n, d_max, dtype=torch.bool)
    for i, (g, d) in enumerate(zip(gt, dets)):
        gt_pad[i, :len(g)], gt_valid[i, :len(g)] = torch.from_numpy(g), True
        det_pad[i, :len(d)], det_valid[i, :len(d)] = torch.from_numpy(d), True
    matched = torch.zeros_like(gt_valid)
    tp = torch.zeros_like(det_valid)
    rows = torch.arange(n)
    for r in range(d_max):
        iou = box_iou(det_pad[:, r, None], gt_pad, convention="voc_plus_one").masked_fill(~gt_valid, -1.0)
        best, m = iou.max(dim=1)                                   # [n]: first maximum on ties
        hit = det_valid[:, r] & (best >= iou_threshold) & ~matched[rows, m]
        tp[:, r] = hit
        matched[rows[hit], m[hit]] = True
    return [tp[i, :len(d)].numpy() for i, d in enumerate(dets)]


def voc_ap50(images: Sequence[_Image], *, num_classes: int, pooled_image_ids: bool = False
             ) -> tuple[float, list[float]]:
    """The LT-SNN code's VOC AP50 (step 5): (mean over classes with GT, per-class AP with NaN where no GT).

    ``pooled_image_ids`` reproduces the code's bug of giving every test sample the same image id, so that a
    detection can match another sample's box (spec §2.6, oracle F).
    """
    if pooled_image_ids and images:
        images = [_Image(*(np.concatenate([getattr(im, f) for im in images])
                           for f in ("gt_boxes", "gt_labels", "dt_boxes", "dt_scores", "dt_labels")))]
    groups_gt, groups_det, groups_score, group_class = [], [], [], []
    for im in images:
        for k in range(num_classes):
            order = np.argsort(-im.dt_scores[im.dt_labels == k], kind="stable")
            groups_gt.append(im.gt_boxes[im.gt_labels == k].reshape(-1, 4))
            groups_det.append(im.dt_boxes[im.dt_labels == k].reshape(-1, 4)[order])
            groups_score.append(im.dt_scores[im.dt_labels == k][order])
            group_class.append(k)
    tps = _voc_true_positives(groups_gt, groups_det, VOC_IOU_THRESHOLD)
    per_class = []
    group_class = np.asarray(group_class, dtype=np.int64)
    for k in range(num_classes):
        sel = np.flatnonzero(group_class == k)
        num_gt = sum(len(groups_gt[i]) for i in sel)
        if num_gt == 0:
            per_class.append(float("nan"))
            continue
        scores = np.concatenate([groups_score[i] for i in sel] + [np.zeros(0)])
        tp = np.concatenate([tps[i] for i in sel] + [np.zeros(0, dtype=bool)])
        # Groups are listed in input order and each is already ranked, so a stable sort keeps the input order of
        # equal scores, as the original's stable sorted(..., reverse=True) does.
        tp = tp[np.argsort(-scores, kind="stable")]
        tp_cum = np.cumsum(tp)
        ranks = np.arange(1, len(tp) + 1)
        per_class.append(every_point_ap(tp_cum / num_gt, tp_cum / ranks) if len(tp) else 0.0)
    with_gt = [ap for ap in per_class if not np.isnan(ap)]
    return (float(np.mean(with_gt)) if with_gt else float("nan")), per_class


def evaluate_detections(gt: Sequence[np.ndarray], dt: Sequence[np.ndarray], *, height: int, width: int,
                        class_names: Sequence[str], box_filter: BoxFilter, time_tol_us: int = 50_000,
                        backend: str = "faster_coco_eval", voc_pooled_image_ids: bool = False) -> dict[str, Any]:
    """Evaluate per-recording predictions against per-recording GT (steps 1–5 of the module docstring).

    ``gt[r]``, ``dt[r]``: structured box arrays of recording r (:data:`BOX_DTYPE` or legacy fields), sensor px,
    sorted by t; predictions carry t = the label instant they were made for and ``class_confidence`` = score.
    ``height`` × ``width``: the frame the boxes live in; ``class_names``: one per class id.
    Returns ``map`` (COCO mAP@[.5:.95]), ``map50``, ``map75``, ``map_small``, ``map_medium``, ``map_large``,
    ``per_class_ap``, ``per_class_ap50`` ({name: AP}), ``voc_ap50``, ``voc_per_class_ap50``, ``num_images``,
    ``num_gt``, ``num_dt`` (after filtering and time matching) and ``protocol`` (a label for reports).
    Raises ValueError if no GT box is left to evaluate.
    """
    images = match_instants(gt, dt, height=height, width=width, num_classes=len(class_names),
                            box_filter=box_filter, time_tol_us=time_tol_us)
    num_gt = sum(len(im.gt_labels) for im in images)
    if num_gt == 0:
        raise ValueError(f"no ground-truth box left to evaluate after cropping and filter {box_filter}")
    coco = coco_metrics(images, class_names=class_names, height=height, width=width, backend=backend)
    voc, voc_per_class = voc_ap50(images, num_classes=len(class_names), pooled_image_ids=voc_pooled_image_ids)
    return {
        **coco,
        "voc_ap50": voc,
        "voc_per_class_ap50": dict(zip(class_names, voc_per_class)),
        "num_images": len(images),
        "num_gt": num_gt,
        "num_dt": sum(len(im.dt_labels) for im in images),
        "protocol": (f"COCO ({backend}) + VOC every-point AP50 (+1 px"
                     f"{', pooled ids' if voc_pooled_image_ids else ''}), filter {box_filter.name}, "
                     f"time tolerance {time_tol_us} us"),
    }
