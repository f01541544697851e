"""Bad input gives a ValueError / FileNotFoundError naming the file, the offset or index, and what was expected."""

import pytest

from ltsnn.data import make_events, to_frames
from ltsnn.data.io import (iter_events, read_aedat, read_aedat4, read_cifar10dvs, read_dat, read_events, read_evt2,
                           read_evt3)

import io_encoders as enc


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_missing_file_names_it(tmp_path):
    for read in (read_events, read_dat, read_aedat4, read_evt3):
        with pytest.raises(FileNotFoundError, match="nothere"):
            read(tmp_path / "nothere.dat")


@pytest.mark.parametrize("reader, name, data, pattern", [
    (read_aedat, "x.aedat", b"#!AER-DAT9.9\r\n", r"x\.aedat.*byte offset 0.*expected '#!AER-DAT2\.0'"),
    (read_aedat4, "x.aedat4", b"#!AER-DAT2.0\r\n" + bytes(10), r"x\.aedat4.*byte offset 0.*AEDAT 4\.0"),
    (read_dat, "x.dat", b"% Version 2\n\x07\x08" + bytes(8), r"x\.dat.*byte offset 12.*event type 0x07.*0x00.*0x0C"),
    (read_dat, "y.dat", b"% Version 2\n\x00\x10" + bytes(16), r"y\.dat.*byte offset 13.*event size 16; expected 8"),
    (read_evt3, "x.raw", b"% evt 2.0\n" + bytes(4), r"x\.raw.*names format 'evt2'; expected EVT 3\.0"),
    (read_evt2, "y.raw", b"% evt 3.0\n" + bytes(4), r"y\.raw.*names format 'evt3'; expected EVT 2\.0"),
    (read_events, "z.raw", b"\x00\x01" * 8, r"z\.raw.*must start with a '%' header"),
    (read_events, "w.xyz", b"\x00" * 8, r"w\.xyz.*cannot tell the format.*format="),
])
def test_wrong_magic_or_header(tmp_path, reader, name, data, pattern):
    with pytest.raises(ValueError, match=pattern):
        reader(write(tmp_path, name, data))


def test_truncated_files_name_the_offset(tmp_path):
    events = make_events(t=[1, 2], x=[1, 2], y=[1, 2], p=[0, 1])
    dat = enc.dat(events)
    with pytest.raises(ValueError, match=rf"cut\.dat.*byte offset {len(dat) - 8}.*incomplete 8-byte record"):
        read_dat(write(tmp_path, "cut.dat", dat[:-3]))
    aedat2 = enc.aedat2([(enc.dvs128_address(1, 1, 0), 5)])
    with pytest.raises(ValueError, match=r"cut\.aedat.*incomplete 8-byte record"):
        read_aedat(write(tmp_path, "cut.aedat", aedat2[:-1]))
    aedat31 = enc.aedat31([enc.aedat31_packet([(1, 2, 1, 100, True)] * 3)])
    with pytest.raises(ValueError, match=r"packet header at byte offset \d+.*file ends"):
        read_aedat(write(tmp_path, "cut31.aedat", aedat31[:-4]))
    with pytest.raises(ValueError, match=r"byte offset \d+.*28-byte packet header"):
        read_aedat(write(tmp_path, "head31.aedat", aedat31 + bytes(5)))
    raw = enc.raw_file(["evt 3.0"], [enc.evt3_time_high(1), enc.evt3_addr_y(1), enc.evt3_addr_x(1, 1)], "<u2")
    with pytest.raises(ValueError, match=r"cut\.raw.*byte offset \d+.*incomplete 2-byte record"):
        read_evt3(write(tmp_path, "cut.raw", raw[:-1]))
    aedat4 = enc.aedat4([events])
    with pytest.raises(ValueError, match=r"cut\.aedat4.*packet at byte offset \d+.*packet size"):
        read_aedat4(write(tmp_path, "cut.aedat4", aedat4[:-17]))   # into the event packet


def test_huge_claimed_sizes_are_refused_without_allocating(tmp_path):
    packet = bytearray(enc.aedat31_packet([(1, 2, 1, 100, True)]))
    packet[16:20] = (2**31 - 1).to_bytes(4, "little")          # eventCapacity
    with pytest.raises(ValueError, match=r"packet claims \d+ data bytes"):
        read_aedat(write(tmp_path, "big.aedat", enc.aedat31([bytes(packet)])))
    aedat4 = bytearray(enc.aedat4([make_events(t=[1], x=[1], y=[1], p=[1])]))
    aedat4[14:18] = (2**32 - 1).to_bytes(4, "little")          # IOHeader size
    with pytest.raises(ValueError, match=r"byte offset 14.*IOHeader size 4294967295"):
        read_aedat4(write(tmp_path, "big.aedat4", bytes(aedat4)))


def test_events_outside_the_stated_sensor(tmp_path):
    events = make_events(t=[1, 2, 3], x=[1, 304, 2], y=[1, 2, 3], p=[0, 1, 0])
    path = write(tmp_path, "wide.dat", enc.dat(events, header=b"% Width 304\n% Height 240\n"))
    with pytest.raises(ValueError, match=r"wide\.dat.*event 1 \(byte offset 35\).*x = 304.*x < 304.*width"):
        read_dat(path)
    raw = enc.raw_file(["evt 3.0", "geometry 640x480"],
                       [enc.evt3_time_high(1), enc.evt3_addr_y(480), enc.evt3_addr_x(3, 1)], "<u2")
    with pytest.raises(ValueError, match=r"tall\.raw.*event 0.*y = 480.*y < 480"):
        read_evt3(write(tmp_path, "tall.raw", raw))
    aedat4 = enc.aedat4([make_events(t=[1, 2], x=[5, 400], y=[1, 1], p=[1, 1])], size=(346, 260))
    with pytest.raises(ValueError, match=r"event 1.*x = 400"):
        read_aedat4(write(tmp_path, "wide.aedat4", aedat4))
    davis = enc.aedat2([(enc.davis_address(346, 0, 1), 1)], chip="Davis346red")
    with pytest.raises(ValueError, match=r"record 0 \(byte offset \d+\).*x address 346.*346x260"):
        read_aedat(write(tmp_path, "davis.aedat", davis))


