"""Reader (and writer) for Prophesee DAT files, version 2 (N-Cars, Gen1 ``_td.dat``, Metavision CD exports).

Layout (Prophesee's ``dat_events_tools.py``): ``%`` text header lines; if there was a header,
1 byte event type and 1 byte event size; then little-endian 8-byte records::

    uint32 t (µs)     uint32 w: x = bits 0-13, y = bits 14-27, p = bits 28-31 (1 = ON)

Without a header the data start at byte 0 with type 0 and size 8. Event types read here: 0x00
(ATIS TD, N-Cars and Gen1) and 0x0C (CD, Metavision). The sensor size comes from ``% Width`` /
``% Height``, ``% geometry WxH`` or ``% format ...;width=W;height=H`` when present (N-Cars
and Gen1 state none: then it is None, never guessed). A polarity field other than 0 or 1 is an
error, not masked. A compiled loop decodes when numba is available, else numpy, with identical
results (:mod:`ltsnn.data.io.jit`).

Time order: DAT is the one format whose timestamps are allowed to decrease. Gen1's ``_td.dat``
files are only nearly sorted (detection spec §1.1: RVT clamps their decreasing timestamps), so
refusing them would make the data set unreadable; events are returned in file order, never sorted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ltsnn.data.events import EVENT_DTYPE
from ltsnn.data.io.jit import compiled
from ltsnn.data.io.prophesee import read_prophesee_header, stated_sensor_size
from ltsnn.data.io.recording import (READ_STEP, Chunks, Recording, assemble, check_step, checked, concatenate,
                                     file_error, fixed_records, open_binary)
from ltsnn.files import write_atomic

_READER = "read_dat"
_RECORD = np.dtype([("t", "<u4"), ("w", "<u4")])
_EVENT_TYPES = {0x00: "TD", 0x0C: "CD"}
_NO_SIDE = 1 << 30             # sensor side when the header states none: no bound


class DatFile:
    """A DAT file opened for random access: its records memory-mapped, decoded only where asked.

    A label instant of a 60 s Gen1 recording needs the events of a 50 ms window: :meth:`time_window`
    finds it by a binary search on the mapped timestamps and decodes only those records, so a
    sample costs its own window, not the recording. :func:`read_dat` and :func:`scan_dat` decode
    the same records in steps.

    Attributes:
        path: the file.
        sensor_size: (W, H) stated in the header, else None.
        t: uint32 [N] timestamps in µs as stored (a read-only memory map; nearly sorted in Gen1 files).

    Raises:
        FileNotFoundError, ValueError: as :func:`read_dat`, for the header and the file size.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> records = np.array([(10, 1 | 2 << 14 | 1 << 28), (20, 3), (30, 5 | 1 << 28)], dtype=_RECORD)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.dat"
        >>> _ = path.write_bytes(b"% Version 2\\n\\x00\\x08" + records.tobytes())
        >>> dat = DatFile(path)
        >>> len(dat), dat.search(15), dat.time_window(15, 31)["x"].tolist()
        (3, 1, [3, 5])
    """

    def __init__(self, path: str | os.PathLike):
        self.path = path
        header, data_start = read_prophesee_header(path, _READER)
        if data_start:
            with open_binary(path) as f:
                f.seek(data_start)
                type_and_size = f.read(2)
            if len(type_and_size) < 2:
                raise file_error(_READER, path, f"byte offset {data_start}",
                                 "file ends inside the 2-byte event type/size field after the header")
            event_type, event_size = type_and_size
            if event_type not in _EVENT_TYPES:
                raise file_error(_READER, path, f"byte offset {data_start}",
                                 f"event type 0x{event_type:02X}; expected 0x00 (TD) or 0x0C (CD)")
            if event_size != _RECORD.itemsize:
                raise file_error(_READER, path, f"byte offset {data_start + 1}",
                                 f"event size {event_size}; expected {_RECORD.itemsize}")
            data_start += 2
        self.data_start = data_start
        self.sensor_size = stated_sensor_size(header, _READER, path)
        self.records, _ = fixed_records(path, reader=_READER, data_start=data_start, record=_RECORD, step=READ_STEP)
        self.t = self.records["t"]

    def __len__(self) -> int:
        return len(self.records)

    def offset_of(self, i: int) -> int:
        """Byte offset of record ``i``."""
        return self.data_start + _RECORD.itemsize * i

    def search(self, t_us: int) -> int:
        """Index of the first event with t >= ``t_us`` (PSEELoader's ``seek_time``: a binary search, which
        on nearly sorted timestamps finds one such boundary)."""
        return int(np.searchsorted(self.t, t_us, side="left"))

    def events(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Events of records ``start`` .. ``stop`` − 1 (default: all), decoded and checked, in file order.

        Raises:
            ValueError: naming the event index and byte offset for a polarity field above 1 or an
                event outside the stated sensor.
        """
        return concatenate(self.decode(start, len(self) if stop is None else stop, step=READ_STEP))

    def time_window(self, t_start: int, t_end: int) -> np.ndarray:
        """Events of the records from the first with t >= ``t_start`` to the first with t >= ``t_end`` (µs):
        the events of [t_start, t_end) when the file is sorted."""
        return self.events(self.search(t_start), self.search(t_end))

    def decode(self, start: int, stop: int, *, step: int) -> Iterator[np.ndarray]:
        """Events of records ``start`` .. ``stop`` − 1, ``step`` records at a time, checked as :meth:`events`."""
        kernel = compiled(_decode_kernel)
        if kernel is not None:
            return self._compiled_blocks(kernel, start, stop, step)

        def blocks() -> Iterator[np.ndarray]:
            for first in range(start, stop, step):
                block = self.records[first:min(first + step, stop)]
                w = block["w"]
                p = w >> 28
                bad = np.flatnonzero(p > 1)
                if bad.size:
                    i = first + int(bad[0])
                    raise file_error(_READER, self.path, f"event {i} (byte offset {self.offset_of(i)})",
                                     f"polarity field (bits 28-31) is {p[bad[0]]}; expected 0 or 1")
                yield assemble(block["t"], w & 0x3FFF, (w >> 14) & 0x3FFF, p)

        return checked(blocks(), reader=_READER, path=self.path, sensor_size=self.sensor_size, monotonic=False,
                       offset_of=self.offset_of, first_index=start)

    def _compiled_blocks(self, kernel, start: int, stop: int, step: int) -> Iterator[np.ndarray]:
        words = self.records.view("<u4")           # [2N]: t, w of each record
        width, height = self.sensor_size or (_NO_SIDE, _NO_SIDE)
        out = np.empty(2, dtype=np.int64)
        for first in range(start, stop, step):
            last = min(first + step, stop)
            events = np.empty(last - first, dtype=EVENT_DTYPE)
            kernel(words, first, last, width, height, events, out)
            bad_p, suspect = (int(v) for v in out)
            if bad_p >= 0:
                raise file_error(_READER, self.path, f"event {bad_p} (byte offset {self.offset_of(bad_p)})",
                                 f"polarity field (bits 28-31) is {words[2 * bad_p + 1] >> 28}; expected 0 or 1")
            if suspect:
                check_step(events, reader=_READER, path=self.path, sensor_size=self.sensor_size, monotonic=False,
                           last_t=None, start=first, offset_of=self.offset_of)
            yield events


