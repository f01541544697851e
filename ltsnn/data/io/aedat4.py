"""Reader for iniVation AEDAT 4.0 files (DV software: DVXplorer, DAVIS), polarity events only.

Layout (iniVation "AEDAT 4.0" and dv-processing's FlatBuffers schemas)::

    "#!AER-DAT4.0\\r\\n"                      14 bytes
    uint32 n, IOHeader FlatBuffer [n]        compression (0 none, 1 LZ4, 2 LZ4 high, 3 Zstd,
                                             4 Zstd high), dataTablePosition (int64, -1 if none),
                                             infoNode (XML naming each stream's type and size)
    packets until dataTablePosition or EOF:  int32 streamId, int32 size, size bytes compressed
                                             (one LZ4 frame or Zstd frame per packet)

A decompressed packet is a size-prefixed FlatBuffer with file identifier ``EVTS`` for event
packets; its root table's first field is a vector of 16-byte ``Event`` structs (int64 t in µs,
int16 x, int16 y, bool polarity, 3 padding bytes). Only the stream whose typeIdentifier is ``EVTS``
is decoded: frames, IMU and triggers are other streams and are skipped. The sensor size is that
stream's ``sizeX`` / ``sizeY`` (at most :data:`~ltsnn.data.io.recording.MAX_SENSOR_SIDE`).
Timestamps are the camera's absolute µs (int64): they must not decrease, and a negative one is
an error (DV counts from the Unix epoch, so a negative time can only come from a corrupted packet).

The FlatBuffers are read by a few bounds-checked offset look-ups here, rather than through the
``aedat`` package, so that every malformed byte gives a ValueError with its byte offset and a
corrupted size can never trigger a huge allocation; LZ4 needs the ``lz4`` package and Zstd the
``zstandard`` package (extra ``ltsnn[aedat4]``), imported on first use. The packets of a step are
joined and converted to Events in one pass (compiled when numba is available, else numpy, with
identical results: :mod:`ltsnn.data.io.jit`).
"""

from __future__ import annotations

import mmap
import os
import struct
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator

import numpy as np

from ltsnn.data.events import EVENT_DTYPE
from ltsnn.data.io.jit import compiled
from ltsnn.data.io.recording import (READ_STEP, Chunks, Recording, assemble, check_sensor_side, concatenate,
                                     empty_events, file_error, open_binary, raise_step_problem, step_problems)

_READER = "read_aedat4"
_MAGIC = b"#!AER-DAT4.0\r\n"
_EVENT = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1"), ("pad", "V3")])
# In the second 8 bytes of an Event read as one little-endian int64: the sign bits of x (bit 15) and
# y (bit 31), and polarity-byte bits 1-7 (bits 33-39): any set means x < 0, y < 0 or p > 1.
_BAD_BITS = 0x8000 | 0x8000 << 16 | 0xFE << 32
_NO_SIDE = 1 << 30             # sensor side when the header states none: no bound
_COMPRESSION = {0: "none", 1: "lz4", 2: "lz4", 3: "zstd", 4: "zstd"}
# No real packet decompresses to more than this many times its compressed size (LZ4's own limit
# is 255); the bound stops a corrupted frame from allocating without end.
_MAX_RATIO = 256


class _Corrupt(Exception):
    """A malformed FlatBuffer; the caller turns it into a ValueError naming the file and offset."""


_STRUCTS = {fmt: struct.Struct(fmt) for fmt in ("<I", "<i", "<H", "<q")}
_PACKET_HEAD = struct.Struct("<ii")


def _unpack(fmt: str, buf: bytes, at: int) -> int:
    unpacker = _STRUCTS[fmt]
    if at < 0 or at + unpacker.size > len(buf):
        raise _Corrupt(f"offset {at} points outside the {len(buf)}-byte buffer")
    return unpacker.unpack_from(buf, at)[0]


def _root_table(buf: bytes, identifier: bytes) -> tuple[int, int, int]:
    """(table position, vtable position, vtable size) of a FlatBuffer with the given file identifier."""
    if buf[4:8] != identifier:
        raise _Corrupt(f"file identifier {bytes(buf[4:8])!r}; expected {identifier!r}")
    table = _unpack("<I", buf, 0)
    vtable = table - _unpack("<i", buf, table)
    return table, vtable, _unpack("<H", buf, vtable)


