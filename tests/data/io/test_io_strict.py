"""Strictness (issue 14, findings 5, 7, 8): counter wraps only when the data confirm them, negative
AEDAT 4 times, sensor-size bombs, event-less samples and repeated split-list entries are errors
naming the file. Each test failed on the code before these checks."""

import numpy as np
import pytest

from ltsnn.data import create_dataset, make_events
from ltsnn.data.box_filter import box_filter_preset
from ltsnn.data.datasets.gen1 import Gen1Detection
from ltsnn.data.io import (BOX_DTYPE, MAX_SENSOR_SIDE, iter_events, read_aedat, read_aedat4, read_aedat_sample,
                           read_atis_sample, read_cifar10dvs, read_dat, read_events, read_evt3)

import io_encoders as enc

TOP = 1 << 32


@pytest.fixture(params=["compiled", "numpy"])
def io_path(request, monkeypatch):
    """Run the test on both decoder paths (see ltsnn.data.io.jit)."""
    if request.param == "compiled":
        pytest.importorskip("numba")
        monkeypatch.delenv("LTSNN_IO_NUMPY", raising=False)
    else:
        monkeypatch.setenv("LTSNN_IO_NUMPY", "1")
    return request.param


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def aedat2_file(tmp_path, name, times):
    address = enc.dvs128_address(3, 4, 0)
    return write(tmp_path, name, enc.aedat2([(address, t) for t in times]))


# --- finding 5: a corrupted timestamp is not a counter wrap ------------------------------------------------

def test_aedat2_true_wrap_is_unwrapped_at_every_chunking(tmp_path, io_path):
    times = [TOP - 300, TOP - 200, TOP - 100, TOP - 50, TOP - 10, 5, 20, 40, 80, 100]
    path = aedat2_file(tmp_path, "wrap.aedat", times)
    expected = [t if t >= TOP // 2 else t + TOP for t in times]
    for read in (read_aedat, read_cifar10dvs):
        assert read(path).events["t"].tolist() == expected
    for chunk_size in (1, 3, 5):                   # the wrap's context crosses chunk boundaries
        chunks = list(iter_events(path, chunk_size=chunk_size, format="cifar10dvs"))
        assert np.concatenate(chunks)["t"].tolist() == expected


@pytest.mark.parametrize("times, record, before, after", [
    # a recording near 0 with one timestamp corrupted to a value near the top: the fall after it
    ([1000, 2000, 3000, TOP - 500, 4000, 5000, 6000], 4, TOP - 500, 4000),
    # a recording near the top with one timestamp corrupted to a small value
    ([TOP - 500, TOP - 400, TOP - 300, 7, TOP - 200, TOP - 100], 3, TOP - 300, 7),
    # a true-looking fall as the very last record: nothing after it confirms the wrap
    ([TOP - 500, TOP - 400, TOP - 300, TOP - 200, 7], 4, TOP - 200, 7),
])
def test_aedat2_corrupted_timestamp_is_an_error(tmp_path, io_path, times, record, before, after):
    path = aedat2_file(tmp_path, "bad.aedat", times)
    offset = len(enc.AEDAT2_HEADER) + 8 * record
    for read in (read_aedat, read_cifar10dvs):
        with pytest.raises(ValueError, match=rf"bad\.aedat.*record {record} \(byte offset {offset}\): timestamp falls "
                                             rf"from {before} to {after} µs, which is not a 32-bit counter wrap"):
            read(path)


def evt3_file(tmp_path, name, highs):
    """One ADDR_X event after each TIME_HIGH of ``highs``."""
    words = [enc.evt3_addr_y(1)]
    for high in highs:
        words += [enc.evt3_time_high(high), enc.evt3_addr_x(2, 1)]
    return write(tmp_path, name, enc.raw_file(["evt 3.0"], words, "<u2"))


def test_evt3_true_wrap_is_confirmed(tmp_path, io_path):
    highs = [4092, 4093, 4094, 4095, 0, 1, 2]
    recording = read_evt3(evt3_file(tmp_path, "wrap.raw", highs))
    assert recording.events["t"].tolist() == [(h << 12) + (1 << 24) * (h < 2048) for h in highs]


@pytest.mark.parametrize("highs, word, before, after", [
    ([4090, 4091, 4092, 3, 4093, 4094], 7, 4092, 3),     # one corrupted TIME_HIGH near 0 in a stream near the top
    ([1, 2, 4095, 3, 4], 7, 4095, 3),                    # one corrupted near the top in a stream near 0
    ([4093, 4094, 4095, 0], 7, 4095, 0),                 # the wrap is the last TIME_HIGH: nothing confirms it
])
def test_evt3_corrupted_time_high_is_an_error(tmp_path, io_path, highs, word, before, after):
    with pytest.raises(ValueError, match=rf"bad\.raw.*word {word} \(byte offset \d+\): EVT_TIME_HIGH falls from "
                                         rf"{before} to {after} .*not a 24-bit counter wrap"):
        read_evt3(evt3_file(tmp_path, "bad.raw", highs))


def test_aedat4_negative_timestamp_is_an_error(tmp_path):
    events = make_events(t=[5, -3, 9], x=[1, 2, 3], y=[1, 2, 3], p=[1, 0, 1])
    path = write(tmp_path, "neg.aedat4", enc.aedat4([events[:1], events[1:]]))
    with pytest.raises(ValueError, match=r"neg\.aedat4.*packet at byte offset \d+: event 0 has timestamp -3; "
                                         r"expected >= 0 µs"):
        read_aedat4(path)


# --- finding 7: sensor-size bombs --------------------------------------------------------------------------

@pytest.mark.parametrize("header, key", [
    (b"% Width 11000\n% Height 11000\n", "Width"),                    # as in the finding: a tiny file
    (b"% geometry 640x9000\n", "geometry height"),
    (b"% format EVT3;height=720;width=65535\n", "format width"),
])
def test_header_sensor_size_is_capped(tmp_path, header, key):
    path = write(tmp_path, "bomb.dat", header + b"\x00\x08" + bytes(8))
    with pytest.raises(ValueError, match=rf"bomb\.dat.*header field '{key}'.*expected 1\.\.{MAX_SENSOR_SIDE} pixels"):
        read_dat(path)
    with pytest.raises(ValueError, match=rf"bomb\.dat.*'{key}'"):
        read_events(path)


def test_aedat4_stream_size_is_capped(tmp_path):
    path = write(tmp_path, "bomb.aedat4", enc.aedat4([make_events(t=[1], x=[1], y=[1], p=[1])], size=(11000, 260)))
    with pytest.raises(ValueError, match=rf"bomb\.aedat4.*infoNode stream 0 sizeX.*sensor side 11000; expected "
                                         rf"1\.\.{MAX_SENSOR_SIDE}"):
        read_aedat4(path)


# --- finding 8: event-less samples, repeated split-list entries --------------------------------------------

def atis_bytes(events) -> bytes:
    """ATIS 40-bit records: x, y, p << 7 | t bits 22-16, t bits 15-8, t bits 7-0."""
    return b"".join(bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF]) for t, x, y, p in events.tolist())


