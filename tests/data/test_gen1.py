"""Gen1 / 1 Mpx recordings -> samples per label instant (spec detection.md §1, §2.1).

No real ``_bbox.npy`` exists here: box files are written in the published dtypes, and recordings are exported
from MovingShapes-DVS (exact boxes, DAT v2 events). The event side is checked on the real DAT fixtures.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from ltsnn.data import shapes as synthetic
from ltsnn.data.box_filter import box_filter_preset
from ltsnn.data.datasets.gen1 import SENSORS, Gen1Detection, clean_boxes, gen1, label_instants, ltsnn_official_start
from ltsnn.data.datasets.moving_shapes import shapes_frames
from ltsnn.data.io import BOX_DTYPE, DatFile, read_dat
from ltsnn.data.shapes import GEN1_LEGACY_BOX_DTYPE

NONE = box_filter_preset("none")
FIXTURES = Path(os.environ.get("LTSNN_FIXTURES", Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"))


@pytest.fixture(scope="module")
def manifest() -> dict[str, dict[str, str]]:
    """MANIFEST.csv rows of the real recordings (as tests/data/conftest.py finds them); skips if absent."""
    if not (FIXTURES / "MANIFEST.csv").is_file():
        pytest.skip(f"real event recordings not found at {FIXTURES} (set LTSNN_FIXTURES to the fixtures folder)")
    with open(FIXTURES / "MANIFEST.csv", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def _boxes(rows, dtype=BOX_DTYPE):
    """rows of (t, x, y, w, h, class_id, track_id) -> a box array of ``dtype`` (legacy: ts / confidence)."""
    out = np.zeros(len(rows), dtype=dtype)
    t = "ts" if "ts" in dtype.names else "t"
    for i, (ts, x, y, w, h, k, track) in enumerate(rows):
        out[i][t], out[i]["x"], out[i]["y"], out[i]["w"], out[i]["h"] = ts, x, y, w, h
        out[i]["class_id"], out[i]["track_id"] = k, track
    return out


@pytest.mark.parametrize("dtype", [BOX_DTYPE, GEN1_LEGACY_BOX_DTYPE])
def test_clean_boxes_crops_drops_and_counts(dtype):
    rows = [(1000, -10, 5, 50, 40, 0, 1),        # crossing the left edge: cropped to x 0 .. 40
            (1000, 310, 5, 20, 20, 1, 2),        # entirely right of the 304-px frame: zero width
            (1000, 20, 20, 30, 30, 0, 3),        # track 3, first record ...
            (1000, 22, 21, 30, 30, 0, 3),        # ... and its last, which is kept
            (2000, 20, 20, 12, 8, 1, 4),         # h < 10 (psee_rvt side)
            (2000, 20, 20, 20, 20, 0, 5),        # 20² + 20² < 30²
            (2000, 0, 0, 290, 60, 0, 6),         # wider than 0.9 · 304 = 273.6: faulty in training
            (3000, 10, 10, 25, 20, 1, 7)]        # kept: 1025 >= 900, sides >= 10
    boxes, counts = clean_boxes(_boxes(rows, np.dtype(dtype)), sensor=SENSORS["gen1"],
                                box_filter=box_filter_preset("psee_rvt"), drop_wide=True)
    assert counts == (1, 1, 2, 1, 0)             # outside, repeated_track, filtered, faulty_wide, other_class
    assert boxes["track_id"].tolist() == [1, 3, 7] and boxes.dtype == BOX_DTYPE
    np.testing.assert_allclose([boxes["x"][0], boxes["w"][0]], [0, 40])
    np.testing.assert_allclose(boxes["x"][1], 22)
    _, kept_wide = clean_boxes(_boxes(rows), sensor=SENSORS["gen1"], box_filter=NONE, drop_wide=False)
    assert kept_wide == (1, 1, 0, 0, 0)
    assert [t for t, _ in label_instants(boxes)] == [1000, 3000]


def test_gen4_keeps_the_three_evaluated_classes():
    rows = [(0, 10, 10, 40, 40, k, k) for k in range(7)]
    boxes, counts = clean_boxes(_boxes(rows), sensor=SENSORS["gen4"], box_filter=NONE, drop_wide=False)
    assert boxes["class_id"].tolist() == [0, 1, 2] and counts.other_class == 4
    assert SENSORS["gen4"].classes[2] == "car" and SENSORS["gen1"].classes[0] == "car"


def test_ltsnn_official_window_start_by_hand():
    # t = index, ts = 600 000: bisection keeps [500 000, 1e6) -> [500 000, 750 000) -> [500 000, 625 000), where
    # 125 000 <= 125 000 events remain: the window is [500 000, 525 000), ending 75 000 events before ts.
    t = np.arange(1_000_000, dtype=np.uint32)
    assert ltsnn_official_start(t, 600_000) == 500_000
    assert ltsnn_official_start(t, 700_000) == 625_000          # [625 000, 750 000) after four halvings
    assert ltsnn_official_start(t[:100_000], 50_000) == 0          # short recordings: from the start


@pytest.mark.parametrize("name", ["ncars/tonic_sample_ncars.dat", "ncars/expelliarmus_NCARS_obj_004397_td.dat",
                                  "prophesee_dat/faery_gen4_imx636.dat"])
def test_datfile_matches_the_reader_on_real_files(manifest, name):
    dat = DatFile(FIXTURES / name)
    assert len(dat) == int(manifest[name]["events"])
    events = dat.events(0, len(dat))
    np.testing.assert_array_equal(events, read_dat(FIXTURES / name).events)
    t = events["t"]
    middle = int(t[len(t) // 2])
    start = dat.search(middle - 10_000)
    assert (t[:start] < middle - 10_000).all() and t[start] >= middle - 10_000


def _export(folder: Path, count: int) -> list[synthetic.Sample]:
    params = synthetic.ShapesParams()
    samples = [synthetic.generate_sample(params, seed=9, index=i) for i in range(count)]
    for i, s in enumerate(samples):
        synthetic.export_gen1(s, folder, f"rec{i:02d}", params)
    return samples


def test_exported_recordings_round_trip_through_the_gen1_data_set(tmp_path):
    split = tmp_path / "test"
    samples = _export(split, 3)
    params = synthetic.ShapesParams()
    ds = Gen1Detection(split, n_time_bins=4, box_filter=NONE, drop_wide=False)
    assert len(ds) == 3 and ds.sensor_size == (304, 240) and ds.input_size == (240, 304)
    for i, s in enumerate(samples):
        frames, target = ds[i]
        assert target["t_us"] == params.label_us and target["recording"] == i
        np.testing.assert_array_equal(target["boxes"].numpy(), s.boxes)
        window = ds.window_events(i)
        expected = s.events[s.events["t"] >= params.label_us - params.window_us]
        np.testing.assert_array_equal(window, expected)              # [t_L − 50 ms, t_L), file order
        np.testing.assert_array_equal(frames[:, :, :48, :64].numpy(),
                                      shapes_frames(s, params, n_time_bins=4, bin_by="duration", binary=True))
        assert frames[:, :, 48:].sum() == 0 and frames[:, :, :, 64:].sum() == 0
    half = Gen1Detection(split, n_time_bins=4, box_filter=NONE, drop_wide=False, input_size=(120, 152))
    frames, target = half[0]
    assert frames.shape == (4, 2, 120, 152)
    np.testing.assert_allclose(target["boxes"].numpy(), samples[0].boxes * 0.5, rtol=1e-6)
    np.testing.assert_array_equal(frames.numpy(), ds[0][0].numpy()[:, :, ::2, ::2])


def test_a_split_whose_every_instant_is_filtered_is_a_one_line_error(tmp_path):
    _export(tmp_path / "test", 2)                               # label instants at 0.1 s: psee_rvt skips 0.5 s
    with pytest.raises(ValueError, match="no labelled instant left after the box filter"):
        Gen1Detection(tmp_path / "test", n_time_bins=2, box_filter=box_filter_preset("psee_rvt"), drop_wide=False)


def test_registered_factory_and_missing_files(tmp_path):
    _export(tmp_path / "train", 2)
    ds = gen1(split="train", root=str(tmp_path), n_time_bins=1, bin_by="duration", seed=0, box_filter="none",
              window="ltsnn_official")
    frames, _ = ds[0]
    assert frames.shape == (1, 2, 240, 304) and ds.task == "detection"
    n_events = len(ds.window_events(0))                 # 25 000 events from the search's start, or fewer
    assert 0 < n_events <= 25_000
    with pytest.raises(FileNotFoundError, match="no such folder"):
        gen1(split="test", root=str(tmp_path), n_time_bins=1, bin_by="duration", seed=0)
    (tmp_path / "train" / "rec00_bbox.npy").unlink()
    with pytest.raises(FileNotFoundError, match="rec00_bbox.npy"):
        gen1(split="train", root=str(tmp_path), n_time_bins=1, bin_by="duration", seed=0)


def test_unsorted_box_files_are_refused(tmp_path):
    _export(tmp_path, 1)
    rows = [(2000, 10, 10, 40, 40, 0, 0), (1000, 10, 10, 40, 40, 0, 1)]
    np.save(tmp_path / "rec00_bbox.npy", _boxes(rows, GEN1_LEGACY_BOX_DTYPE))
    with pytest.raises(ValueError, match="rec00_bbox.npy: box 1 has t = 1000"):
        Gen1Detection(tmp_path, n_time_bins=1, box_filter=NONE, drop_wide=False)
