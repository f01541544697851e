"""DatFile: a DAT file's events by index or time window, decoded only there, checked as read_dat checks."""

import numpy as np
import pytest

from ltsnn.data import make_events
from ltsnn.data.io import DatFile, read_dat

import io_encoders as enc

EVENTS = make_events(np.arange(0, 1000, 10), np.arange(100) % 7, np.arange(100) % 5, np.arange(100) % 2)


def test_parts_equal_the_whole_read(tmp_path):
    path = tmp_path / "a.dat"
    path.write_bytes(enc.dat(EVENTS, header=b"% Version 2\n% Width 7\n% Height 5\n"))
    dat = DatFile(path)
    assert len(dat) == 100 and dat.sensor_size == (7, 5) and dat.t[3] == 30
    whole = read_dat(path).events
    np.testing.assert_array_equal(dat.events(), whole)
    np.testing.assert_array_equal(dat.events(10, 20), whole[10:20])
    assert dat.search(95) == 10 and dat.search(100) == 10 and dat.search(10_000) == 100
    np.testing.assert_array_equal(dat.time_window(95, 200), whole[(whole["t"] >= 95) & (whole["t"] < 200)])
    assert len(dat.events(50, 50)) == 0


def test_errors_name_the_index_in_the_file(tmp_path):
    bad = EVENTS.copy()
    bad["x"][42] = 9
    path = tmp_path / "b.dat"
    path.write_bytes(enc.dat(bad, header=b"% Version 2\n% Width 7\n% Height 5\n"))
    header = len(b"% Version 2\n% Width 7\n% Height 5\n") + 2
    with pytest.raises(ValueError, match=rf"b\.dat.*event 42 \(byte offset {header + 8 * 42}\).*x = 9"):
        DatFile(path).events(40, 45)
    assert len(DatFile(path).events(0, 42)) == 42                          # the part before it is fine
    raw = bytearray(enc.dat(EVENTS))
    raw[-1] = (raw[-1] & 0x0F) | 0x20                                       # polarity field of the last event: 2
    (tmp_path / "c.dat").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"c\.dat.*event 99 .*polarity field \(bits 28-31\) is 2"):
        DatFile(tmp_path / "c.dat").time_window(900, 1000)
