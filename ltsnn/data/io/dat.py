"""Reader for Prophesee DAT files, version 2 (N-Cars, Gen1 ``_td.dat``, Metavision CD exports).

Layout (Prophesee's ``dat_events_tools.py``): ``%`` text header lines; if there was a header,
1 byte event type and 1 byte event size; then little-endian 8-byte records::

    uint32 t (µs)     uint32 w: x = bits 0-13, y = bits 14-27, p = bits 28-31 (1 = ON)

Without a header the data start at byte 0 with type 0 and size 8. Event types read here: 0x00
(ATIS TD, N-Cars and Gen1) and 0x0C (CD, Metavision). The sensor size comes from ``% Width`` /
``% Height``, ``% geometry WxH`` or ``% format ...;width=W;height=H`` when present (N-Cars
and Gen1 state none: then it is None, never guessed). A polarity field other than 0 or 1 is an
error, not masked.

Time order: DAT is the one format whose timestamps are allowed to decrease. Gen1's ``_td.dat``
files are only nearly sorted (detection spec §1.1: RVT clamps their decreasing timestamps), so
refusing them would make the data set unreadable; events are returned in file order, never sorted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ltsnn.data.io.prophesee import read_prophesee_header, stated_sensor_size
from ltsnn.data.io.recording import (READ_STEP, Chunks, Recording, assemble, checked, concatenate,
                                     file_error, fixed_records, open_binary)

_READER = "read_dat"
_RECORD = np.dtype([("t", "<u4"), ("w", "<u4")])
_EVENT_TYPES = {0x00: "TD", 0x0C: "CD"}


def scan_dat(path: str | os.PathLike, *, step: int = READ_STEP) -> Chunks:
    """Open a DAT file for decoding ``step`` records at a time (see :func:`read_dat`)."""
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
    sensor_size = stated_sensor_size(header, _READER, path)
    _, steps = fixed_records(path, reader=_READER, data_start=data_start, record=_RECORD, step=step)

    def offset_of(i: int) -> int:
        return data_start + 8 * i

    def decode() -> Iterator[np.ndarray]:
        start = 0
        for block in steps:
            w = block["w"]
            p = w >> 28
            bad = np.flatnonzero(p > 1)
            if bad.size:
                i = start + int(bad[0])
                raise file_error(_READER, path, f"event {i} (byte offset {offset_of(i)})",
                                 f"polarity field (bits 28-31) is {p[bad[0]]}; expected 0 or 1")
            start += len(block)
            yield assemble(block["t"], w & 0x3FFF, (w >> 14) & 0x3FFF, p)

    return Chunks(sensor_size, checked(decode(), reader=_READER, path=path, sensor_size=sensor_size,
                                       monotonic=False, offset_of=offset_of))


def read_dat(path: str | os.PathLike) -> Recording:
    """Read every event of a Prophesee DAT v2 file (TD 0x00 or CD 0x0C events), in file order.

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
