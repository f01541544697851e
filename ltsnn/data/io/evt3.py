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
2^24 µs (16.8 s): a TIME_HIGH that falls back by at least ``(4095 - 10) << 12`` µs (the reference
decoder's threshold) is a wrap, adding 2^24 µs to all later times, when the TIME_HIGH words around
it confirm it: the (up to) 4 before in the upper half of the counter (>= 2048) and the next 1 to 4
in the lower half. Otherwise, and for any smaller step back, it is an error naming the word: one
corrupted TIME_HIGH would else shift every later event by 16.8 s. All state carries across steps,
so streamed reads equal whole reads.

Two paths decode the same words into the same events and errors (:mod:`ltsnn.data.io.jit`): a
compiled state machine, one pass over the words, when numba is available; else numpy, where each
event word finds its row, time and vector base by a binary search among the state words before it
and vector words expand through their bit masks. Reserved word types (0x1, 0x9, 0xB, 0xC, 0xD)
and pixel events before the state they need are errors naming the word's byte offset (the first
such word in file order). The sensor size comes from ``% format`` / ``% geometry``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ltsnn.data.events import EVENT_DTYPE
from ltsnn.data.io.prophesee import read_prophesee_header, stated_format, stated_sensor_size
from ltsnn.data.io.recording import (READ_STEP, Chunks, Recording, assemble, compiled_or_checked, concatenate,
                                     decoded_step, empty_events, file_error, fixed_records)

_READER = "read_evt3"
_ADDR_Y, _ADDR_X, _VECT_BASE_X, _VECT_12, _VECT_8, _TIME_LOW, _TIME_HIGH = 0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x8
_KNOWN_TYPES = np.zeros(16, dtype=bool)
_KNOWN_TYPES[[0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xE, 0xF]] = True
_WRAP_US = 1 << 24
_WRAP_DROP = 4095 - 10        # in TIME_HIGH units (4096 µs): Prophesee's MaxTimestampBase - LoopThreshold
_WRAP_CONTEXT = 4              # TIME_HIGH words on each side that must confirm a wrap
_HALF = 2048                   # TIME_HIGH values >= this are the counter's upper half
_MAX_X = 2047                  # the 11-bit x field
_NO_SIDE = 1 << 30             # sensor side when the header states none: no bound
# Decoding problems, by code: the message (formatted with the values a, b). When one word has
# several, the lowest code is reported, in both paths.
_PROBLEMS = {
    1: lambda a, b: "pixel event before any EVT_ADDR_Y word; expected a row first",
    2: lambda a, b: "pixel event before any EVT_TIME_HIGH word; expected a time first",
    3: lambda a, b: "vector event before any VECT_BASE_X word; expected a base column first",
    4: lambda a, b: f"vector event reaches x = {a}; expected x <= {_MAX_X}",
    5: lambda a, b: (f"EVT_TIME_HIGH falls from {a} to {b} (x 4096 µs) but is not a 24-bit counter wrap: expected the "
                     f"(up to) {_WRAP_CONTEXT} TIME_HIGH words before >= {_HALF} and the next (at least 1, up to "
                     f"{_WRAP_CONTEXT}) < {_HALF} (corrupted word?)"),
    6: lambda a, b: (f"EVT_TIME_HIGH goes back from {a} to {b} (x 4096 µs) without wrapping; "
                     "expected non-decreasing time"),
    7: lambda a, b: f"reserved word type 0x{a:X}; expected 0x0, 0x2-0x8, 0xA, 0xE or 0xF",
}
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


def _highs_confirm_wrap(words: np.ndarray, i: int) -> bool:
    """Whether the TIME_HIGH word ``i`` of ``words`` (all the file's words), which falls back by a
    wrap's amount, is confirmed as a wrap by the TIME_HIGH words around it (see the module doc)."""
    def highs(lo: int, hi: int, backwards: bool) -> np.ndarray:
        found: list[np.ndarray] = []
        held, block = 0, 4096
        while held < _WRAP_CONTEXT and lo < hi:
            part = words[max(lo, hi - block):hi] if backwards else words[lo:min(hi, lo + block)]
            values = (part[(part >> 12) == _TIME_HIGH] & 0xFFF).astype(np.int64)
            found.append(values[::-1] if backwards else values)
            held += len(values)
            hi, lo = (hi - block, lo) if backwards else (hi, lo + block)
        return np.concatenate(found)[:_WRAP_CONTEXT] if found else np.empty(0, dtype=np.int64)

    before, after = highs(0, i, True), highs(i + 1, len(words), False)
    return len(after) >= 1 and bool((before >= _HALF).all() and (after < _HALF).all())


