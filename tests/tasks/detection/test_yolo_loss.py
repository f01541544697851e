"""YOLO loss: the spec §6.2 hand-worked oracle (assignment by IoU, every term, both class losses), edge cases."""

from __future__ import annotations

import math

import pytest
import torch

from ltsnn.tasks.detection import YoloGrid, YoloLoss, assign_targets, box_iou, decode, yolo_loss
from spec_oracle import LAYOUT, oracle_pred          # the §6.2 head output, shared with the other test


def oracle_targets() -> list[dict[str, torch.Tensor]]:
    return [{"boxes": torch.tensor([[24.0, 32, 32, 24], [96, 33, 8, 54]], dtype=torch.float64),
             "labels": torch.tensor([0, 1])}]


EXPECTED_TERMS = {"xy": 0.0390625, "wh": 0.15625, "obj": 1369 / 39200, "noobj": 0.5 * (21 * 0.25 + 0.04) / 22}
CE = (math.log(1 + math.exp(-2)) + math.log(2)) / 2


@pytest.mark.parametrize("rounding", ["none", "ltsnn_code"])
def test_assignment_is_by_iou_not_centre_distance(rounding):
    a = assign_targets(LAYOUT.split(oracle_pred()), oracle_targets(), layout=LAYOUT, rounding=rounding)
    assert a.row.tolist() == [1, 1] and a.col.tolist() == [1, 3]
    # G1: predictor 1 has the exact centre but IoU 0.0625; predictor 0 has IoU 5/7 and must win.
    assert a.predictor.tolist() == [0, 1]
    torch.testing.assert_close(a.iou, torch.tensor([5 / 7, 0.25], dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(a.target_r, torch.tensor([0.375, 0.875], dtype=torch.float64))
    torch.testing.assert_close(a.target_c, torch.tensor([0.25, 0.125], dtype=torch.float64))
    torch.testing.assert_close(a.target_sh, torch.tensor([0.5, 0.75], dtype=torch.float64))
    torch.testing.assert_close(a.target_sw, torch.tensor([0.5, 0.25], dtype=torch.float64))


@pytest.mark.parametrize("rounding", ["none", "ltsnn_code"])
@pytest.mark.parametrize("cls_loss, cls_term, total", [("ltsnn_code", 0.25 * CE + 0.75, 1.20297264),
                                                         ("ce", CE, 0.76050084)])
def test_spec_oracle_terms(cls_loss, cls_term, total, rounding):
    terms = yolo_loss(oracle_pred(), oracle_targets(), layout=LAYOUT, cls_loss=cls_loss, rounding=rounding)
    for name, value in {**EXPECTED_TERMS, "cls": cls_term}.items():
        assert terms[name].item() == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert terms["loss"].item() == pytest.approx(total, abs=5e-9)
    assert terms["loss"].item() == pytest.approx(sum(terms[k].item() for k in EXPECTED_TERMS) + cls_term, rel=1e-12)


def test_module_matches_function_and_flat_layout():
    loss = YoloLoss(grid=(3, 4), num_boxes=2, num_classes=2, input_size=(96, 128), cls_loss="ltsnn_code")
    flat = oracle_pred().reshape(1, -1)                                             # [1, 3*4*12] = FC output
    assert loss(flat, oracle_targets())["loss"].item() == pytest.approx(1.20297264, abs=5e-9)


def test_gradients_flow_only_where_the_terms_say():
    pred = oracle_pred().requires_grad_(True)
    yolo_loss(pred, oracle_targets(), layout=LAYOUT)["loss"].backward()
    g = pred.grad[0]
    # Responsible predictor 0 of cell (1, 1): r0 error 0.125 -> d/dr0 = 5 * 2 * 0.125 / 2 (mean over 2 GT).
    assert g[1, 1, 0].item() == pytest.approx(0.625)
    # Non-responsible predictor 1 of cell (1, 1) gets no box gradient, only the no-object push on o1.
    assert g[1, 1, [1, 3, 5, 7]].abs().sum().item() == 0
    assert g[1, 1, 9].item() == pytest.approx(0.5 * 2 * 0.5 * 0.25 / 22)              # λ·2p·p(1−p)/22
    # Box outputs of cells without GT get nothing.
    assert g[0, 2, :8].abs().sum().item() == 0


def test_no_ground_truth_gives_only_the_noobj_term():
    pred = torch.zeros(2, 3, 4, 12, dtype=torch.float64)
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
    terms = yolo_loss(pred, [empty, empty], layout=LAYOUT)
    assert terms["loss"].item() == pytest.approx(0.5 * 0.25)
    assert all(terms[k].item() == 0 for k in ("xy", "wh", "obj", "cls"))


def test_two_boxes_in_one_slot_both_count_and_noobj_excludes_the_slot_once():
    pred = torch.zeros(1, 3, 4, 12, dtype=torch.float64)
    boxes = torch.tensor([[40.0, 40, 8, 8], [42, 42, 8, 8]], dtype=torch.float64)   # same cell (1, 1), both b* = 0
    terms = yolo_loss(pred, [{"boxes": boxes, "labels": torch.tensor([0, 1])}], layout=LAYOUT)
    assert terms["noobj"].item() == pytest.approx(0.5 * 0.25)                          # 23 free slots, p = 0.5
    assert terms["obj"].item() == pytest.approx(0.25)                                   # both q = 0


@pytest.mark.parametrize("boxes, labels, match", [
    ([[0.0, 0, 0, 10]], [0], r"targets\[0\]\['boxes'\]\[0\].*width, height > 0"),
    ([[120.0, 10, 20, 10]], [0], r"targets\[0\]\['boxes'\]\[0\].*centre outside the 96 x 128"),
    ([[10.0, 10, 10, 10]], [2], r"targets\[0\]\['labels'\]\[0\] = 2: expected a class id in \[0, 2\)"),
])
def test_bad_targets_raise_with_location(boxes, labels, match):
    target = {"boxes": torch.tensor(boxes), "labels": torch.tensor(labels)}
    with pytest.raises(ValueError, match=match):
        yolo_loss(torch.zeros(1, 3, 4, 12), [target], layout=LAYOUT)


def test_wrong_head_shape_names_the_expected_layout():
    with pytest.raises(ValueError, match=r"expected \[N, 3, 4, 12\] or \[N, 144\]"):
        yolo_loss(torch.zeros(1, 12, 3, 4), oracle_targets(), layout=LAYOUT)


def test_minimising_the_loss_makes_decode_return_the_ground_truth():
    """Round trip loss -> decode on a non-square frame: optimising a free head output must recover every GT box
    and class (a row/column or offset mix-up between target assignment and decoding fails this)."""
    layout = YoloGrid(grid=(6, 8), num_boxes=2, num_classes=2, input_size=(48, 64))
    targets = [{"boxes": torch.tensor([[3.0, 5, 16, 8], [40, 20, 7, 15]]), "labels": torch.tensor([0, 1])},
               {"boxes": torch.tensor([[22.0, 30, 20, 10]]), "labels": torch.tensor([1])}]
    torch.manual_seed(0)
    pred = (0.1 * torch.randn(2, layout.num_outputs)).requires_grad_(True)
    opt = torch.optim.Adam([pred], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        yolo_loss(pred, targets, layout=layout)["loss"].backward()
        opt.step()
    for det, target in zip(decode(pred, layout=layout, conf_threshold=0.3), targets):
        assert len(det["scores"]) == len(target["labels"])
        iou = box_iou(det["boxes"][:, None], target["boxes"][None])                   # [D, G]
        assert (iou.max(dim=0).values > 0.9).all()
        assert det["labels"][iou.argmax(dim=0)].tolist() == target["labels"].tolist()
