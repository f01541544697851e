"""Boxes: the spec §6.1 IoU oracles in both conventions, formats, clipping."""

from __future__ import annotations

import pytest
import torch

from ltsnn.data.functional import clip_boxes
from ltsnn.tasks.detection import box_iou, crop_boxes_ltsnn_code, xywh_to_xyxy, xyxy_to_xywh


def t(*rows):
    return torch.tensor(rows, dtype=torch.float64)


@pytest.mark.parametrize("a, b, convention, expected", [
    ((0, 0, 10, 10), (5, 5, 10, 10), "continuous", 25 / 175),
    ((0, 0, 10, 10), (5, 5, 10, 10), "voc_plus_one", 36 / 206),
    ((0, 0, 4, 2), (2, 0, 4, 2), "continuous", 1 / 3),
    ((0, 0, 10, 10), (0, 0, 10, 10), "continuous", 1.0),
    ((0, 0, 10, 10), (20, 0, 10, 10), "continuous", 0.0),                 # disjoint: clamped, not negative
    ((0, 0, 10, 10), (10, 0, 10, 10), "continuous", 0.0),                 # touching edges
    ((0, 0, 10, 10), (10, 0, 10, 10), "voc_plus_one", 11 / 231),          # +1: the shared column counts
])
def test_iou_oracles(a, b, convention, expected):
    assert box_iou(t(a), t(b), convention=convention).item() == pytest.approx(expected, rel=1e-12)
    assert box_iou(t(b), t(a), convention=convention).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("zero", [(5, 5, 0, 0), (5, 5, 0, 4), (0, 0, 0, 0)])
def test_zero_size_box_has_iou_zero_without_nan(zero):
    others = t((0, 0, 10, 10), (5, 5, 0, 0), (3, 3, 4, 4))
    iou = box_iou(t(zero), others)
    assert torch.equal(iou, torch.zeros(3, dtype=torch.float64))


def test_pairwise_broadcast_matches_elementwise():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(5, 4, generator=g, dtype=torch.float64) * 20
    b = torch.rand(7, 4, generator=g, dtype=torch.float64) * 20
    m = box_iou(a[:, None], b[None])
    assert m.shape == (5, 7)
    for i in range(5):
        for j in range(7):
            assert m[i, j] == box_iou(a[i], b[j])


def test_format_round_trip():
    boxes = t((1.5, 2, 3, 4), (-1, 0, 0, 7))
    assert torch.equal(xywh_to_xyxy(boxes), t((1.5, 2, 4.5, 6), (-1, 0, -1, 7)))
    assert torch.equal(xyxy_to_xywh(xywh_to_xyxy(boxes)), boxes)


def test_clip_corners_like_rvt_versus_the_ltsnn_crop():
    boxes = t((-10, 5, 30, 10), (300, 230, 20, 20), (400, 10, 5, 5))
    # Corner clip: right edge 20 stays, so w = 20; bottom-right box shrinks to the last pixel row/column.
    assert torch.equal(clip_boxes(boxes, height=240, width=304), t((0, 5, 20, 10), (300, 230, 3, 9), (303, 10, 0, 5)))
    # The LT-SNN code clamps the left edge but keeps the full width (only capped by the frame).
    assert torch.equal(crop_boxes_ltsnn_code(boxes, height=240, width=304),
                       t((0, 5, 30, 10), (300, 230, 3, 9), (303, 10, 0, 5)))


def test_unknown_convention_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"'voc'.*\['continuous', 'voc_plus_one'\]"):
        box_iou(t((0, 0, 1, 1)), t((0, 0, 1, 1)), convention="voc")