def _decode_kernel(words, start, stop, width, height, events, out):
    """Decode records ``start`` .. ``stop`` - 1 of ``words`` ([2N] uint32: t, w per record) into ``events``
    (from index 0); out = [first record with a polarity field above 1 (decoding stops there) or -1,
    1 if some event has x >= width or y >= height else 0 (DAT time may go back)]."""
    bad_p, suspect = -1, False
    for i in range(start, stop):
        w = np.int64(words[2 * i + 1])
        polarity = w >> 28
        if polarity > 1:
            bad_p = i
            break
        column, row = w & 0x3FFF, (w >> 14) & 0x3FFF
        event = events[i - start]       # a record: faster than four strided views
        event.t, event.x, event.y, event.p = words[2 * i], column, row, polarity
        suspect |= (column >= width) | (row >= height)
    out[0], out[1] = bad_p, suspect


def scan_dat(path: str | os.PathLike, *, step: int = READ_STEP) -> Chunks:
    """Open a DAT file for decoding ``step`` records at a time (see :func:`read_dat`)."""
    dat = DatFile(path)
    return Chunks(dat.sensor_size, dat.decode(0, len(dat), step=step))


def read_dat(path: str | os.PathLike) -> Recording:
    """Read every event of a Prophesee DAT v2 file (TD 0x00 or CD 0x0C events), in file order.

    For a part of a large file, open it as a :class:`DatFile`.

    Returns:
        Recording: Events [N] (t in µs as stored) and the (W, H) the header states, else None.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: naming the file and byte offset for a bad event type or size, a truncated
            record, a polarity field above 1, or (with the event index) an event outside the
            stated sensor.
    """
    sensor_size, steps = scan_dat(path)
    return Recording(concatenate(steps), sensor_size)


def write_dat(path: str | os.PathLike, events: np.ndarray, *, sensor_size: tuple[int, int] | None) -> None:
    """Write Events as a DAT v2 file of TD events (type 0x00, 8-byte records), atomically.

    The header is Prophesee's (``% Data file containing Event2D events.``, ``% Version 2``), with
    ``% Height`` / ``% Width`` when ``sensor_size`` = (W, H) is given.

    Raises:
        ValueError: when an event does not fit the record (t >= 2^32 µs, x or y >= 2^14, p not 0 or 1).

    Example:
        >>> import tempfile, pathlib
        >>> from ltsnn.data.events import make_events
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "x_td.dat"
        >>> write_dat(path, make_events([5, 7], [1, 2], [3, 4], [1, 0]), sensor_size=(8, 6))
        >>> recording = read_dat(path)
        >>> recording.sensor_size, recording.events["x"].tolist()
        ((8, 6), [1, 2])
    """
    for field, upper in (("t", 1 << 32), ("x", 1 << 14), ("y", 1 << 14), ("p", 2)):
        bad = np.flatnonzero((events[field] < 0) | (events[field] >= upper))
        if bad.size:
            raise ValueError(f"write_dat: {os.fspath(path)!r}: event {int(bad[0])} has {field} = "
                             f"{events[field][bad[0]]}; expected 0 <= {field} < {upper}")
    header = "% Data file containing Event2D events.\n% Version 2\n"
    if sensor_size is not None:
        header += f"% Height {sensor_size[1]}\n% Width {sensor_size[0]}\n"
    records = np.empty(len(events), dtype=_RECORD)
    records["t"] = events["t"]
    records["w"] = (events["x"].astype(np.uint32) | (events["y"].astype(np.uint32) << 14)
                    | (events["p"].astype(np.uint32) << 28))
    write_atomic(path, lambda f: f.write(header.encode("ascii") + bytes([0x00, _RECORD.itemsize]) + records.tobytes()))
