"""Readers on files written in the published layouts (for formats with no real fixture, and edge cases)."""

import numpy as np
import pytest

from ltsnn.data import make_events
from ltsnn.data.io import (BOX_DTYPE, iter_events, read_aedat, read_aedat4, read_cifar10dvs, read_dat, read_events,
                           read_evt2, read_evt3, read_gen1_boxes)

import io_encoders as enc


def assert_same(a, b):
    assert a.sensor_size == b.sensor_size
    np.testing.assert_array_equal(a.events, b.events)


def random_events(n, width, height, *, seed=0, t_max=1_000_000):
    rng = np.random.default_rng(seed)
    return make_events(t=np.sort(rng.integers(0, t_max, n)), x=rng.integers(0, width, n),
                       y=rng.integers(0, height, n), p=rng.integers(0, 2, n))


# --- AEDAT 2.0 -------------------------------------------------------------------------------------

def test_aedat2_dvs128_follows_jaer_address_map(tmp_path):
    # raw (x_raw, y_raw, bit0) -> top-left (127 - x_raw, 127 - y_raw), ON when bit 0 is clear (jAER DVS128).
    records = [(enc.dvs128_address(0, 0, 0), 5), (enc.dvs128_address(127, 3, 1), 6),
               (0x8000, 7),                                       # bit 15: jAER sync event, not a pixel
               (enc.dvs128_address(5, 127, 1), 9)]
    path = tmp_path / "dvs.aedat"
    path.write_bytes(enc.aedat2(records, chip="ch.unizh.ini.jaer.chip.retina.DVS128"))
    recording = read_aedat(path)
    assert recording.sensor_size == (128, 128)
    assert recording.events.tolist() == [(5, 127, 127, 1), (6, 0, 124, 0), (9, 122, 0, 0)]
    assert_same(read_events(path), recording)


def test_aedat2_davis346_layout_and_skipped_samples(tmp_path):
    records = [(enc.davis_address(0, 0, 1), 10), (1 << 31 | 12345, 11),          # APS/IMU sample: skipped
               (enc.davis_address(345, 259, 0) | (1 << 10), 12),                  # external input: skipped
               (enc.davis_address(345, 259, 0), 13)]
    path = tmp_path / "davis.aedat"
    path.write_bytes(enc.aedat2(records, chip="eu.seebetter.ini.chips.davis.Davis346red"))
    recording = read_aedat(path)
    assert recording.sensor_size == (346, 260)
    assert recording.events.tolist() == [(10, 345, 259, 1), (13, 0, 0, 0)]


def test_aedat2_timestamp_wrap_is_unwrapped(tmp_path):
    ts = [2**32 - 20, 2**32 - 1, 3, 10]                            # the uint32 counter wraps once
    path = tmp_path / "wrap.aedat"
    path.write_bytes(enc.aedat2([(enc.dvs128_address(1, 1, 0), t) for t in ts]))
    np.testing.assert_array_equal(read_aedat(path).events["t"], [2**32 - 20, 2**32 - 1, 2**32 + 3, 2**32 + 10])


def test_cifar10dvs_conventions(tmp_path):
    # SpikingJelly: x = 127 - (bits 8-14), y = 127 - (bits 1-7), p = 1 - bit 0.
    records = [(enc.dvs128_address(x_raw=10, y_raw=100, bit0=0), 1), (enc.dvs128_address(x_raw=0, y_raw=0, bit0=1), 2),
               (enc.dvs128_address(x_raw=127, y_raw=5, bit0=1), 3)]
    path = tmp_path / "cifar.aedat"
    path.write_bytes(enc.aedat2(records))
    recording = read_cifar10dvs(path)
    assert recording.sensor_size == (128, 128)
    assert recording.events.tolist() == [(1, 27, 117, 1), (2, 127, 127, 0), (3, 122, 0, 0)]
    # Same file through the plain DVS128 reading: the transpose is the only difference.
    plain = read_aedat(path).events
    np.testing.assert_array_equal(plain["x"], recording.events["y"])
    np.testing.assert_array_equal(plain["y"], recording.events["x"])
    np.testing.assert_array_equal(plain["p"], recording.events["p"])
    assert_same(read_events(path, format="cifar10dvs"), recording)


