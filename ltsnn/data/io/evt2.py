"""Reader for Prophesee RAW files in EVT 2.0 (Gen3 and IMX636 cameras).

After the ``%`` header (see :mod:`ltsnn.data.io.prophesee`), the data are little-endian 32-bit
words whose top 4 bits give the type (Prophesee, "EVT 2.0 format")::

    0x0 CD_OFF, 0x1 CD_ON:  bits 27-22 timestamp low 6 bits, bits 21-11 x, bits 10-0 y
    0x8 EVT_TIME_HIGH:      bits 27-0 timestamp bits 33-6
    0xA EXT_TRIGGER, 0xE OTHERS, 0xF CONTINUED: no pixel event (skipped)

An event's time is ``(time_high << 6) | low``. Any other type is an error, as is a CD event
before the first TIME_HIGH (its time would be unknown). The sensor size comes from ``% format``
or ``% geometry`` when present, else None. Timestamps must not decrease (a 34-bit counter wraps
only after 4.8 h, beyond any recording this reads).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ltsnn.data.io.prophesee import read_prophesee_header, stated_format, stated_sensor_size
from ltsnn.data.io.recording import (READ_STEP, Chunks, Recording, assemble, checked, concatenate,
                                     file_error, fixed_records)

_READER = "read_evt2"
_CD_OFF, _CD_ON, _TIME_HIGH = 0x0, 0x1, 0x8
_KNOWN_TYPES = np.zeros(16, dtype=bool)
_KNOWN_TYPES[[0x0, 0x1, 0x8, 0xA, 0xE, 0xF]] = True


def scan_evt2(path: str | os.PathLike, *, step: int = READ_STEP) -> Chunks:
    """Open an EVT 2.0 RAW file for decoding ``step`` words at a time (see :func:`read_evt2`)."""
    header, data_start = read_prophesee_header(path, _READER)
    named = stated_format(header)
    if named not in (None, "evt2"):
        raise file_error(_READER, path, "header", f"the header names format {named!r}; expected EVT 2.0")
    sensor_size = stated_sensor_size(header, _READER, path)
    _, steps = fixed_records(path, reader=_READER, data_start=data_start, record=np.dtype("<u4"), step=step)

    def decode() -> Iterator[np.ndarray]:
        time_high: int | None = None      # carried across steps
        start = 0
        for words in steps:
            kind = words >> 28
            unknown = np.flatnonzero(~_KNOWN_TYPES[kind])
            if unknown.size:
                j = int(unknown[0])
                raise file_error(_READER, path, f"word {start + j} (byte offset {data_start + 4 * (start + j)})",
                                 f"event type 0x{kind[j]:X}; expected one of 0x0, 0x1, 0x8, 0xA, 0xE, 0xF")
            index = np.arange(len(words))
            is_high = kind == _TIME_HIGH
            last_high = np.maximum.accumulate(np.where(is_high, index, -1))
            is_cd = kind <= _CD_ON
            high = (words[np.maximum(last_high, 0)] & 0x0FFFFFFF).astype(np.int64)
            if time_high is None:
                orphan = np.flatnonzero(is_cd & (last_high < 0))
                if orphan.size:
                    j = int(orphan[0])
                    raise file_error(_READER, path, f"word {start + j} (byte offset {data_start + 4 * (start + j)})",
                                     "CD event before the first EVT_TIME_HIGH word; expected a TIME_HIGH first")
            else:
                high = np.where(last_high < 0, time_high, high)
            if is_high.any():
                time_high = int(words[last_high[-1]] & 0x0FFFFFFF)
            cd = words[is_cd]
            t = (high[is_cd] << 6) | ((cd >> 22) & 0x3F)
            start += len(words)
            yield assemble(t, (cd >> 11) & 0x7FF, cd & 0x7FF, kind[is_cd])

    return Chunks(sensor_size, checked(decode(), reader=_READER, path=path, sensor_size=sensor_size, monotonic=True))


def read_evt2(path: str | os.PathLike) -> Recording:
    """Read every CD event of a Prophesee EVT 2.0 RAW file, in file order.

    Returns:
        Recording: Events [N] (t in µs as counted by the camera) and the (W, H) the header
        states, else None.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: naming the file and the word's byte offset for an unknown word type, a CD
            event before any TIME_HIGH, a header naming another format, or a truncated word; with
            the event index for an event outside the stated sensor or a timestamp going back.
    """
    sensor_size, steps = scan_evt2(path)
    return Recording(concatenate(steps), sensor_size)
