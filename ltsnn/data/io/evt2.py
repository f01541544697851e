"""Reader for Prophesee RAW files in EVT 2.0 (Gen3 and IMX636 cameras).

After the ``%`` header (see :mod:`ltsnn.data.io.prophesee`), the data are little-endian 32-bit
words whose top 4 bits give the type (Prophesee, "EVT 2.0 format")::

    0x0 CD_OFF, 0x1 CD_ON:  bits 27-22 timestamp low 6 bits, bits 21-11 x, bits 10-0 y
    0x8 EVT_TIME_HIGH:      bits 27-0 timestamp bits 33-6
    0xA EXT_TRIGGER, 0xE OTHERS, 0xF CONTINUED: no pixel event (skipped)

An event's time is ``(time_high << 6) | low``. Any other type is an error, as is a CD event
before the first TIME_HIGH (its time would be unknown); the first such word in file order is
named. A compiled loop decodes when numba is available, else numpy, with identical results
(:mod:`ltsnn.data.io.jit`). The sensor size comes from ``% format``
or ``% geometry`` when present, else None. Timestamps must not decrease (a 34-bit counter wraps
only after 4.8 h, beyond any recording this reads).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ltsnn.data.events import EVENT_DTYPE
from ltsnn.data.io.prophesee import read_prophesee_header, stated_format, stated_sensor_size
from ltsnn.data.io.recording import (READ_STEP, Chunks, Recording, assemble, compiled_or_checked, concatenate,
                                     decoded_step, file_error, fixed_records)

_READER = "read_evt2"
_CD_OFF, _CD_ON, _TIME_HIGH = 0x0, 0x1, 0x8
_KNOWN_TYPES = np.zeros(16, dtype=bool)
_KNOWN_TYPES[[0x0, 0x1, 0x8, 0xA, 0xE, 0xF]] = True
_NO_SIDE = 1 << 30             # sensor side when the header states none: no bound


def _decode_kernel(words, start, stop, state, width, height, events, out):
    """Decode words ``start`` .. ``stop`` - 1 sequentially into ``events`` (see :mod:`ltsnn.data.io.jit`).

    ``state`` = [last TIME_HIGH payload, last event's t] (-1: none yet), updated in place; out =
    [events written, problem (0 none, 1 unknown type, 2 CD before any TIME_HIGH), its word, the
    type, 1 if some event has x >= width, y >= height or goes back in time, else 0]. That flag is
    accumulated without a branch per event; the caller finds the first such event only when set.
    """
    time_high, last_t = state[0], state[1]
    n = 0
    code, where, kind, suspect = 0, -1, 0, False
    for j in range(start, stop):
        w = np.int64(words[j])
        kind = w >> 28
        if kind <= _CD_ON:
            if time_high < 0:
                code, where = 2, j
                break
            time = (time_high << 6) | ((w >> 22) & 0x3F)
            column, row = (w >> 11) & 0x7FF, w & 0x7FF
            event = events[n]           # a record: faster than four strided views
            event.t, event.x, event.y, event.p = time, column, row, kind
            suspect |= (column >= width) | (row >= height) | (time < last_t)
            last_t = time
            n += 1
        elif kind == _TIME_HIGH:
            time_high = w & 0x0FFFFFFF
        elif not (kind == 0xA or kind == 0xE or kind == 0xF):
            code, where = 1, j
            break
    state[0], state[1] = time_high, last_t
    out[0], out[1], out[2], out[3], out[4] = n, code, where, kind, suspect


def scan_evt2(path: str | os.PathLike, *, step: int = READ_STEP) -> Chunks:
    """Open an EVT 2.0 RAW file for decoding ``step`` words at a time (see :func:`read_evt2`)."""
    header, data_start = read_prophesee_header(path, _READER)
    named = stated_format(header)
    if named not in (None, "evt2"):
        raise file_error(_READER, path, "header", f"the header names format {named!r}; expected EVT 2.0")
    sensor_size = stated_sensor_size(header, _READER, path)
    words, steps = fixed_records(path, reader=_READER, data_start=data_start, record=np.dtype("<u4"), step=step)

    def fail(j: int, code: int, kind: int) -> None:
        problem = (f"event type 0x{kind:X}; expected one of 0x0, 0x1, 0x8, 0xA, 0xE, 0xF" if code == 1 else
                   "CD event before the first EVT_TIME_HIGH word; expected a TIME_HIGH first")
        raise file_error(_READER, path, f"word {j} (byte offset {data_start + 4 * j})", problem)

    def numpy_steps() -> Iterator[np.ndarray]:
        time_high: int | None = None      # carried across steps
        start = 0
        for words in steps:
            kind = words >> 28
            problems = []                 # (word, code): the first in file order is reported, as when compiled
            unknown = np.flatnonzero(~_KNOWN_TYPES[kind])
            if unknown.size:
                problems.append((int(unknown[0]), 1))
            index = np.arange(len(words))
            is_high = kind == _TIME_HIGH
            last_high = np.maximum.accumulate(np.where(is_high, index, -1))
            is_cd = kind <= _CD_ON
            high = (words[np.maximum(last_high, 0)] & 0x0FFFFFFF).astype(np.int64)
            if time_high is None:
                orphan = np.flatnonzero(is_cd & (last_high < 0))
                if orphan.size:
                    problems.append((int(orphan[0]), 2))
            else:
                high = np.where(last_high < 0, time_high, high)
            if problems:
                j, code = min(problems)
                fail(start + j, code, int(kind[j]))
            if is_high.any():
                time_high = int(words[last_high[-1]] & 0x0FFFFFFF)
            cd = words[is_cd]
            t = (high[is_cd] << 6) | ((cd >> 22) & 0x3F)
            start += len(words)
            yield assemble(t, (cd >> 11) & 0x7FF, cd & 0x7FF, kind[is_cd])

    def compiled_steps(decode) -> Iterator[np.ndarray]:
        state = np.array([-1, -1], dtype=np.int64)
        width, height = sensor_size or (_NO_SIDE, _NO_SIDE)
        out = np.empty(5, dtype=np.int64)
        first_event = 0
        for start in range(0, len(words), step):
            stop = min(start + step, len(words))
            last_t = int(state[1])
            events = np.empty(stop - start, dtype=EVENT_DTYPE)     # at most one event per word
            decode(words, start, stop, state, width, height, events, out)
            n, code, where, kind, suspect = (int(v) for v in out)
            if code:
                fail(where, code, kind)
            yield decoded_step(events, n, flagged=bool(suspect), last_t=last_t, start=first_event, reader=_READER,
                               path=path, sensor_size=sensor_size)
            first_event += n

    return compiled_or_checked(_decode_kernel, compiled_steps, numpy_steps, sensor_size=sensor_size,
                               reader=_READER, path=path)


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
