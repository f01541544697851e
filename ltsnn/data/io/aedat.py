"""Readers for jAER / cAER AEDAT 2.0 and 3.1 files (DVS128, DAVIS) and for CIFAR10-DVS.

**AEDAT 2.0** (jAER): ``#`` text header lines, the first ``#!AER-DAT2.0``, then big-endian
8-byte records (uint32 address, int32 timestamp in µs). The address layout depends on the chip
named by the ``# AEChip: <java class>`` line (no line: the DVS128, jAER's default):

- DVS128 (``DVS128``, ``Tmpdiff128``; jAER ``DVS128.Extractor``): polarity bit 0, x bits 1-7,
  y bits 8-14. jAER mirrors x (``x = 127 - bits``) and reads a *clear* bit 0 as ON; its y counts
  from the bottom. In our top-left convention: ``x = 127 - bits 1-7``, ``y = 127 - bits 8-14``,
  ``p = 1 - bit 0``. Addresses with any bit above 14 set are jAER's special (sync / external)
  events, not pixels, and are skipped.
- DAVIS240 / DAVIS346 (jAER ``DavisChip`` constants, ``DavisEventExtractor``): bit 31 = 1 marks
  APS / IMU samples and bit 10 an external-input event (both skipped); otherwise x bits 12-21,
  y bits 22-30, polarity bit 11 (1 = ON); jAER mirrors x about W - 1 and counts y from the
  bottom, so ``x = W - 1 - bits``, ``y = H - 1 - bits``.

The chip gives the sensor size (128x128, 240x180, 346x260). Timestamps are read as unsigned 32-bit
and unwrapped (a fall of more than 2^31 µs is a counter wrap and adds 2^32 µs); any smaller fall is
a non-monotonic error.

**AEDAT 3.1** (cAER / DV): ``#`` header lines from ``#!AER-DAT3.1`` to ``#!END-HEADER``, then
packets: a 28-byte little-endian header (int16 eventType, int16 eventSource, int32 eventSize,
eventTSOffset, eventTSOverflow, eventCapacity, eventNumber, eventValid) followed by
eventCapacity x eventSize bytes. Polarity packets (type 1, 8-byte events) hold uint32 data
(bit 0 valid, bit 1 polarity, bits 2-16 y, bits 17-31 x, top-left origin) and int32 timestamp;
the time is ``eventTSOverflow << 31 | timestamp``. Events whose valid bit is clear were removed
by the recorder and are not events; other packet types (frames, IMU, special events) are other
streams and are skipped. The sensor size comes from ``#Source N: <name>`` when the name is a
known camera (DVS128, DAVIS240*, DAVIS346*), else None (libcaer polarity events: iniVation's
``polarity.h``; packet header: ``common.h``).

**CIFAR10-DVS** (:func:`read_cifar10dvs`): AEDAT 2.0 files from a DVS128, decoded with the
convention of SpikingJelly's ``CIFAR10DVS`` (``_load_origin_data``), which the LT-SNN, TET and
LM-HT pipelines read the data set through: ``x = 127 - (bits 8-14)``, ``y = 127 - (bits 1-7)``
(the address fields transposed, then both mirrored) and ``p = 1 - bit 0``. This differs from the
plain DVS128 reading above by a transpose, so the two readers are separate on purpose.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import numpy as np

from ltsnn.data.io.recording import (READ_STEP, Chunks, Recording, assemble, checked, concatenate,
                                     empty_events, file_error, fixed_records, open_binary, read_prefix,
                                     read_text_header)

_RECORD_2 = np.dtype([("address", ">u4"), ("t", ">u4")])
_PACKET_HEADER = np.dtype([("type", "<i2"), ("source", "<i2"), ("size", "<i4"), ("ts_offset", "<i4"),
                           ("ts_overflow", "<i4"), ("capacity", "<i4"), ("number", "<i4"), ("valid", "<i4")])
_POLARITY_EVENT = np.dtype([("data", "<u4"), ("t", "<i4")])
_POLARITY_TYPE = 1
_CAMERA_SIZES = (("dvs128", (128, 128)), ("tmpdiff128", (128, 128)), ("davis240", (240, 180)),
                 ("davis346", (346, 260)))


def _camera_size(name: str) -> tuple[int, int] | None:
    lowered = name.lower()
    return next((size for key, size in _CAMERA_SIZES if key in lowered), None)


def _unwrap_u32(t: np.ndarray, carried: list[int]) -> np.ndarray:
    """Unsigned 32-bit timestamps -> int64, adding 2^32 after every fall of more than 2^31.

    ``carried`` is [last raw value or -1, wraps so far], updated in place across steps.
    """
    raw = t.astype(np.int64)
    if not raw.size:
        return raw
    previous = np.concatenate([[carried[0] if carried[0] >= 0 else raw[0]], raw[:-1]])
    wraps = carried[1] + np.cumsum(previous - raw > (1 << 31))
    carried[0], carried[1] = int(raw[-1]), int(wraps[-1])
    return raw + (wraps << 32)


def _aedat2_steps(path, reader: str, data_start: int, step: int, decode_address) -> Iterator[np.ndarray]:
    _, steps = fixed_records(path, reader=reader, data_start=data_start, record=_RECORD_2, step=step)
    carried = [-1, 0]
    start = 0
    for records in steps:
        t = _unwrap_u32(records["t"], carried)
        keep, x, y, p = decode_address(records["address"], start)
        start += len(records)
        yield assemble(t[keep], x, y, p)


def _dvs128_address(address: np.ndarray, *, transposed: bool):
    keep = address < 0x8000                         # bits 15-31: jAER special (sync / external) events
    a = address[keep]
    col, row = (a >> 1) & 0x7F, (a >> 8) & 0x7F
    x, y = (127 - row, 127 - col) if transposed else (127 - col, 127 - row)
    return keep, x, y, 1 - (a & 1)


def _davis_address(size: tuple[int, int], path, reader: str, data_start: int):
    width, height = size

    def decode(address: np.ndarray, start: int):
        keep = (address >> 31 == 0) & ((address >> 10) & 1 == 0)
        a = address[keep]
        col, row = (a >> 12) & 0x3FF, (a >> 22) & 0x1FF
        for field, raw, bound in (("x", col, width), ("y", row, height)):
            bad = np.flatnonzero(raw >= bound)
            if bad.size:
                i = start + int(np.flatnonzero(keep)[bad[0]])
                raise file_error(reader, path, f"record {i} (byte offset {data_start + 8 * i})",
                                 f"{field} address {raw[bad[0]]} is outside the {width}x{height} sensor")
        return keep, width - 1 - col, height - 1 - row, (a >> 11) & 1

    return decode


def _aedat2_header(path, reader: str) -> tuple[list[str], int]:
    lines, data_start = read_text_header(path, b"#", reader)
    if not lines or not lines[0].startswith("#!AER-DAT2"):
        found = lines[0][:20] if lines else read_prefix(path, 12)
        raise file_error(reader, path, "byte offset 0", f"first line {found!r}; expected '#!AER-DAT2.0'")
    return lines, data_start


def scan_aedat2(path: str | os.PathLike, *, step: int = READ_STEP) -> Chunks:
    """Open an AEDAT 2.0 file for decoding ``step`` records at a time (see :func:`read_aedat`)."""
    reader = "read_aedat"
    lines, data_start = _aedat2_header(path, reader)
    chip = next((line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("# aechip:")), "DVS128")
    size = _camera_size(chip)
    if size is None:
        raise file_error(reader, path, "header line '# AEChip'",
                         f"chip {chip!r} has no known address layout; expected a DVS128, DAVIS240 or DAVIS346")
    if size == (128, 128):
        def decode(address, start):
            return _dvs128_address(address, transposed=False)
    else:
        decode = _davis_address(size, path, reader, data_start)
    steps = _aedat2_steps(path, reader, data_start, step, decode)
    return Chunks(size, checked(steps, reader=reader, path=path, sensor_size=size, monotonic=True))


def scan_aedat3(path: str | os.PathLike, *, step: int = READ_STEP) -> Chunks:
    """Open an AEDAT 3.1 file for decoding about ``step`` events at a time (see :func:`read_aedat`)."""
    reader = "read_aedat"
    lines, data_start = read_text_header(path, b"#", reader, last_line="#!END-HEADER")
    if not lines or not lines[0].startswith("#!AER-DAT3"):
        raise file_error(reader, path, "byte offset 0", "first line is not '#!AER-DAT3.1'")
    if lines[-1] != "#!END-HEADER":
        raise file_error(reader, path, f"byte offset {data_start}", "header has no '#!END-HEADER' line")
    sizes = {_camera_size(m[1]) for line in lines if (m := re.match(r"#Source \d+:\s*(\S+)", line))}
    size = sizes.pop() if len(sizes) == 1 else None
    file_size = os.path.getsize(path)

    def decode() -> Iterator[np.ndarray]:
        pending: list[np.ndarray] = []
        held = 0
        offset = data_start
        with open_binary(path) as f:
            f.seek(offset)
            while True:
                raw = f.read(_PACKET_HEADER.itemsize)
                if not raw:
                    break
                if len(raw) < _PACKET_HEADER.itemsize:
                    raise file_error(reader, path, f"byte offset {offset}",
                                     f"file ends inside a 28-byte packet header ({len(raw)} bytes left)")
                head = np.frombuffer(raw, dtype=_PACKET_HEADER)[0]
                size_, capacity, number, valid = (int(head[k]) for k in ("size", "capacity", "number", "valid"))
                if not (size_ > 0 and capacity >= number >= valid >= 0):
                    raise file_error(reader, path, f"packet header at byte offset {offset}",
                                     f"eventSize {size_}, eventCapacity {capacity}, eventNumber {number}, eventValid "
                                     f"{valid}; expected eventSize > 0 and capacity >= number >= valid >= 0")
                body = size_ * capacity
                if offset + 28 + body > file_size:
                    raise file_error(reader, path, f"packet header at byte offset {offset}",
                                     f"packet claims {body} data bytes but the file ends {file_size - offset - 28} "
                                     "bytes later (truncated file?)")
                if int(head["type"]) != _POLARITY_TYPE:
                    f.seek(body, os.SEEK_CUR)
                else:
                    if size_ != 8 or int(head["ts_offset"]) != 4 or int(head["ts_overflow"]) < 0:
                        raise file_error(reader, path, f"packet header at byte offset {offset}",
                                         f"polarity packet with eventSize {size_}, eventTSOffset {int(head['ts_offset'])},"
                                         f" eventTSOverflow {int(head['ts_overflow'])}; expected 8, 4 and >= 0")
                    events = np.frombuffer(f.read(body), dtype=_POLARITY_EVENT)[:number]
                    is_valid = (events["data"] & 1).astype(bool)
                    if int(is_valid.sum()) != valid:
                        raise file_error(reader, path, f"packet header at byte offset {offset}",
                                         f"eventValid says {valid} valid events, the valid bits mark {int(is_valid.sum())}")
                    events = events[is_valid]
                    negative = np.flatnonzero(events["t"] < 0)
                    if negative.size:
                        raise file_error(reader, path, f"packet at byte offset {offset}",
                                         f"event timestamp {events['t'][negative[0]]} is negative; expected >= 0")
                    d = events["data"]
                    t = (np.int64(int(head["ts_overflow"])) << 31) | events["t"].astype(np.int64)
                    pending.append(assemble(t, d >> 17, (d >> 2) & 0x7FFF, (d >> 1) & 1))
                    held += len(d)
                    if held >= step:
                        yield concatenate(pending)
                        pending, held = [], 0
                offset += 28 + body
        yield concatenate(pending) if pending else empty_events()

    return Chunks(size, checked(decode(), reader=reader, path=path, sensor_size=size, monotonic=True))


def read_aedat(path: str | os.PathLike) -> Recording:
    """Read the polarity events of an AEDAT 2.0 (jAER) or 3.1 (cAER) file, chosen by its first line.

    Returns:
        Recording: Events [N] in file order (t µs, top-left origin, p 1 = ON) and (W, H) from the
        chip (2.0) or source name (3.1) when known, else None.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: naming the file and byte offset for a wrong first line, an unknown chip, a
            truncated record or packet, an inconsistent packet header; with the event index for
            an event outside the sensor or a timestamp going back.
    """
    scan = scan_aedat3 if read_prefix(path, 10).startswith(b"#!AER-DAT3") else scan_aedat2
    sensor_size, steps = scan(path)
    return Recording(concatenate(steps), sensor_size)


def scan_cifar10dvs(path: str | os.PathLike, *, step: int = READ_STEP) -> Chunks:
    """Open a CIFAR10-DVS ``.aedat`` for decoding ``step`` records at a time (see :func:`read_cifar10dvs`)."""
    reader = "read_cifar10dvs"
    _, data_start = _aedat2_header(path, reader)

    def decode(address, start):
        return _dvs128_address(address, transposed=True)

    steps = _aedat2_steps(path, reader, data_start, step, decode)
    return Chunks((128, 128), checked(steps, reader=reader, path=path, sensor_size=(128, 128), monotonic=True))


def read_cifar10dvs(path: str | os.PathLike) -> Recording:
    """Read a CIFAR10-DVS recording (AEDAT 2.0 from a DVS128) with SpikingJelly's conventions.

    Decoding: ``x = 127 - address bits 8-14``, ``y = 127 - address bits 1-7``, ``p = 1 - bit 0``
    (SpikingJelly ``datasets/cifar10_dvs.py::_load_origin_data``); addresses with bits above 14
    set are special events and skipped. The sensor is 128x128.

    Returns:
        Recording: Events [N] in file order and sensor_size (128, 128).

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: as :func:`read_aedat` for AEDAT 2.0.
    """
    sensor_size, steps = scan_cifar10dvs(path)
    return Recording(concatenate(steps), sensor_size)
