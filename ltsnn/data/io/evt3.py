"""Reader for Prophesee RAW files in EVT 3.0 (Gen4.1, IMX636 EVK4 cameras).

After the ``%`` header (see :mod:`ltsnn.data.io.prophesee`), the data are little-endian 16-bit
words; the top 4 bits give the type, and the others update a decoder state (Prophesee,
"EVT 3.0 format")::

    0x0 EVT_ADDR_Y    bits 10-0 y                          (state: current row)
    0x2 EVT_ADDR_X    bits 10-0 x, bit 11 polarity         -> one event at (x, row)
    0x3 VECT_BASE_X   bits 10-0 x, bit 11 polarity         (state: vector base column, polarity)
    0x4 VECT_12       bits 11-0 valid mask                 -> events at base + i for set bits; base += 12
    0x5 VECT_8        bits 7-0 valid mask                  -> events at base + i for set bits; base += 8
    0x6 EVT_TIME_LOW  bits 11-0 time bits 11-0
    0x8 EVT_TIME_HIGH bits 11-0 time bits 23-12
    0x7 CONTINUED_4, 0xA EXT_TRIGGER, 0xE OTHERS, 0xF CONTINUED_12: no pixel event (skipped)

Time follows Prophesee's reference decoder: a TIME_HIGH word sets the time to ``high << 12``
(the low part resets to 0), a TIME_LOW word sets the low 12 bits. The 24-bit counter wraps every
2^24 µs (16.8 s): a TIME_HIGH that falls back by at least ``(4095 - 10) << 12`` µs counts as a wrap
and adds 2^24 µs to all later times (the reference decoder's threshold); a smaller step back is a
decrease in time and an error. All state carries across steps, so streamed reads equal whole reads.

The sequential state is vectorised: the index of the last state word of each kind before every
word is found with ``np.maximum.accumulate``, and vector words expand through their bit masks.
Reserved word types (0x1, 0x9, 0xB, 0xC, 0xD) and pixel events before the state they need are
errors naming the word's byte offset. The sensor size comes from ``% format`` / ``% geometry``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ltsnn.data.io.prophesee import read_prophesee_header, stated_format, stated_sensor_size
from ltsnn.data.io.recording import (READ_STEP, Chunks, Recording, assemble, checked, concatenate,
                                     file_error, fixed_records)

_READER = "read_evt3"
_ADDR_Y, _ADDR_X, _VECT_BASE_X, _VECT_12, _VECT_8, _TIME_LOW, _TIME_HIGH = 0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x8
_KNOWN_TYPES = np.zeros(16, dtype=bool)
_KNOWN_TYPES[[0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xE, 0xF]] = True
_WRAP_US = 1 << 24
_WRAP_DROP = 4095 - 10        # in TIME_HIGH units (4096 µs): Prophesee's MaxTimestampBase - LoopThreshold
_MAX_X = 2047                  # the 11-bit x field
_BIT = np.arange(12, dtype=np.int64)
_UNSET = -1


@dataclass
class _State:
    """Decoder state carried from one step to the next (-1 = not yet set by the stream)."""

    y: int = _UNSET
    base_x: int = _UNSET
    vector_p: int = _UNSET
    time_base: int = _UNSET       # wraps * 2^24 + high << 12, µs
    time_low: int = 0
    last_high: int = _UNSET       # raw 12-bit value of the last TIME_HIGH word
    wraps: int = 0


def _last_before(state_at: np.ndarray, at: np.ndarray) -> np.ndarray:
    """For each word position in ``at``, the rank in ``state_at`` (sorted positions of one kind of
    state word) of the last such word at or before it; -1 where there is none in this step."""
    return np.searchsorted(state_at, at, side="right") - 1


def _state_value(rank: np.ndarray, values: np.ndarray, carried: int) -> np.ndarray:
    """values[rank] where the state word is in this step, else the state carried from before."""
    return np.where(rank >= 0, values[np.maximum(rank, 0)] if values.size else carried, carried)


def _decode_step(words: np.ndarray, state: _State, fail) -> np.ndarray:
    """Decode one step of EVT 3.0 words into Events, updating ``state`` in place.

    Only the positions of state words and of event words are materialised; each event word finds
    its row, time and vector base by a binary search among the state words before it.
    """
    kind = words >> 12
    unknown = np.flatnonzero(~_KNOWN_TYPES[kind])
    if unknown.size:
        fail(int(unknown[0]), f"reserved word type 0x{kind[unknown[0]]:X}; expected 0x0, 0x2-0x8, 0xA, 0xE or 0xF")
    payload = (words & 0xFFF).astype(np.int64)
    at_y, at_high, at_low = (np.flatnonzero(kind == k) for k in (_ADDR_Y, _TIME_HIGH, _TIME_LOW))
    at_base = np.flatnonzero(kind == _VECT_BASE_X)
    at_event = np.flatnonzero((kind == _ADDR_X) | (kind == _VECT_12) | (kind == _VECT_8))   # file order
    is_vector = kind[at_event] != _ADDR_X
    at_vector = at_event[is_vector]

    # Time: unwrap the TIME_HIGH sequence; each event takes the last high and, if newer, the last low.
    high = payload[at_high]
    previous = np.concatenate([[state.last_high if state.last_high != _UNSET else (high[0] if high.size else 0)],
                               high[:-1]])
    drop = previous - high
    wraps = state.wraps + np.cumsum(drop >= _WRAP_DROP)
    back = np.flatnonzero((drop > 0) & (drop < _WRAP_DROP))
    if back.size:
        fail(int(at_high[back[0]]), f"EVT_TIME_HIGH goes back from {previous[back[0]]} to {high[back[0]]} "
             "(x 4096 µs) without wrapping; expected non-decreasing time")
    high_base = wraps * _WRAP_US + (high << 12)

    def time_at(at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rank_high, rank_low = _last_before(at_high, at), _last_before(at_low, at)
        base = _state_value(rank_high, high_base, state.time_base)
        low_at = at_low[np.maximum(rank_low, 0)] if at_low.size else np.full(len(at), -1)
        high_at = at_high[np.maximum(rank_high, 0)] if at_high.size else np.full(len(at), -1)
        newer_low = (rank_low >= 0) & ((rank_high < 0) | (low_at > high_at))
        low = np.where(newer_low, payload[np.maximum(low_at, 0)], np.where(rank_high >= 0, 0, state.time_low))
        return base, low

    base, low = time_at(at_event)
    y = _state_value(_last_before(at_y, at_event), payload[at_y] & 0x7FF, state.y)

    # Vector base column: the last VECT_BASE_X plus 12 / 8 per vector word since then.
    step_x = np.where(kind[at_vector] == _VECT_12, 12, 8)
    before = np.cumsum(step_x) - step_x                         # increments of earlier vector words, this step
    rank_base = _last_before(at_base, at_vector)
    first_after_base = np.searchsorted(at_vector, at_base[np.maximum(rank_base, 0)], side="right") \
        if at_base.size else np.zeros(len(at_vector), dtype=np.int64)
    since_base = before - np.where(rank_base >= 0, before[np.minimum(first_after_base, len(before) - 1)], 0)
    vector_x = _state_value(rank_base, payload[at_base] & 0x7FF, state.base_x) + since_base
    vector_p = _state_value(rank_base, payload[at_base] >> 11, state.vector_p)
    vector_unset = (rank_base < 0) & (state.base_x == _UNSET)

    event_payload = payload[at_event]
    first_x = event_payload & 0x7FF
    p = event_payload >> 11
    valid = np.ones(len(at_event), dtype=np.int64)
    first_x[is_vector], p[is_vector] = vector_x, vector_p
    valid[is_vector] = np.where(kind[at_vector] == _VECT_12, payload[at_vector], payload[at_vector] & 0xFF)
    unset = np.zeros(len(at_event), dtype=bool)
    unset[is_vector] = vector_unset
    for problem, bad in (("pixel event before any EVT_ADDR_Y word; expected a row first", y == _UNSET),
                         ("pixel event before any EVT_TIME_HIGH word; expected a time first", base == _UNSET),
                         ("vector event before any VECT_BASE_X word; expected a base column first", unset)):
        if bad.any():
            fail(int(at_event[np.argmax(bad)]), problem)

    if is_vector.any():
        row, bit = np.nonzero((valid[:, None] >> _BIT) & 1)    # row-major: file order, then column order
    else:
        row, bit = np.arange(len(at_event)), np.zeros(len(at_event), dtype=np.int64)
    x = first_x[row] + bit
    past = np.flatnonzero(x > _MAX_X)
    if past.size:
        fail(int(at_event[row[past[0]]]), f"vector event reaches x = {x[past[0]]}; expected x <= {_MAX_X}")
    events = assemble((base + low)[row], x, y[row], p[row])

    if len(words):
        end = np.array([len(words) - 1])
        state.y = int(_state_value(_last_before(at_y, end), payload[at_y] & 0x7FF, state.y)[0])
        end_base, end_low = time_at(end)
        state.time_base, state.time_low = int(end_base[0]), int(end_low[0])
        if high.size:
            state.last_high, state.wraps = int(high[-1]), int(wraps[-1])
        if at_vector.size and not vector_unset[-1] and at_vector[-1] > (at_base[-1] if at_base.size else -1):
            state.base_x, state.vector_p = int(vector_x[-1] + step_x[-1]), int(vector_p[-1])
        elif at_base.size:
            state.base_x, state.vector_p = int(payload[at_base[-1]] & 0x7FF), int(payload[at_base[-1]] >> 11)
    return events


def scan_evt3(path: str | os.PathLike, *, step: int = READ_STEP) -> Chunks:
    """Open an EVT 3.0 RAW file for decoding ``step`` words at a time (see :func:`read_evt3`)."""
    header, data_start = read_prophesee_header(path, _READER)
    named = stated_format(header)
    if named not in (None, "evt3"):
        raise file_error(_READER, path, "header", f"the header names format {named!r}; expected EVT 3.0")
    sensor_size = stated_sensor_size(header, _READER, path)
    _, steps = fixed_records(path, reader=_READER, data_start=data_start, record=np.dtype("<u2"), step=step)

    def decode() -> Iterator[np.ndarray]:
        state = _State()
        start = 0
        for words in steps:
            def fail(j: int, problem: str) -> None:
                raise file_error(_READER, path, f"word {start + j} (byte offset {data_start + 2 * (start + j)})", problem)
            yield _decode_step(words, state, fail)
            start += len(words)

    return Chunks(sensor_size, checked(decode(), reader=_READER, path=path, sensor_size=sensor_size, monotonic=True))


def read_evt3(path: str | os.PathLike) -> Recording:
    """Read every CD event of a Prophesee EVT 3.0 RAW file, in file order.

    Returns:
        Recording: Events [N] (t in µs as counted by the camera, unwrapped past 2^24 µs) and the
        (W, H) the header states, else None.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: naming the file and the word's byte offset for a reserved word type, a pixel
            event before the state it needs, a vector past x = 2047, a TIME_HIGH stepping back,
            a header naming another format, or an odd byte count; with the event index for an
            event outside the stated sensor or a timestamp going back.
    """
    sensor_size, steps = scan_evt3(path)
    return Recording(concatenate(steps), sensor_size)
