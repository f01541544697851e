"""Evaluation: the spec §6.4 AP oracles (COCO and VOC), §6.5 filtering and time matching, and cross-checks of
the COCO numbers against pycocotools and of the vectorised VOC matching against a plain loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("faster_coco_eval", reason="the 'detection' extra (faster-coco-eval) is not installed")

from ltsnn.data.box_filter import box_filter_preset  # noqa: E402
from ltsnn.tasks.detection import box_array, evaluate_detections, every_point_ap  # noqa: E402

H, W = 240, 304
NO_FILTER = box_filter_preset("none")
TS = 1_000_000


def image(gt, dt, gt_labels=None, dt_labels=None):
    """One recording with one label instant: gt [(x, y, w, h)], dt [((x, y, w, h), score)]."""
    g = box_array(TS, np.array(gt, dtype=float).reshape(-1, 4), gt_labels if gt_labels is not None else [0] * len(gt))
    d = box_array(TS, np.array([b for b, _ in dt], dtype=float).reshape(-1, 4),
                  dt_labels if dt_labels is not None else [0] * len(dt), [s for _, s in dt])
    return g, d


def evaluate(recordings, *, classes=("car",), **kw):
    gt, dt = zip(*recordings)
    return evaluate_detections(list(gt), list(dt), height=H, width=W, class_names=classes,
                               box_filter=kw.pop("box_filter", NO_FILTER), **kw)


# (case, recordings, COCO mAP@[.5:.95], COCO AP50, VOC every-point AP50) from spec §6.4.
CASES = {
    "A perfect": ([image([(10, 10, 20, 20)], [((10, 10, 20, 20), 0.9)]),
                   image([(50, 50, 40, 20)], [((50, 50, 40, 20), 0.8)])], 1.0, 1.0, 1.0),
    "B half recall, TP first": ([image([(0, 0, 10, 10), (20, 0, 10, 10)],
                                       [((0, 0, 10, 10), 0.9), ((100, 100, 10, 10), 0.8)])], 51 / 101, 51 / 101, 0.5),
    "B2 half recall, FP first": ([image([(0, 0, 10, 10), (20, 0, 10, 10)],
                                        [((0, 0, 10, 10), 0.8), ((100, 100, 10, 10), 0.9)])],
                                 0.252475, 0.252475, 0.25),
    "C duplicate ranked last": ([image([(0, 0, 10, 10)], [((0, 0, 10, 10), 0.9), ((0, 0, 10, 10), 0.8)])],
                                1.0, 1.0, 1.0),
    "C2 duplicate between TPs": ([image([(0, 0, 10, 10), (20, 0, 10, 10)],
                                        [((0, 0, 10, 10), 0.9), ((1, 0, 10, 10), 0.8), ((20, 0, 10, 10), 0.7)])],
                                 (51 + 50 * 2 / 3) / 101, (51 + 50 * 2 / 3) / 101, 5 / 6),
    "C3 after NMS": ([image([(0, 0, 10, 10), (20, 0, 10, 10)], [((0, 0, 10, 10), 0.9), ((20, 0, 10, 10), 0.7)])],
                     1.0, 1.0, 1.0),
    "D localisation": ([image([(0, 0, 10, 10)], [((0, 0, 10, 16), 0.9)])], 0.3, 1.0, 1.0),
    "F cross-image": ([image([(0, 0, 10, 10)], [((50, 50, 10, 10), 0.9)]), image([(50, 50, 10, 10)], [])],
                      0.0, 0.0, 0.0),
}


@pytest.mark.parametrize("backend", ["faster_coco_eval", "pycocotools"])
@pytest.mark.parametrize("case", list(CASES))
def test_spec_ap_oracles(case, backend):
    if backend == "pycocotools":
        pytest.importorskip("pycocotools")
    recordings, coco_map, coco_ap50, voc = CASES[case]
    result = evaluate(recordings, backend=backend)
    assert result["map"] == pytest.approx(coco_map, abs=1e-6)
    assert result["map50"] == pytest.approx(coco_ap50, abs=1e-6)
    assert result["voc_ap50"] == pytest.approx(voc, abs=1e-12)


def test_two_classes_oracle_e():
    recordings = [image([(0, 0, 10, 10), (40, 0, 10, 10), (60, 0, 10, 10)],
                        [((0, 0, 10, 10), 0.9), ((40, 0, 10, 10), 0.8), ((200, 200, 10, 10), 0.7)],
                        gt_labels=[0, 1, 1], dt_labels=[0, 1, 1])]
    result = evaluate(recordings, classes=("car", "pedestrian"))
    assert result["map"] == pytest.approx((1 + 51 / 101) / 2, abs=1e-9)
    assert result["per_class_ap"] == pytest.approx({"car": 1.0, "pedestrian": 51 / 101}, abs=1e-9)
    assert result["per_class_ap50"] == pytest.approx({"car": 1.0, "pedestrian": 51 / 101}, abs=1e-9)
    assert result["voc_ap50"] == pytest.approx(0.75)
    assert result["voc_per_class_ap50"] == pytest.approx({"car": 1.0, "pedestrian": 0.5})


def test_pooled_image_ids_reproduce_the_ltsnn_bug_oracle_f():
    recordings, *_ = CASES["F cross-image"]
    assert evaluate(recordings)["voc_ap50"] == 0.0
    assert evaluate(recordings, voc_pooled_image_ids=True)["voc_ap50"] == pytest.approx(0.5)


def test_class_without_gt_is_nan_and_left_out_of_the_mean():
    recordings = [image([(0, 0, 10, 10)], [((0, 0, 10, 10), 0.9), ((100, 0, 10, 10), 0.8)], dt_labels=[0, 1])]
    result = evaluate(recordings, classes=("car", "pedestrian"))
    assert result["map"] == pytest.approx(1.0) and result["voc_ap50"] == pytest.approx(1.0)
    assert math.isnan(result["per_class_ap"]["pedestrian"]) and math.isnan(result["voc_per_class_ap50"]["pedestrian"])


def test_no_predictions_gives_zero_without_calling_cocoeval():
    result = evaluate([image([(0, 0, 10, 10)], [])])
    assert result["map"] == 0.0 and result["map50"] == 0.0 and result["voc_ap50"] == 0.0
    assert result["num_dt"] == 0 and result["num_gt"] == 1


def test_every_point_ap_is_the_area_under_the_envelope():
    # precision 1, 0.5, 2/3 at recall 0.5, 0.5, 1: envelope 1 up to 0.5, then 2/3.
    assert every_point_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(5 / 6)


# ---- filtering and time matching (§6.5) ------------------------------------------------------------------------

def test_time_matching_window_is_closed_and_per_instant():
    gt = box_array(TS, np.array([[10.0, 10, 40, 40]]), [0])
    times = np.array([949_999, 950_000, 1_050_000, 1_050_001])
    # Four exact predictions at the four times: only the two inside [ts − 50 ms, ts + 50 ms] join the image.
    dt = box_array(times, np.tile([[10.0, 10, 40, 40]], (4, 1)), [0] * 4, [0.9, 0.8, 0.7, 0.6])
    result = evaluate_detections([gt], [dt], height=H, width=W, class_names=("car",), box_filter=NO_FILTER)
    assert result["num_images"] == 1 and result["num_dt"] == 2
    # An instant whose GT is all filtered out contributes no image (its FP costs nothing).
    gt2 = box_array(np.array([TS, 2 * TS]), np.array([[10.0, 10, 40, 40], [10, 10, 5, 5]]), [0, 0])
    dt2 = box_array(np.array([TS, 2 * TS]), np.array([[10.0, 10, 40, 40], [100, 100, 40, 40]]), [0, 0], [0.9, 0.9])
    result = evaluate_detections([gt2], [dt2], height=H, width=W, class_names=("car",),
                                 box_filter=box_filter_preset("psee_rvt"))
    assert result["num_images"] == 1 and result["map"] == pytest.approx(1.0)


def test_gt_is_cropped_to_the_frame_and_empty_boxes_dropped():
    # (−10, 0, 30, 20) crops to (0, 0, 20, 20); the exact cropped prediction is then perfect.
    gt = box_array(TS, np.array([[-10.0, 0, 30, 20], [400, 0, 10, 10]]), [0, 0])
    dt = box_array(TS, np.array([[0.0, 0, 20, 20]]), [0], [0.9])
    result = evaluate_detections([gt], [dt], height=H, width=W, class_names=("car",), box_filter=NO_FILTER)
    assert result["num_gt"] == 1 and result["map"] == pytest.approx(1.0)


@pytest.mark.parametrize("which, match", [("gt", r"gt\[0\]: boxes must be sorted by t; box 1 has t = 5"),
                                          ("dt", r"dt\[0\]: boxes must be sorted by t; box 1 has t = 5")])
def test_unsorted_arrays_raise_with_the_index(which, match):
    arrays = {"gt": box_array(np.array([10, 5]), np.ones((2, 4)) * 40, [0, 0]),
              "dt": box_array(np.array([10, 5]), np.ones((2, 4)) * 40, [0, 0], [0.5, 0.5])}
    ok = box_array(np.array([10]), np.ones((1, 4)) * 40, [0], [0.5])
    gt, dt = (arrays["gt"], ok) if which == "gt" else (ok, arrays["dt"])
    with pytest.raises(ValueError, match=match):
        evaluate_detections([gt], [dt], height=H, width=W, class_names=("car",), box_filter=NO_FILTER)


def test_unknown_class_id_raises():
    gt = box_array(TS, np.ones((1, 4)) * 40, [3])
    with pytest.raises(ValueError, match=r"gt\[0\]: box 0 has class_id 3; expected a class id in \[0, 2\)"):
        evaluate_detections([gt], [gt], height=H, width=W, class_names=("car", "ped"), box_filter=NO_FILTER)


# ---- cross-checks on random boxes ------------------------------------------------------------------------------

def random_recordings(seed: int, n_images: int = 30, n_classes: int = 3):
    """Jittered copies of GT (so IoUs spread over the COCO thresholds), misses, false positives, score ties."""
    rng = np.random.default_rng(seed)
    recordings = []
    for _ in range(n_images):
        g = rng.integers(1, 6)
        gt = np.column_stack([rng.uniform(0, 250, g), rng.uniform(0, 190, g), rng.uniform(8, 60, g),
                              rng.uniform(8, 60, g)])
        gl = rng.integers(0, n_classes, g)
        keep = rng.random(g) < 0.8
        dt = gt[keep] + rng.normal(0, 3, (int(keep.sum()), 4))
        dl = np.where(rng.random(int(keep.sum())) < 0.9, gl[keep], rng.integers(0, n_classes, int(keep.sum())))
        f = rng.integers(0, 4)
        dt = np.vstack([dt, np.column_stack([rng.uniform(0, 250, f), rng.uniform(0, 190, f),
                                             rng.uniform(8, 60, (f, 2))]), dt[:1] + 1.5])
        dl = np.concatenate([dl, rng.integers(0, n_classes, f), dl[:1]]).astype(int)
        dt[:, 2:] = np.abs(dt[:, 2:]) + 1
        scores = np.round(rng.random(len(dt)), 1)                                     # many ties
        recordings.append((box_array(TS, gt, gl), box_array(TS, dt, dl, scores)))
    return recordings


def pycocotools_reference(recordings, n_classes):
    """COCO mAP, AP50 and per-class AP straight from pycocotools on a dataset built here."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    import contextlib, io
    images, anns, res = [], [], []
    for i, (g, d) in enumerate(recordings):
        images.append({"id": i + 1, "height": H, "width": W})
        for row in g:
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(row["class_id"]) + 1,
                         "bbox": [float(row[f]) for f in "xywh"], "area": float(row["w"]) * float(row["h"]),
                         "iscrowd": 0})
        for row in d:
            res.append({"image_id": i + 1, "category_id": int(row["class_id"]) + 1,
                        "bbox": [float(row[f]) for f in "xywh"], "score": float(row["class_confidence"])})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": k + 1, "name": str(k)} for k in range(n_classes)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(res), "bbox")
        ev.evaluate(), ev.accumulate(), ev.summarize()
    per_class = [float(ev.eval["precision"][:, :, k, 0, -1].mean()) for k in range(n_classes)]
    return ev.stats, per_class


