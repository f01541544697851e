"""Decoding and NMS: the spec §6.3 oracle in both styles, NMS against a plain greedy loop, limits."""

from __future__ import annotations

import math

import pytest
import torch

from ltsnn.tasks.detection import DECODE_PRESETS, batched_nms, box_iou, decode
from spec_oracle import LAYOUT, oracle_pred          # the §6.2 head output, shared with the other test


def test_predictor_boxes_of_the_oracle():
    boxes = LAYOUT.boxes(LAYOUT.split(oracle_pred()))                                # [1, 3, 4, 2, 4]
    assert boxes[0, 1, 1, 0].tolist() == [24, 36, 32, 24]
    assert boxes[0, 1, 1, 1].tolist() == [36, 41, 8, 6]
    assert boxes[0, 1, 3, 1].tolist() == [84, 33, 32, 54]
    assert boxes[0, 1, 3, 0].tolist() == [96, 32, 0, 0]


def test_ltsnn_code_style_keeps_23_of_24_slots_and_nms_removes_none():
    [det] = decode(oracle_pred(), layout=LAYOUT, **DECODE_PRESETS["ltsnn_code"])
    # p > 0.4 everywhere but slot (0, 0, 0); the zero-size boxes (IoU 0 with anything) survive class-agnostic NMS.
    assert len(det["scores"]) == 23
    real = det["boxes"][:, 2:].prod(dim=1) > 0
    assert det["boxes"][real].tolist() == [[24, 36, 32, 24], [36, 41, 8, 6], [84, 33, 32, 54]]
    # Score = raw logit of the argmax class: 2 for cell (1, 1) (class 0), 0 for cell (1, 3) (tie -> class 0).
    assert det["scores"][real].tolist() == [2, 2, 0]
    assert det["labels"][real].tolist() == [0, 0, 0]


def test_ltsnn_style_drops_zero_size_boxes_and_scores_p_times_softmax():
    [det] = decode(oracle_pred(), layout=LAYOUT, **DECODE_PRESETS["ltsnn"])
    soft = 1 / (1 + math.exp(-2))                                                    # softmax([2, 0])[0]
    assert det["boxes"].tolist() == [[24, 36, 32, 24], [36, 41, 8, 6], [84, 33, 32, 54]]
    assert det["scores"].tolist() == pytest.approx([0.8 * soft, 0.5 * soft, 0.5 * 0.5])
    assert det["labels"].tolist() == [0, 0, 0]


def test_threshold_is_strict_and_max_detections_caps():
    [det] = decode(oracle_pred(), layout=LAYOUT, conf_threshold=0.25, max_detections=100)
    assert len(det["scores"]) == 2                                                   # 0.25 itself is not > 0.25
    [det] = decode(oracle_pred(), layout=LAYOUT, conf_threshold=0.0, max_detections=1)
    assert det["boxes"].tolist() == [[24, 36, 32, 24]]


def test_predictions_are_clipped_to_the_frame():
    pred = torch.zeros(1, 3, 4, 12)
    pred[0, 0, 0, [0, 2, 4, 6, 8]] = torch.tensor([0.0, 0.0, 0.5, 0.5, 5.0])        # centre (0, 0), 32 x 24
    [det] = decode(pred, layout=LAYOUT, conf_threshold=0.4)                           # score σ(5)·0.5
    assert det["boxes"].tolist() == [[0, 0, 16, 12]]


def greedy_nms_reference(boxes, scores, groups, thr):
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))                # stable on ties
    kept = []
    for i in order:
        if all(groups[i] != groups[k] or box_iou(boxes[i], boxes[k]).item() <= thr for k in kept):
            kept.append(i)
    return kept


@pytest.mark.parametrize("seed", range(5))
def test_nms_equals_the_greedy_loop(seed):
    g = torch.Generator().manual_seed(seed)
    n = 60
    boxes = torch.cat([torch.rand(n, 2, generator=g) * 40, 5 + torch.rand(n, 2, generator=g) * 20], dim=1)
    scores = (torch.rand(n, generator=g) * 10).round() / 10                            # ties
    groups = torch.randint(0, 3, (n,), generator=g)
    kept = batched_nms(boxes, scores, groups, iou_threshold=0.3)
    assert kept.tolist() == greedy_nms_reference(boxes, scores, groups, 0.3)
    assert 5 < len(kept) < n                                                           # suppression happened
    agnostic = batched_nms(boxes, scores, torch.zeros_like(groups), iou_threshold=0.3)
    assert agnostic.tolist() == greedy_nms_reference(boxes, scores, torch.zeros_like(groups), 0.3)


def test_class_wise_nms_keeps_overlapping_boxes_of_other_classes():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 10, 10], [1, 1, 10, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 0]), iou_threshold=0.5).tolist() == [0, 1]
    assert batched_nms(boxes, scores, torch.zeros(3, dtype=torch.int64), iou_threshold=0.5).tolist() == [0]


def test_batch_and_empty_images():
    pred = torch.cat([oracle_pred(), torch.full((1, 3, 4, 12), -10.0, dtype=torch.float64)])
    dets = decode(pred, layout=LAYOUT)
    assert len(dets) == 2 and len(dets[0]["scores"]) == 3
    assert dets[1]["boxes"].shape == (0, 4) and dets[1]["labels"].dtype == torch.int64