# --- AEDAT 3.1 -------------------------------------------------------------------------------------

def test_aedat31_multi_packet_with_invalid_events_overflow_and_other_types(tmp_path):
    packets = [enc.aedat31_packet([(1, 2, 1, 100, True), (3, 4, 0, 200, False), (5, 6, 0, 300, True)], capacity=5),
               enc.aedat31_packet([(9, 9, 1, 7, True)], event_type=2),         # a frame packet: skipped whole
               enc.aedat31_packet([(127, 127, 1, 400, True)]),
               enc.aedat31_packet([(0, 0, 0, 5, True)], overflow=1)]           # t = 2^31 + 5
    path = tmp_path / "gesture.aedat"
    path.write_bytes(enc.aedat31(packets))
    recording = read_aedat(path)
    assert recording.sensor_size == (128, 128)
    assert recording.events.tolist() == [(100, 1, 2, 1), (300, 5, 6, 0), (400, 127, 127, 1), (2**31 + 5, 0, 0, 0)]
    chunks = list(iter_events(path, chunk_size=1))
    assert [len(c) for c in chunks] == [1, 1, 1, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), recording.events)


def test_aedat31_unknown_source_has_no_size(tmp_path):
    path = tmp_path / "other.aedat"
    path.write_bytes(enc.aedat31([enc.aedat31_packet([(400, 300, 1, 1, True)])], source_name="Mystery"))
    recording = read_aedat(path)
    assert recording.sensor_size is None and recording.events.tolist() == [(1, 400, 300, 1)]


# --- AEDAT 4 (written, uncompressed and LZ4) -------------------------------------------------------

@pytest.mark.parametrize("compress", ["none", "lz4"])
def test_aedat4_written_file_round_trips(tmp_path, compress):
    if compress == "lz4":
        pytest.importorskip("lz4")
    events = random_events(300, 346, 260, seed=3)
    events["t"] += 1_600_000_000_000_000                    # DV writes absolute µs; they are kept
    path = tmp_path / "rec.aedat4"
    path.write_bytes(enc.aedat4([events[:100], events[100:100], events[100:]], compress=compress))
    recording = read_aedat4(path)
    assert recording.sensor_size == (346, 260)
    np.testing.assert_array_equal(recording.events, events)
    np.testing.assert_array_equal(np.concatenate(list(iter_events(path, chunk_size=64))), events)


# --- Prophesee DAT, EVT 2.0, EVT 3.0 ---------------------------------------------------------------

def test_dat_td_and_cd_round_trip_and_headerless(tmp_path):
    events = random_events(200, 304, 240, seed=1)
    for name, data in (("td.dat", enc.dat(events)), ("cd.dat", enc.dat(events, event_type=0x0C)),
                       ("bare.dat", enc.dat(events, header=None))):
        (tmp_path / name).write_bytes(data)
        recording = read_dat(tmp_path / name)
        assert recording.sensor_size is None              # Gen1 / N-Cars state no size: never guessed
        np.testing.assert_array_equal(recording.events, events)
    sized = tmp_path / "sized.dat"
    sized.write_bytes(enc.dat(events, header=b"% Version 2\n% Width 304\n% Height 240\n"))
    assert read_events(sized).sensor_size == (304, 240)


def test_dat_keeps_decreasing_times_in_file_order(tmp_path):
    events = make_events(t=[10, 30, 20], x=[1, 2, 3], y=[1, 2, 3], p=[0, 1, 1])   # Gen1 is only nearly sorted
    path = tmp_path / "gen1_td.dat"
    path.write_bytes(enc.dat(events))
    np.testing.assert_array_equal(read_dat(path).events, events)


def test_evt2_round_trip_with_geometry(tmp_path):
    events = random_events(500, 640, 480, seed=2)
    path = tmp_path / "rec.raw"
    path.write_bytes(enc.raw_file(["evt 2.0", "geometry 640x480"], enc.evt2_words(events) + [0xE << 28, 0xA << 28],
                                  "<u4"))
    recording = read_evt2(path)
    assert recording.sensor_size == (640, 480)
    np.testing.assert_array_equal(recording.events, events)
    assert_same(read_events(path), recording)