def test_empty_file_is_not_a_sample(tmp_path):
    for folder in ("Train", "Test"):
        for d in range(10):
            (tmp_path / folder / str(d)).mkdir(parents=True)
            events = make_events(t=[1, 2], x=[d, d], y=[1, 2], p=[1, 0])
            write(tmp_path / folder / str(d), "00000.bin", atis_bytes(events))
    empty = write(tmp_path / "Train" / "4", "00001.bin", b"")
    assert len(create_dataset("nmnist", split="test", root=tmp_path, n_time_bins=2)) == 10
    with pytest.raises(ValueError, match=rf"{empty}.*no events.*expected at least one event"):
        create_dataset("nmnist", split="train", root=tmp_path, n_time_bins=2)
    with pytest.raises(ValueError, match=r"header\.aedat.*no events"):     # a header-only file too
        read_aedat_sample(write(tmp_path, "header.aedat", enc.AEDAT2_HEADER))
    assert len(read_atis_sample(tmp_path / "Train" / "4" / "00000.bin").events) == 2


def test_empty_detection_recording_is_an_error(tmp_path):
    boxes = np.zeros(1, dtype=BOX_DTYPE)
    boxes[0]["t"], boxes[0]["w"], boxes[0]["h"] = 100_000, 40, 40
    np.save(tmp_path / "rec_bbox.npy", boxes)
    (tmp_path / "rec_td.dat").write_bytes(b"")
    dataset = Gen1Detection(tmp_path, n_time_bins=1, box_filter=box_filter_preset("none"), drop_wide=False)
    with pytest.raises(ValueError, match=r"rec_td\.dat: no events"):
        dataset[0]


def test_duplicate_ids_in_split_lists(tmp_path):
    (tmp_path / "train1K.txt").write_text("#sample #class\n1\t3\n2\t5\n1\t3\n")
    with pytest.raises(ValueError, match=r"train1K\.txt: id 1 is listed more than once"):
        create_dataset("nmnist_small", split="train", root=tmp_path, n_time_bins=2)
    folder = tmp_path / "DvsGesture"
    folder.mkdir()
    (folder / "trials_to_train.txt").write_text("user01_led.aedat\nuser02_led.aedat\nuser01_led.aedat\n")
    with pytest.raises(ValueError, match=r"trials_to_train\.txt lists 'user01_led\.aedat' more than once"):
        create_dataset("dvs_gesture", split="train", root=tmp_path, n_time_bins=2)