def _decode_step(words: np.ndarray, state: _State, confirm) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """Decode one step of EVT 3.0 words with numpy into Events, updating ``state`` in place.

    Only the positions of state words and of event words are materialised; each event word finds
    its row, time and vector base by a binary search among the state words before it.
    ``confirm(j)`` tells whether the wrap-sized fall of TIME_HIGH word ``j`` is a wrap.

    Returns:
        (Events, the first problem (word j, code, a, b) in file order, or None).
    """
    problems: list[tuple[int, int, int, int]] = []
    kind = words >> 12
    unknown = np.flatnonzero(~_KNOWN_TYPES[kind])
    if unknown.size:
        problems.append((int(unknown[0]), 7, int(kind[unknown[0]]), 0))
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
    is_wrap = drop >= _WRAP_DROP
    for k in np.flatnonzero(is_wrap):
        if not confirm(int(at_high[k])):
            problems.append((int(at_high[k]), 5, int(previous[k]), int(high[k])))
            break
    wraps = state.wraps + np.cumsum(is_wrap)
    back = np.flatnonzero((drop > 0) & ~is_wrap)
    if back.size:
        problems.append((int(at_high[back[0]]), 6, int(previous[back[0]]), int(high[back[0]])))
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
    for code, bad in ((1, y == _UNSET), (2, base == _UNSET), (3, unset)):
        if bad.any():
            problems.append((int(at_event[np.argmax(bad)]), code, 0, 0))
    if is_vector.any():
        row, bit = np.nonzero((valid[:, None] >> _BIT) & 1)    # row-major: file order, then column order
    else:
        row, bit = np.arange(len(at_event)), np.zeros(len(at_event), dtype=np.int64)
    x = first_x[row] + bit
    past = np.flatnonzero((x > _MAX_X) & ~unset[row])         # an unset base has no x to check
    if past.size:
        problems.append((int(at_event[row[past[0]]]), 4, int(x[past[0]]), 0))
    if problems:
        return empty_events(), min(problems)
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
    return events, None


# The compiled path's state, an int64 array carried across steps (-1 = not yet set by the stream).
_S_Y, _S_BASE_X, _S_VECTOR_P, _S_TIME_BASE, _S_TIME_LOW, _S_LAST_HIGH, _S_WRAPS, _S_LAST_T = range(8)


def _decode_kernel(words, start, stop, state, width, height, events, n, out):
    """Decode words ``start`` .. ``stop`` - 1 of ``words`` (all the file's words) sequentially.

    Writes the events into ``events`` from index ``n`` on; updates ``state``; out = [events
    written in all, problem code (0: none), its word, a, b, 1 if some event has x >= width,
    y >= height or goes back in time else 0 (no branch per event: the caller then finds it), the
    word where decoding stopped]. Stops at the first decoding problem (as the numpy path reports
    the first one), or before a pixel word when fewer than 12 places are left in ``events`` (the
    caller grows them and resumes).
    """
    cur_y, base_x, vector_p = state[_S_Y], state[_S_BASE_X], state[_S_VECTOR_P]
    time_base, time_low, last_high, wraps, last_t = (state[_S_TIME_BASE], state[_S_TIME_LOW], state[_S_LAST_HIGH],
                                                     state[_S_WRAPS], state[_S_LAST_T])
    code, where, a, b, suspect = 0, -1, 0, 0, False
    capacity = len(events) - 12
    j = start
    while j < stop:
        w = np.int64(words[j])
        kind = w >> 12
        value = w & 0xFFF
        if kind == _ADDR_Y:
            cur_y = value & 0x7FF
        elif kind == _ADDR_X or kind == _VECT_12 or kind == _VECT_8:
            if n > capacity:
                break
            if cur_y == _UNSET or time_base == _UNSET or (kind != _ADDR_X and base_x == _UNSET):
                code, where = (1 if cur_y == _UNSET else 2 if time_base == _UNSET else 3), j
                break
            time = time_base + time_low
            if kind == _ADDR_X:                 # the common case, without the vector's bit loop
                column = value & 0x7FF
                event = events[n]           # a record: faster than four strided views
                event.t, event.x, event.y, event.p = time, column, cur_y, value >> 11
                suspect |= (column >= width) | (cur_y >= height) | (time < last_t)
                last_t = time
                n += 1
            else:
                mask = value if kind == _VECT_12 else value & 0xFF
                first = base_x
                base_x += 12 if kind == _VECT_12 else 8
                if mask:                        # all events of the word share its row and time: check once
                    suspect |= (cur_y >= height) | (time < last_t)
                    last_t = time
                bit = 0
                while mask:
                    if mask & 1:
                        column = first + bit
                        if column > _MAX_X:
                            code, where, a = 4, j, column
                            break
                        event = events[n]
                        event.t, event.x, event.y, event.p = time, column, cur_y, vector_p
                        suspect |= column >= width
                        n += 1
                    mask >>= 1
                    bit += 1
                if code:
                    break
        elif kind == _VECT_BASE_X:
            base_x, vector_p = value & 0x7FF, value >> 11
        elif kind == _TIME_LOW:
            time_low = value
        elif kind == _TIME_HIGH:
            if last_high != _UNSET and last_high - value >= _WRAP_DROP:
                # Confirm the wrap by the TIME_HIGH words around it (as _highs_confirm_wrap).
                seen, confirmed = 0, True
                i = j - 1
                while i >= 0 and seen < _WRAP_CONTEXT:
                    if words[i] >> 12 == _TIME_HIGH:
                        seen += 1
                        confirmed = confirmed and (words[i] & 0xFFF) >= _HALF
                    i -= 1
                seen = 0
                i = j + 1
                while i < len(words) and seen < _WRAP_CONTEXT:
                    if words[i] >> 12 == _TIME_HIGH:
                        seen += 1
                        confirmed = confirmed and (words[i] & 0xFFF) < _HALF
                    i += 1
                if not confirmed or seen == 0:
                    code, where, a, b = 5, j, last_high, value
                    break
                wraps += 1
            elif last_high != _UNSET and last_high > value:
                code, where, a, b = 6, j, last_high, value
                break
            last_high = value
            time_base = wraps * _WRAP_US + (value << 12)
            time_low = 0
        elif not (kind == 0x7 or kind == 0xA or kind == 0xE or kind == 0xF):
            code, where, a = 7, j, kind
            break
        j += 1
    state[_S_Y], state[_S_BASE_X], state[_S_VECTOR_P] = cur_y, base_x, vector_p
    state[_S_TIME_BASE], state[_S_TIME_LOW], state[_S_LAST_HIGH], state[_S_WRAPS], state[_S_LAST_T] = (
        time_base, time_low, last_high, wraps, last_t)
    out[0], out[1], out[2], out[3], out[4], out[5], out[6] = n, code, where, a, b, suspect, j