def _field(buf: bytes, root: tuple[int, int, int], index: int) -> int | None:
    """Absolute position of field ``index`` of the root table, or None when it is absent (default)."""
    table, vtable, vtable_size = root
    slot = 4 + 2 * index
    if slot + 2 > vtable_size:
        return None
    at = _unpack("<H", buf, vtable + slot)
    return table + at if at else None


def _read_io_header(path, f, file_size: int) -> tuple[int, int, str, int]:
    """(compression code, dataTablePosition, infoNode XML, byte offset of the first packet)."""
    if f.read(len(_MAGIC)) != _MAGIC:
        raise file_error(_READER, path, "byte offset 0", f"no {_MAGIC!r} magic; expected an AEDAT 4.0 file")
    raw = f.read(4)
    if len(raw) < 4:
        raise file_error(_READER, path, "byte offset 14", "file ends inside the IOHeader size field")
    size = struct.unpack("<I", raw)[0]
    if 18 + size > file_size:
        raise file_error(_READER, path, "byte offset 14",
                         f"IOHeader size {size} runs past the end of the {file_size}-byte file")
    buf = f.read(size)
    try:
        root = _root_table(buf, b"IOHE")
        at = _field(buf, root, 0)
        compression = _unpack("<i", buf, at) if at is not None else 0
        at = _field(buf, root, 1)
        table_position = _unpack("<q", buf, at) if at is not None else -1
        at = _field(buf, root, 2)
        if at is None:
            raise _Corrupt("no infoNode field")
        text_at = at + _unpack("<I", buf, at)
        length = _unpack("<I", buf, text_at)
        if text_at + 4 + length > len(buf):
            raise _Corrupt(f"infoNode string of {length} bytes runs past the buffer")
        info = buf[text_at + 4:text_at + 4 + length].decode("utf-8")
    except (_Corrupt, UnicodeDecodeError) as error:
        raise file_error(_READER, path, "IOHeader at byte offset 18", str(error)) from None
    if compression not in _COMPRESSION:
        raise file_error(_READER, path, "IOHeader at byte offset 18",
                         f"compression code {compression}; expected 0 (none), 1-2 (LZ4) or 3-4 (Zstd)")
    return compression, table_position, info, 18 + size


def _event_streams(path, info: str) -> dict[int, tuple[int, int] | None]:
    """Event streams of the infoNode XML: {stream id: (sizeX, sizeY) or None}."""
    try:
        root = ElementTree.fromstring(info)
    except ElementTree.ParseError as error:
        raise file_error(_READER, path, "IOHeader infoNode", f"malformed XML ({error})") from None
    streams = {}
    for outputs in root.iter("node"):
        if outputs.get("name") != "outInfo":
            continue
        for stream in outputs.findall("node"):
            attrs = {a.get("key"): (a.text or "") for a in stream.findall("attr")}
            if attrs.get("typeIdentifier") != "EVTS":
                continue
            info_attrs = {a.get("key"): (a.text or "") for a in stream.findall("node[@name='info']/attr")}
            try:
                stream_id = int(stream.get("name", ""))
                size = (int(info_attrs["sizeX"]), int(info_attrs["sizeY"])) if "sizeX" in info_attrs else None
            except (KeyError, ValueError):
                raise file_error(_READER, path, "IOHeader infoNode",
                                 f"event stream {stream.get('name')!r} has a non-integer id or size") from None
            if size is not None:
                size = tuple(check_sensor_side(side, reader=_READER, path=path,
                                               key=f"infoNode stream {stream_id} {key}")
                             for side, key in zip(size, ("sizeX", "sizeY")))
            streams[stream_id] = size
    return streams