@pytest.mark.parametrize("seed", [0, 1])
def test_coco_map_equals_pycocotools_on_random_boxes(seed):
    pytest.importorskip("pycocotools")
    recordings = random_recordings(seed)
    stats, per_class = pycocotools_reference(recordings, 3)
    result = evaluate(recordings, classes=("a", "b", "c"))                             # default backend
    assert 0.05 < result["map"] < result["map50"] < 1                                  # a non-trivial case
    for name, value in zip(("map", "map50", "map75", "map_small", "map_medium", "map_large"), stats[:6]):
        assert result[name] == pytest.approx(value, abs=1e-9), name
    assert list(result["per_class_ap"].values()) == pytest.approx(per_class, abs=1e-9)


def naive_voc_ap50(recordings, n_classes):
    """The LT-SNN/Padilla evaluator written as plain loops over detections, +1 convention."""
    def iou(a, b):
        ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
        iw = min(ax2, bx2) - max(a[0], b[0]) + 1
        ih = min(ay2, by2) - max(a[1], b[1]) + 1
        if iw <= 0 or ih <= 0:
            return 0.0
        inter = iw * ih
        return inter / ((a[2] + 1) * (a[3] + 1) + (b[2] + 1) * (b[3] + 1) - inter)

    aps = []
    for k in range(n_classes):
        gts = {i: [[float(r[f]) for f in "xywh"] for r in g if r["class_id"] == k] for i, (g, _) in
               enumerate(recordings)}
        dets = [(i, float(r["class_confidence"]), [float(r[f]) for f in "xywh"])
                for i, (_, d) in enumerate(recordings) for r in d if r["class_id"] == k]
        dets = sorted(dets, key=lambda x: x[1], reverse=True)
        npos = sum(len(v) for v in gts.values())
        seen = {i: [False] * len(v) for i, v in gts.items()}
        tp = []
        for i, _, box in dets:
            best, jbest = 0.0, -1
            for j, g in enumerate(gts[i]):
                v = iou(box, g)
                if v > best:
                    best, jbest = v, j
            hit = best >= 0.5 and not seen[i][jbest]
            if hit:
                seen[i][jbest] = True
            tp.append(hit)
        tpc = np.cumsum(tp)
        aps.append(every_point_ap(tpc / npos, tpc / np.arange(1, len(tp) + 1)))
    return float(np.mean(aps))


def test_voc_ap50_matches_a_plain_loop_on_random_boxes():
    recordings = random_recordings(3, n_images=40)
    result = evaluate(recordings, classes=("a", "b", "c"))
    assert result["voc_ap50"] == pytest.approx(naive_voc_ap50(recordings, 3), abs=1e-12)


def test_missing_backend_names_the_extra(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "faster_coco_eval", None)                       # import now fails
    with pytest.raises(ModuleNotFoundError, match=r"faster-coco-eval.*ltsnn\[detection\]"):
        evaluate([image([(0, 0, 10, 10)], [((0, 0, 10, 10), 0.9)])])


def test_unknown_backend_and_preset_list_the_known_names():
    with pytest.raises(ValueError, match=r"unknown COCO backend 'coco'.*faster_coco_eval"):
        evaluate([image([(0, 0, 10, 10)], [((0, 0, 10, 10), 0.9)])], backend="coco")
    with pytest.raises(ValueError, match=r"\('cordone', 'gen4'\).*psee_rvt"):
        box_filter_preset("cordone", "gen4")