def test_non_monotonic_time(tmp_path):
    back = make_events(t=[10, 20, 15], x=[1, 2, 3], y=[1, 2, 3], p=[0, 1, 0])
    raw = enc.raw_file(["evt 2.0"], enc.evt2_words(back), "<u4")
    with pytest.raises(ValueError, match=r"back\.raw.*event 2.*15 µs.*20 µs.*non-decreasing"):
        read_evt2(write(tmp_path, "back.raw", raw))
    aedat2 = enc.aedat2([(enc.dvs128_address(1, 1, 0), t) for t in (10, 20, 15)])
    with pytest.raises(ValueError, match=r"back\.aedat.*event 2.*15 µs"):
        read_cifar10dvs(write(tmp_path, "back.aedat", aedat2))
    with pytest.raises(ValueError, match=r"event 2.*15 µs"):     # across a chunk boundary too
        list(iter_events(tmp_path / "back.aedat", chunk_size=2, format="cifar10dvs"))
    # EVT3: a small step back of TIME_HIGH is not a wrap.
    words = [enc.evt3_time_high(100), enc.evt3_addr_y(1), enc.evt3_addr_x(1, 1), enc.evt3_time_high(90),
             enc.evt3_addr_x(2, 1)]
    with pytest.raises(ValueError, match=r"word 3 \(byte offset \d+\).*TIME_HIGH goes back from 100 to 90"):
        read_evt3(write(tmp_path, "back3.raw", enc.raw_file(["evt 3.0"], words, "<u2")))


def test_evt3_state_errors_name_the_word(tmp_path):
    cases = [([enc.evt3_addr_y(1), enc.evt3_addr_x(1, 1)], r"word 1 \(byte offset 12\).*before any EVT_TIME_HIGH"),
             ([enc.evt3_time_high(1), enc.evt3_addr_x(1, 1)], r"word 1.*before any EVT_ADDR_Y"),
             ([enc.evt3_time_high(1), enc.evt3_addr_y(1), enc.evt3_vect_8(1)], r"word 2.*before any VECT_BASE_X"),
             ([enc.evt3_time_high(1), 0x9000], r"word 1.*reserved word type 0x9"),
             ([enc.evt3_time_high(1), enc.evt3_addr_y(1), enc.evt3_vect_base_x(2040, 1), enc.evt3_vect_12(1 << 11)],
              r"word 3.*x = 2051")]
    for words, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            read_evt3(write(tmp_path, "state.raw", enc.raw_file(["evt 3.0"], words, "<u2")))


def test_polarity_and_packet_consistency_errors(tmp_path):
    bad_p = bytearray(enc.dat(make_events(t=[1], x=[1], y=[1], p=[1])))
    bad_p[-1] = 0x30                                             # polarity field 3
    with pytest.raises(ValueError, match=r"event 0 \(byte offset \d+\).*polarity field.*is 3; expected 0 or 1"):
        read_dat(write(tmp_path, "p.dat", bytes(bad_p)))
    packet = bytearray(enc.aedat31_packet([(1, 2, 1, 100, True), (1, 2, 1, 101, True)]))
    packet[24:28] = (1).to_bytes(4, "little")                    # eventValid says 1, the bits mark 2
    with pytest.raises(ValueError, match=r"eventValid says 1 valid events, the valid bits mark 2"):
        read_aedat(write(tmp_path, "valid.aedat", enc.aedat31([bytes(packet)])))


@pytest.mark.parametrize("name, data, sensor_size", [
    ("empty.dat", b"% Version 2\n% Width 304\n% Height 240\n\x00\x08", (304, 240)),
    ("empty.raw", b"% evt 3.0\n% geometry 1280x720\n", (1280, 720)),
    ("empty.aedat", enc.AEDAT2_HEADER, (128, 128)),
    ("empty31.aedat", enc.aedat31([]), (128, 128)),
    ("empty.aedat4", enc.aedat4([]), (346, 260)),
    ("empty.bin", b"", None),
])
def test_empty_recordings_give_empty_frames(tmp_path, name, data, sensor_size):
    path = write(tmp_path, name, data)
    recording = read_events(path)
    assert recording.events.shape == (0,) and recording.sensor_size == sensor_size
    assert list(iter_events(path, chunk_size=10)) == []
    frames = to_frames(recording.events, sensor_size=sensor_size or (34, 34), n_time_bins=4)
    assert frames.shape == (4, 2, (sensor_size or (34, 34))[1], (sensor_size or (34, 34))[0]) and frames.sum() == 0


def test_bad_arguments(tmp_path):
    path = write(tmp_path, "a.bin", b"")
    with pytest.raises(ValueError, match=r"unknown format 'hdf5'; expected one of \["):
        read_events(path, format="hdf5")
    with pytest.raises(ValueError, match="chunk_size is 0"):
        next(iter_events(path, chunk_size=0))
