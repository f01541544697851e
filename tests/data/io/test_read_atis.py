import numpy as np
import pytest

from ltsnn.data import make_events, to_frames
from ltsnn.data.io import NMNIST_SENSOR_SIZE, Recording, read_atis_bin


def encode_atis(events: np.ndarray) -> bytes:
    """The 40-bit layout written from its published description (independent of the reader)."""
    out = bytearray()
    for t, x, y, p in events.tolist():
        out += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def test_round_trip_of_bit_fields(tmp_path):
    events = make_events(t=[0, 255, 256, 65_536, 8_388_607], x=[0, 33, 255, 7, 1], y=[0, 33, 3, 239, 2], p=[1, 0, 1, 0, 1])
    path = tmp_path / "sample.bin"
    path.write_bytes(encode_atis(events))
    recording = read_atis_bin(path)
    assert isinstance(recording, Recording) and recording.sensor_size is None   # no header: size not stated
    np.testing.assert_array_equal(recording.events, events)


def test_n_caltech101_sized_recording_round_trips(tmp_path):
    # N-Caltech101 uses the same layout on crops up to 240x180 (x up to 239, y up to 179).
    rng = np.random.default_rng(0)
    n = 500
    events = make_events(t=np.sort(rng.integers(0, 300_000, n)), x=rng.integers(0, 240, n), y=rng.integers(0, 180, n),
                         p=rng.integers(0, 2, n))
    path = tmp_path / "image_0001.bin"
    path.write_bytes(encode_atis(events))
    np.testing.assert_array_equal(read_atis_bin(path).events, events)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    events = read_atis_bin(path).events
    assert events.shape == (0,)
    assert to_frames(events, sensor_size=NMNIST_SENSOR_SIZE, n_time_bins=3).shape == (3, 2, 34, 34)


def test_truncated_file_names_file_and_offset(tmp_path):
    path = tmp_path / "cut.bin"
    path.write_bytes(bytes(12))
    with pytest.raises(ValueError, match=r"cut\.bin.*byte offset 10.*12 bytes"):
        read_atis_bin(path)


def test_overflow_record_is_refused_with_its_offset(tmp_path):
    events = make_events(t=[1, 2, 3], x=[1, 2, 3], y=[1, 240, 3], p=[0, 1, 0])
    path = tmp_path / "overflow.bin"
    path.write_bytes(encode_atis(events))
    with pytest.raises(ValueError, match=r"event 1 \(byte offset 5\).*y = 240"):
        read_atis_bin(path)


def test_time_going_back_is_refused_with_its_index(tmp_path):
    events = make_events(t=[10, 20, 15], x=[1, 2, 3], y=[1, 2, 3], p=[0, 1, 0])
    path = tmp_path / "back.bin"
    path.write_bytes(encode_atis(events))
    with pytest.raises(ValueError, match=r"event 2 \(byte offset 10\).*15 µs.*20 µs"):
        read_atis_bin(path)


def test_tonic_sample_matches_manifest(fixtures_dir, manifest):
    row = manifest["nmnist/tonic_sample_nmnist.bin"]
    events = read_atis_bin(fixtures_dir / "nmnist/tonic_sample_nmnist.bin").events
    assert len(events) == int(row["events"]) == 4325
    assert f"[{events['x'].min()}, {events['x'].max()}]" == row["x_range"]
    assert f"[{events['y'].min()}, {events['y'].max()}]" == row["y_range"]
    assert (events["t"][-1] - events["t"][0]) / 1000 == pytest.approx(float(row["span_ms"]), abs=1e-3)
    assert events[0].tolist() == (654, 7, 15, 1)
    assert events[-1].tolist()[0] == 311_175
    assert 0.45 < events["p"].mean() < 0.55
    frames = to_frames(events, sensor_size=NMNIST_SENSOR_SIZE, n_time_bins=3, binary=False)   # validates too
    assert frames.sum() == 4325


def test_nmnist_small_matches_manifest(fixtures_dir, manifest):
    folder = fixtures_dir / "nmnist_small"
    lines = (folder / "train1K.txt").read_text().splitlines()[1:]
    labels = dict(line.split() for line in lines)
    assert len(labels) == 1000
    for sample_id, label in labels.items():
        name = f"nmnist_small/{sample_id}.bs2"
        events = read_atis_bin(fixtures_dir / name).events     # also checks time never decreases
        assert len(events) == int(manifest[name]["events"]), name
        assert manifest[name]["label"] == label, name
        assert events["x"].max() < 34 and events["y"].max() < 34, name