def scan_evt3(path: str | os.PathLike, *, step: int = READ_STEP) -> Chunks:
    """Open an EVT 3.0 RAW file for decoding ``step`` words at a time (see :func:`read_evt3`)."""
    header, data_start = read_prophesee_header(path, _READER)
    named = stated_format(header)
    if named not in (None, "evt3"):
        raise file_error(_READER, path, "header", f"the header names format {named!r}; expected EVT 3.0")
    sensor_size = stated_sensor_size(header, _READER, path)
    words, _ = fixed_records(path, reader=_READER, data_start=data_start, record=np.dtype("<u2"), step=step)

    def fail(j: int, code: int, a: int, b: int) -> None:
        raise file_error(_READER, path, f"word {j} (byte offset {data_start + 2 * j})", _PROBLEMS[code](a, b))

    def numpy_steps() -> Iterator[np.ndarray]:
        state = _State()
        for start in range(0, len(words), step):
            events, problem = _decode_step(words[start:start + step], state,
                                           lambda j: _highs_confirm_wrap(words, start + j))
            if problem is not None:
                fail(start + problem[0], *problem[1:])
            yield events

    def compiled_steps(decode) -> Iterator[np.ndarray]:
        state = np.array([_UNSET, _UNSET, _UNSET, _UNSET, 0, _UNSET, 0, -1], dtype=np.int64)
        width, height = sensor_size or (_NO_SIDE, _NO_SIDE)
        out = np.empty(7, dtype=np.int64)
        first_event = 0
        for start in range(0, len(words), step):
            stop = min(start + step, len(words))
            last_t = int(state[_S_LAST_T])
            # Most words hold at most one event; a vector-rich stream grows the buffer and resumes.
            # Pages of the buffer that are never written are never touched, so the slack is free.
            events = np.empty(stop - start + 12, dtype=EVENT_DTYPE)
            n, resume, suspect = 0, start, False
            while True:
                decode(words, resume, stop, state, width, height, events, n, out)
                n, code, where, a, b, flagged, resume = (int(v) for v in out)
                suspect = suspect or bool(flagged)
                if code or resume == stop:
                    break
                grown = np.empty(n + max(len(events), 12 * (stop - resume)), dtype=EVENT_DTYPE)
                grown[:n].view(np.uint8)[:] = events[:n].view(np.uint8)
                events = grown
            if code:
                fail(where, code, a, b)
            yield decoded_step(events, n, flagged=suspect, last_t=last_t, start=first_event, reader=_READER,
                               path=path, sensor_size=sensor_size)
            first_event += n

    return compiled_or_checked(_decode_kernel, compiled_steps, numpy_steps, sensor_size=sensor_size,
                               reader=_READER, path=path)


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