def _decompress(data: bytes, method: str) -> bytes:
    bound = _MAX_RATIO * len(data) + 4096
    if method == "none":
        return data
    if method == "lz4":
        try:
            import lz4.frame
        except ModuleNotFoundError as error:
            raise ModuleNotFoundError("read_aedat4: LZ4-compressed AEDAT 4 needs the 'lz4' package: "
                                      "pip install 'ltsnn[aedat4]'", name="lz4") from error
        decompressor = lz4.frame.LZ4FrameDecompressor()
        try:
            out = decompressor.decompress(data, max_length=bound)
        except RuntimeError as error:
            raise _Corrupt(f"LZ4 frame does not decompress ({error})") from None
        if not decompressor.eof:
            raise _Corrupt(f"LZ4 frame incomplete or larger than {bound} bytes")
        return out
    try:
        import zstandard
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError("read_aedat4: Zstd-compressed AEDAT 4 needs the 'zstandard' package: "
                                  "pip install 'ltsnn[aedat4]'", name="zstandard") from error
    try:
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=bound)
    except zstandard.ZstdError as error:
        raise _Corrupt(f"Zstd frame does not decompress ({error})") from None


def _packet_events(buf: bytes) -> np.ndarray:
    """The Event structs [N] of a decompressed, size-prefixed ``EVTS`` packet."""
    if len(buf) < 12 or _unpack("<I", buf, 0) != len(buf) - 4:
        raise _Corrupt(f"size prefix does not match the {len(buf)}-byte packet")
    body = memoryview(buf)[4:]
    root = _root_table(body, b"EVTS")
    at = _field(body, root, 0)
    if at is None:
        return np.empty(0, dtype=_EVENT)
    vector = at + _unpack("<I", body, at)
    n = _unpack("<I", body, vector)
    if vector + 4 + n * _EVENT.itemsize > len(body):
        raise _Corrupt(f"event vector of {n} events runs past the {len(body)}-byte packet")
    return np.frombuffer(body, dtype=_EVENT, count=n, offset=vector + 4)


