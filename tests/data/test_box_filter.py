"""Which box labels count (ltsnn.data.box_filter, spec §1.5, §6.5): the filter presets, the crop to the frame,
and the conversion of the legacy Gen1 box dtype. The same rules clean Gen1 labels and select what is evaluated."""

from __future__ import annotations

import numpy as np

from ltsnn.data.box_filter import BoxFilter, box_filter_preset, crop_to_frame
from ltsnn.data.io import BOX_DTYPE, reformat_boxes

TS = 1_000_000


def test_psee_rvt_filter_oracle():
    f = box_filter_preset("psee_rvt", "gen1")
    assert (f.min_diag, f.min_side, f.skip_us) == (30, 10, 500_000)
    boxes = np.zeros(5, dtype=BOX_DTYPE)
    boxes["t"] = [400_000, 600_000, 600_000, 600_000, 500_000]
    boxes["w"] = [40, 12, 20, 25, 40]
    boxes["h"] = [40, 8, 20, 20, 40]
    assert f.keep(boxes).tolist() == [False, False, False, True, False]
    assert box_filter_preset("psee_rvt", "gen4", downsample=2) == BoxFilter(30, 10, 500_000, name="psee_rvt/2")


def test_crop_to_frame_clips_corners_and_drops_empty_boxes():
    boxes = np.zeros(3, dtype=BOX_DTYPE)
    boxes["x"], boxes["y"], boxes["w"], boxes["h"] = [-10, 400, 300], [0, 0, 230], [30, 10, 20], [20, 10, 20]
    boxes["track_id"] = [1, 2, 3]
    out = crop_to_frame(boxes, height=240, width=304)
    assert out["track_id"].tolist() == [1, 3]                           # (400, 0) lies right of the frame
    assert out[["x", "y", "w", "h"]].tolist() == [(0, 0, 20, 20), (300, 230, 3, 9)]


def test_legacy_gen1_dtype_is_accepted():
    legacy = np.dtype([("ts", "<u8"), ("x", "<f4"), ("y", "<f4"), ("w", "<f4"), ("h", "<f4"),
                       ("class_id", "u1"), ("confidence", "<f4"), ("track_id", "<u4")])
    g = np.zeros(1, dtype=legacy)
    g[0] = (TS, 1, 2, 30, 40, 1, 1.0, 7)
    out = reformat_boxes(g)
    assert out.dtype == BOX_DTYPE and out.dtype.itemsize == 40
    assert out[0].tolist() == (TS, 1.0, 2.0, 30.0, 40.0, 1, 7, 1.0)