def test_binary_data_starting_with_percent_is_not_header(tmp_path):
    # First data byte 0x25 = '%': the header ends at the last line that is text.
    events = make_events(t=[0x25 << 6, (0x25 << 6) + 5], x=[1, 2], y=[3, 4], p=[1, 0])
    path = tmp_path / "pct.raw"
    path.write_bytes(enc.raw_file(["evt 2.0"], enc.evt2_words(events), "<u4"))
    np.testing.assert_array_equal(read_evt2(path).events, events)


def test_evt3_vectors_time_reset_and_wrap(tmp_path):
    words = [enc.evt3_time_high(4095), enc.evt3_time_low(7), enc.evt3_addr_y(5), enc.evt3_addr_x(100, 1),
             enc.evt3_vect_base_x(200, 0), enc.evt3_vect_12(0b100000000101), enc.evt3_vect_8(0b10000001),
             enc.evt3_addr_y(6),
             enc.evt3_time_high(0),                         # wraps: 4095 -> 0 adds 2^24; low resets to 0
             enc.evt3_addr_x(1, 0), 0x7000, 0xE000, 0xA000, 0xF000,   # continued / others / trigger: no events
             enc.evt3_time_high(0),                         # a next TIME_HIGH near zero confirms the wrap
             enc.evt3_time_low(3), enc.evt3_vect_12(0b1)]   # base continues after 12 + 8: 220
    path = tmp_path / "rec.raw"
    path.write_bytes(enc.raw_file(["evt 3.0", "format EVT3;height=720;width=1280"], words, "<u2"))
    recording = read_evt3(path)
    t0 = (4095 << 12) + 7
    wrapped = 1 << 24
    assert recording.sensor_size == (1280, 720)
    assert recording.events.tolist() == [
        (t0, 100, 5, 1), (t0, 200, 5, 0), (t0, 202, 5, 0), (t0, 211, 5, 0), (t0, 212, 5, 0), (t0, 219, 5, 0),
        (wrapped, 1, 6, 0), (wrapped + 3, 220, 6, 0)]
    for chunk_size in (1, 2, 3):                            # state carries across every boundary
        np.testing.assert_array_equal(np.concatenate(list(iter_events(path, chunk_size=chunk_size))), recording.events)


# --- Gen1 boxes ------------------------------------------------------------------------------------

LEGACY_BOX_DTYPE = np.dtype([("ts", "<u8"), ("x", "<f4"), ("y", "<f4"), ("w", "<f4"), ("h", "<f4"),
                             ("class_id", "u1"), ("confidence", "<f4"), ("track_id", "<u4")])


def test_gen1_boxes_both_dtypes_give_the_canonical_one(tmp_path):
    assert LEGACY_BOX_DTYPE.itemsize == 33 and BOX_DTYPE.itemsize == 40
    legacy = np.array([(250_000, 10.5, 20.0, 30.0, 40.0, 1, 1.0, 7), (500_000, 0.0, 1.0, 2.0, 3.0, 0, 1.0, 8)],
                      dtype=LEGACY_BOX_DTYPE)
    np.save(tmp_path / "a_bbox.npy", legacy)
    boxes = read_gen1_boxes(tmp_path / "a_bbox.npy")
    assert boxes.dtype == BOX_DTYPE
    assert boxes.tolist() == [(250_000, 10.5, 20.0, 30.0, 40.0, 1, 7, 1.0), (500_000, 0.0, 1.0, 2.0, 3.0, 0, 8, 1.0)]
    np.save(tmp_path / "b_bbox.npy", boxes)
    np.testing.assert_array_equal(read_gen1_boxes(tmp_path / "b_bbox.npy"), boxes)


def test_gen1_boxes_wrong_fields_are_refused(tmp_path):
    np.save(tmp_path / "bad_bbox.npy", np.zeros(3, dtype=[("t", "<i8"), ("x", "<f4")]))
    with pytest.raises(ValueError, match=r"bad_bbox\.npy.*fields"):
        read_gen1_boxes(tmp_path / "bad_bbox.npy")
