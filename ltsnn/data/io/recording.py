"""What every reader returns (:class:`Recording`) and the checks and plumbing they share.

Readers decode a file in steps (a bounded number of records, words or packets at a time) so that
files larger than memory can be streamed by :func:`ltsnn.data.io.iter_events`; the whole-file
readers concatenate the same steps. The checks here run on every step with the event index
counted from the start of the file, so a streamed read and a whole read fail in the same way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import numpy as np

from ltsnn.data.events import EVENT_DTYPE
from ltsnn.data.io.jit import compiled

# How many records (or words) a whole-file read decodes per step: large enough that numpy's
# per-call overhead vanishes, small enough that temporaries stay in the tens of MB.
READ_STEP = 1 << 22
# A text header longer than this is not a header: refuse it rather than scan a binary file for '\n'.
MAX_HEADER_BYTES = 1 << 20
# The largest sensor side (pixels) a header may state. Event sensors today are at most about 1280
# pixels wide; a larger stated size is a corrupted (or hostile) header, refused before anything (a
# frame, a histogram) is allocated from it: 8192 x 8192 x 2 polarities is already 128 Mi cells per bin.
MAX_SENSOR_SIDE = 8192
# A header line is text: a control byte (other than tab and CR) before its newline means binary data
# that merely starts with the prefix byte ('%' is 0x25, a plausible first data byte).
_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")


class Recording(NamedTuple):
    """One decoded file.

    Attributes:
        events: Events [N] (:data:`~ltsnn.data.events.EVENT_DTYPE`: t µs int64, x, y uint16,
            p int8 with 1 = ON), in file order.
        sensor_size: (W, H) in pixels when the file's header states it, else None.
    """

    events: np.ndarray
    sensor_size: tuple[int, int] | None


class Chunks(NamedTuple):
    """A decoder opened on a file: its sensor size and a generator of Events steps."""

    sensor_size: tuple[int, int] | None
    steps: Iterator[np.ndarray]


def file_error(reader: str, path: str | os.PathLike, where: str, problem: str) -> ValueError:
    """The ValueError every reader raises: ``reader: 'path': where: problem``."""
    return ValueError(f"{reader}: {os.fspath(path)!r}: {where}: {problem}")


def check_sensor_side(value: int, *, reader: str, path: str | os.PathLike, key: str) -> int:
    """``value`` when it is a sensor side in 1..:data:`MAX_SENSOR_SIDE`, else a ValueError naming ``key``."""
    if not 0 < value <= MAX_SENSOR_SIDE:
        raise file_error(reader, path, f"header field {key!r}",
                         f"sensor side {value}; expected 1..{MAX_SENSOR_SIDE} pixels (MAX_SENSOR_SIDE)")
    return value


def require_events(recording: Recording, path: str | os.PathLike, *, reader: str) -> Recording:
    """``recording`` when it holds at least one event, else a ValueError naming the file.

    A file with no events is a valid recording, but as a data-set sample it would become
    all-zero frames with a label: data sets read their samples through this check.
    """
    if not len(recording.events):
        raise file_error(reader, path, "whole file", "no events (an empty or header-only file); expected at least "
                         "one event per data-set sample")
    return recording


def open_binary(path: str | os.PathLike):
    """Open ``path`` for reading bytes; a missing file raises FileNotFoundError naming it."""
    return open(os.fspath(path), "rb")


def read_prefix(path: str | os.PathLike, n: int) -> bytes:
    """The first ``n`` bytes of a file (fewer if it is shorter)."""
    with open_binary(path) as f:
        return f.read(n)


def read_text_header(path: str | os.PathLike, prefix: bytes, reader: str, *,
                     last_line: str | None = None) -> tuple[list[str], int]:
    """Read the leading text lines that start with ``prefix`` (``b'#'`` or ``b'%'``).

    Args:
        last_line: a line that ends the header (e.g. ``'#!END-HEADER'``) even if the next byte
            happens to equal ``prefix``.

    Returns:
        (the lines without their line endings, decoded as latin-1; byte offset of the first data byte).

    Raises:
        ValueError: when a header line has no line ending within :data:`MAX_HEADER_BYTES`.
    """
    with open_binary(path) as f:
        head = f.read(1 << 16)                    # headers are short: read more only when this one is not
        if head.startswith(prefix) and len(head) == 1 << 16 and _CONTROL.search(head) is None:
            head += f.read(MAX_HEADER_BYTES + 1 - len(head))
    lines: list[str] = []
    offset = 0
    while head.startswith(prefix, offset):
        end = head.find(b"\n", offset)
        if _CONTROL.search(head, offset, end if end >= 0 else len(head)):
            break     # binary data that happens to start with the prefix byte: the header has ended
        if end < 0:
            limit = "the end of the file" if len(head) <= MAX_HEADER_BYTES else f"{MAX_HEADER_BYTES} bytes"
            raise file_error(reader, path, f"header line at byte offset {offset}",
                             f"no line ending within {limit}; expected '{prefix.decode()}'-prefixed text lines")
        lines.append(head[offset:end].rstrip(b"\r").decode("latin-1"))
        offset = end + 1
        if lines[-1] == last_line:
            break
    return lines, offset


def empty_events() -> np.ndarray:
    return np.empty(0, dtype=EVENT_DTYPE)


def assemble(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Events from decoded columns that the caller has already range-checked (no copies of checks)."""
    events = np.empty(len(t), dtype=EVENT_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = t, x, y, p
    return events


def step_problems(events: np.ndarray, *, sensor_size: tuple[int, int] | None, monotonic: bool,
                  last_t: int | None) -> tuple[int, int, int]:
    """Index in ``events`` of the first x outside the sensor, first y outside, first step back in time
    (after ``last_t``, the previous step's last time); -1 where there is none."""
    found = []
    for field, side in (("x", 0), ("y", 1)):
        bad = np.flatnonzero(events[field] >= sensor_size[side]) if sensor_size is not None else ()
        found.append(int(bad[0]) if len(bad) else -1)
    back = -1
    if monotonic and len(events):
        t = events["t"]
        if last_t is not None and t[0] < last_t:
            back = 0
        else:
            steps_back = np.flatnonzero(t[1:] < t[:-1])
            back = int(steps_back[0]) + 1 if steps_back.size else -1
    return found[0], found[1], back


def raise_step_problem(events: np.ndarray, problems: tuple[int, int, int], *, reader: str, path: str | os.PathLike,
                       sensor_size: tuple[int, int] | None, last_t: int | None, start: int,
                       offset_of: Callable[[int], int] | None) -> None:
    """Raise the ValueError for the first of :func:`step_problems`' findings (x, then y, then time); none: return."""
    def where(i: int) -> str:
        return f"event {i}" + (f" (byte offset {offset_of(i)})" if offset_of is not None else "")

    bad_x, bad_y, back = problems
    for field, i, side, name in (("x", bad_x, 0, "width"), ("y", bad_y, 1, "height")):
        if i >= 0:
            raise file_error(reader, path, where(start + i),
                             f"{field} = {events[field][i]} is outside the sensor: expected {field} < "
                             f"{sensor_size[side]}, the {name} stated in the header")
    if back >= 0:
        before = last_t if back == 0 else int(events["t"][back - 1])
        raise file_error(reader, path, where(start + back),
                         f"timestamp {events['t'][back]} µs is earlier than the previous event's {before} µs; "
                         "expected non-decreasing time")


def check_step(events: np.ndarray, *, reader: str, path: str | os.PathLike, sensor_size: tuple[int, int] | None,
               monotonic: bool, last_t: int | None, start: int, offset_of: Callable[[int], int] | None) -> None:
    """Raise the ValueError of the first event of ``events`` (file index ``start`` on) outside the sensor or,
    when ``monotonic``, earlier than the one before (``last_t`` before the first); else return.

    Compiled decoders only flag that a step has such an event (no branch per event) and call this then.
    """
    problems = step_problems(events, sensor_size=sensor_size, monotonic=monotonic, last_t=last_t)
    raise_step_problem(events, problems, reader=reader, path=path, sensor_size=sensor_size, last_t=last_t,
                       start=start, offset_of=offset_of)


def decoded_step(events: np.ndarray, n: int, *, flagged: bool, last_t: int, start: int, reader: str,
                 path: str | os.PathLike, sensor_size: tuple[int, int] | None) -> np.ndarray:
    """The ``n`` events a compiled decoder wrote into ``events`` (file index ``start`` on), checked event by
    event (:func:`check_step`, monotonic) only when the decoder ``flagged`` the step; ``last_t`` is the time
    before the step, negative when there was none."""
    events = events[:n]
    if flagged:
        check_step(events, reader=reader, path=path, sensor_size=sensor_size, monotonic=True,
                   last_t=last_t if last_t >= 0 else None, start=start, offset_of=None)
    return events


def compiled_or_checked(kernel: Callable, compiled_steps: Callable[[Callable], Iterator[np.ndarray]],
                        numpy_steps: Callable[[], Iterator[np.ndarray]], *, sensor_size: tuple[int, int] | None,
                        reader: str, path: str | os.PathLike) -> Chunks:
    """The steps of ``compiled_steps(kernel compiled by numba)``, or, without numba, those of ``numpy_steps()``
    passed through :func:`checked` (monotonic), as :class:`Chunks` of ``sensor_size``."""
    decode = compiled(kernel)
    if decode is not None:
        return Chunks(sensor_size, compiled_steps(decode))
    return Chunks(sensor_size, checked(numpy_steps(), reader=reader, path=path, sensor_size=sensor_size,
                                       monotonic=True))


def checked(steps: Iterable[np.ndarray], *, reader: str, path: str | os.PathLike,
            sensor_size: tuple[int, int] | None, monotonic: bool,
            offset_of: Callable[[int], int] | None = None, first_index: int = 0) -> Iterator[np.ndarray]:
    """Pass Events steps through, raising at the first event outside the sensor or back in time.

    Args:
        steps: Events arrays in file order.
        sensor_size: (W, H) from the header; None skips the bounds check.
        monotonic: whether timestamps must never decrease (across steps too).
        offset_of: maps an event index to its byte offset, for formats with fixed-size records.
        first_index: the index in the file of the first event of ``steps`` (a part read by random access).

    Raises:
        ValueError: naming the event index (and byte offset when known), the value and the bound.
    """
    start = first_index
    last_t: int | None = None
    for events in steps:
        check_step(events, reader=reader, path=path, sensor_size=sensor_size, monotonic=monotonic, last_t=last_t,
                   start=start, offset_of=offset_of)
        if len(events):
            last_t = int(events["t"][-1])
        start += len(events)
        yield events


def join(parts: list[np.ndarray]) -> np.ndarray:
    """Events arrays joined into one, as bytes: numpy copies structured arrays field by field, 10x slower."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([np.ascontiguousarray(part).view(np.uint8) for part in parts]).view(EVENT_DTYPE)


def concatenate(steps: Iterable[np.ndarray]) -> np.ndarray:
    parts = [s for s in steps if len(s)]
    return join(parts) if parts else empty_events()


def rechunk(steps: Iterable[np.ndarray], chunk_size: int) -> Iterator[np.ndarray]:
    """Regroup Events steps of any sizes into chunks of exactly ``chunk_size`` (the last may be shorter).

    No chunk is empty; an empty recording yields nothing.
    """
    pending: list[np.ndarray] = []
    held = 0
    for events in steps:
        while len(events):
            take = min(chunk_size - held, len(events))
            pending.append(events[:take])
            held += take
            events = events[take:]
            if held == chunk_size:
                yield join(pending)
                pending, held = [], 0
    if held:
        yield join(pending)


def fixed_records(path: str | os.PathLike, *, reader: str, data_start: int, record: np.dtype,
                  step: int) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    """Memory-map the fixed-size records after a header and iterate over them ``step`` at a time.

    Returns:
        (the whole memory-mapped record array [N], an iterator of record slices [<= step]).

    Raises:
        ValueError: when the data size is not a whole number of records (naming the byte offset
            of the incomplete record).
    """
    size = os.path.getsize(path)
    data_bytes = size - data_start
    if data_bytes % record.itemsize:
        cut = size - data_bytes % record.itemsize
        raise file_error(reader, path, f"byte offset {cut}",
                         f"incomplete {record.itemsize}-byte record: the file has {size} bytes, data start at "
                         f"byte {data_start}; expected a whole number of records (truncated file?)")
    n = data_bytes // record.itemsize
    if n == 0:
        records = np.empty(0, dtype=record)
    else:
        records = np.memmap(path, dtype=record, mode="r", offset=data_start, shape=(n,))
    return records, (records[i:i + step] for i in range(0, n, step))