def _assemble(path, packets: list[tuple[int, np.ndarray]], sensor_size: tuple[int, int] | None,
              last_t: int | None) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Events of consecutive EVTS packets [(byte offset, Event structs)], checked in file order.

    The packets are joined first and checked in one pass (a packet holds only a few thousand
    events, so per-packet numpy calls would cost more than the decoding); only when a value is
    bad is its packet looked up, to name it.

    Returns:
        (Events, :func:`~ltsnn.data.io.recording.step_problems` of them after ``last_t``).

    Raises:
        ValueError: naming the first bad packet's byte offset and the event in it: x or y < 0, a
            polarity byte other than 0 or 1, a negative timestamp (checked in that order).
    """
    if not packets:
        return empty_events(), (-1, -1, -1)
    # Joined as bytes: numpy concatenates structured arrays with padding fields field by field, 10x slower.
    raw = np.frombuffer(b"".join(events for _, events in packets), dtype=_EVENT)
    words = raw.view("<i8")                                       # [2N]: t, then x | y << 16 | p << 32
    kernel = compiled(_convert_kernel)
    if kernel is not None:
        events = np.empty(len(raw), dtype=EVENT_DTYPE)
        width, height = sensor_size or (_NO_SIDE, _NO_SIDE)
        out = np.empty(2, dtype=np.int64)
        kernel(words, width, height, -1 if last_t is None else last_t, events, out)
        first_bad, suspect = (int(v) for v in out)
        problems = (step_problems(events, sensor_size=sensor_size, monotonic=True, last_t=last_t) if suspect
                    else (-1, -1, -1))
    else:
        bad = (words[0::2] < 0) | ((words[1::2] & _BAD_BITS) != 0)
        first_bad = int(np.argmax(bad)) if bad.any() else -1
        if first_bad < 0:
            events = assemble(raw["t"], raw["x"], raw["y"], raw["p"])
            problems = step_problems(events, sensor_size=sensor_size, monotonic=True, last_t=last_t)
    if first_bad >= 0:
        ends = np.cumsum([len(events) for _, events in packets])
        offset, bad_packet = packets[int(np.searchsorted(ends, first_bad, side="right"))]
        for field, problem, expected in (("x", "x =", ">= 0"), ("y", "y =", ">= 0"),
                                         ("p", "polarity byte", "0 or 1"), ("t", "timestamp", ">= 0 µs")):
            wrong = np.flatnonzero(bad_packet[field] > 1 if field == "p" else bad_packet[field] < 0)
            if wrong.size:
                raise file_error(_READER, path, f"packet at byte offset {offset}",
                                 f"event {int(wrong[0])} has {problem} {bad_packet[field][wrong[0]]}; "
                                 f"expected {expected}")
    return events, tuple(problems)


def _convert_kernel(words, width, height, last_t, events, out):
    """Events from joined Event structs read as int64 [2N] (t, then x | y << 16 | p << 32), in one pass.

    out = [first event with x or y < 0, p > 1 or t < 0 (conversion stops there) or -1, 1 if some
    event has x >= width, y >= height or goes back in time (after ``last_t``) else 0].
    """
    first_bad, suspect = -1, False
    for i in range(len(words) // 2):
        time, rest = words[2 * i], words[2 * i + 1]
        if time < 0 or rest & _BAD_BITS:
            first_bad = i
            break
        column, row = rest & 0xFFFF, (rest >> 16) & 0xFFFF
        event = events[i]           # a record: faster than four strided views
        event.t, event.x, event.y, event.p = time, column, row, (rest >> 32) & 1
        suspect |= (column >= width) | (row >= height) | (time < last_t)
        last_t = time
    out[0], out[1] = first_bad, suspect


def scan_aedat4(path: str | os.PathLike, *, step: int = READ_STEP) -> Chunks:
    """Open an AEDAT 4.0 file for decoding about ``step`` events at a time (see :func:`read_aedat4`)."""
    file_size = os.path.getsize(path)
    with open_binary(path) as f:
        compression, table_position, info, first_packet = _read_io_header(path, f, file_size)
    streams = _event_streams(path, info)
    if len(streams) > 1:
        raise file_error(_READER, path, "IOHeader infoNode",
                         f"{len(streams)} event streams ({sorted(streams)}); expected at most one")
    stream_id, sensor_size = next(iter(streams.items()), (None, None))
    end = table_position if 0 <= table_position <= file_size else file_size
    method = _COMPRESSION[compression]

    def decode() -> Iterator[np.ndarray]:
        pending: list[tuple[int, np.ndarray]] = []      # (byte offset, Event structs) of packets not yet yielded
        held = first_event = 0
        last_t: int | None = None

        def flush() -> np.ndarray:
            """The pending packets' Events, checked (an earlier packet's problem is reported first)."""
            nonlocal first_event, last_t
            events, problems = _assemble(path, pending, sensor_size, last_t)
            raise_step_problem(events, problems, reader=_READER, path=path, sensor_size=sensor_size, last_t=last_t,
                               start=first_event, offset_of=None)
            first_event += len(events)
            last_t = int(events["t"][-1]) if len(events) else last_t
            return events

        offset = first_packet
        # Mapped, not read: most packets of other streams (IMU, triggers) are skipped without a syscall.
        with open_binary(path) as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            while offset < end:
                if offset + 8 > len(data):
                    flush()
                    raise file_error(_READER, path, f"packet at byte offset {offset}",
                                     "file ends inside the 8-byte packet header")
                packet_stream, size = _PACKET_HEAD.unpack_from(data, offset)
                if size < 0 or offset + 8 + size > end:
                    flush()
                    raise file_error(_READER, path, f"packet at byte offset {offset}",
                                     f"packet size {size} runs past byte {end}, the end of the packet area")
                if packet_stream == stream_id:
                    try:
                        events = _packet_events(_decompress(data[offset + 8:offset + 8 + size], method))
                    except _Corrupt as error:
                        flush()
                        raise file_error(_READER, path, f"packet at byte offset {offset}", str(error)) from None
                    pending.append((offset, events))
                    held += len(events)
                    if held >= step:
                        yield flush()
                        pending, held = [], 0
                offset += 8 + size
        yield flush()

    return Chunks(sensor_size, decode())


def read_aedat4(path: str | os.PathLike) -> Recording:
    """Read the polarity events of an AEDAT 4.0 file, in file order (other streams are skipped).

    Returns:
        Recording: Events [N] (t in the camera's absolute µs) and the event stream's (sizeX, sizeY).

    Raises:
        FileNotFoundError: when the file does not exist.
        ModuleNotFoundError: when a compressed file needs ``lz4`` / ``zstandard`` and it is missing.
        ValueError: naming the file and byte offset for a wrong magic, a malformed IOHeader or
            packet, a truncated file; with the event index for an event outside the sensor or a
            timestamp going back.
    """
    sensor_size, steps = scan_aedat4(path)
    return Recording(concatenate(steps), sensor_size)
