"""Writers for the published event-file layouts, used by the reader tests as independent references.

Each is written from the format description (not from the reader): bit fields assembled with
plain integer arithmetic, one record at a time.
"""

from __future__ import annotations

import struct

import numpy as np

AEDAT2_HEADER = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"


def aedat2(records: list[tuple[int, int]], *, chip: str | None = None) -> bytes:
    """AEDAT 2.0: '#' header, then big-endian (uint32 address, uint32 timestamp) pairs."""
    header = AEDAT2_HEADER + (f"# AEChip: {chip}\r\n".encode() if chip else b"")
    return header + b"".join(struct.pack(">II", a, t & 0xFFFFFFFF) for a, t in records)


def dvs128_address(x_raw: int, y_raw: int, bit0: int) -> int:
    """jAER DVS128 raw address: bit 0 polarity, bits 1-7 x, bits 8-14 y."""
    return (y_raw << 8) | (x_raw << 1) | bit0


def davis_address(x_raw: int, y_raw: int, p: int) -> int:
    """jAER DAVIS DVS address: y bits 22-30, x bits 12-21, polarity bit 11."""
    return (y_raw << 22) | (x_raw << 12) | (p << 11)


def aedat31_packet(events: list[tuple[int, int, int, int, bool]], *, overflow: int = 0, event_type: int = 1,
                   capacity: int | None = None, source: int = 1) -> bytes:
    """One AEDAT 3.1 packet: 28-byte header + eventCapacity 8-byte polarity events (x, y, p, ts, valid)."""
    capacity = len(events) if capacity is None else capacity
    body = b"".join(struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | int(valid), ts)
                    for x, y, p, ts, valid in events)
    body += bytes(8 * (capacity - len(events)))
    valid = sum(1 for e in events if e[4])
    return struct.pack("<hhiiiiii", event_type, source, 8, 4, overflow, capacity, len(events), valid) + body


def aedat31(packets: list[bytes], *, source_name: str = "DVS128") -> bytes:
    header = (b"#!AER-DAT3.1\r\n#Format: RAW\r\n" + f"#Source 1: {source_name}\r\n".encode()
              + b"#Start-Time: 2017-03-13 16:08:41 (TZ-0700)\r\n#!END-HEADER\r\n")
    return header + b"".join(packets)


def dat(events: np.ndarray, *, header: bytes | None = b"% Data file containing Event2D events.\n% Version 2\n",
        event_type: int = 0) -> bytes:
    """Prophesee DAT v2: '%' header, type byte, size byte, then (uint32 t, uint32 x|y<<14|p<<28) records."""
    out = bytearray()
    if header is not None:
        out += header + bytes([event_type, 8])
    for t, x, y, p in events.tolist():
        out += struct.pack("<II", t, x | (y << 14) | (p << 28))
    return bytes(out)


def evt2_words(events: np.ndarray) -> list[int]:
    """EVT 2.0 words: a TIME_HIGH (0x8) whenever t >> 6 changes, then CD_ON/CD_OFF (0x1/0x0)."""
    words, high = [], None
    for t, x, y, p in events.tolist():
        if t >> 6 != high:
            high = t >> 6
            words.append((0x8 << 28) | high)
        words.append((p << 28) | ((t & 0x3F) << 22) | (x << 11) | y)
    return words


def raw_file(header_lines: list[str], words: list[int], word_format: str) -> bytes:
    header = "".join(f"% {line}\n" for line in header_lines).encode()
    return header + np.asarray(words, dtype=word_format).tobytes()


def evt3_addr_y(y: int) -> int:
    return (0x0 << 12) | y


def evt3_addr_x(x: int, p: int) -> int:
    return (0x2 << 12) | (p << 11) | x


def evt3_vect_base_x(x: int, p: int) -> int:
    return (0x3 << 12) | (p << 11) | x


def evt3_vect_12(mask: int) -> int:
    return (0x4 << 12) | mask


def evt3_vect_8(mask: int) -> int:
    return (0x5 << 12) | mask


def evt3_time_low(low: int) -> int:
    return (0x6 << 12) | low


def evt3_time_high(high: int) -> int:
    return (0x8 << 12) | high


def _flatbuffer_table(fields: list[bytes | None], identifier: bytes, tail: bytes = b"") -> tuple[bytes, list[int]]:
    """A minimal FlatBuffer: [root uoffset][ident][vtable][table: soffset, inline fields][tail].

    Returns the buffer and the absolute position of each inline field (for offsets into ``tail``).
    """
    n = len(fields)
    vtable_at = 8
    vtable_size = 4 + 2 * n
    table_at = vtable_at + vtable_size
    table_at += (-table_at) % 4
    inline = b""
    offsets, positions = [], []
    for value in fields:
        if value is None:
            offsets.append(0)
            positions.append(None)
            continue
        inline += bytes((-(4 + len(inline))) % min(len(value), 8))
        offsets.append(4 + len(inline))
        positions.append(table_at + 4 + len(inline))
        inline += value
    table_size = 4 + len(inline)
    vtable = struct.pack("<HH", vtable_size, table_size) + b"".join(struct.pack("<H", o) for o in offsets)
    buf = struct.pack("<I", table_at) + identifier + vtable
    buf += bytes(table_at - len(buf)) + struct.pack("<i", table_at - vtable_at) + inline
    buf += bytes((-len(buf)) % 8)
    return buf + tail, positions


def aedat4(event_packets: list[np.ndarray], *, size=(346, 260), compress: str = "none",
           other_packets: int = 1) -> bytes:
    """AEDAT 4.0 with one EVTS stream (id 0) and an IMU stream (id 1) whose packets are opaque bytes."""
    info = (f'<dv version="2.0"><node name="outInfo" path="/outInfo/">'
            f'<node name="0" path="/outInfo/0/"><attr key="typeIdentifier" type="string">EVTS</attr>'
            f'<node name="info" path="/outInfo/0/info/"><attr key="sizeX" type="int">{size[0]}</attr>'
            f'<attr key="sizeY" type="int">{size[1]}</attr></node></node>'
            f'<node name="1" path="/outInfo/1/"><attr key="typeIdentifier" type="string">IMUS</attr></node>'
            f'</node></dv>').encode()
    code = {"none": 0, "lz4": 1}[compress]
    # IOHeader fields: compression (int32), dataTablePosition (int64 = -1), infoNode (string, via uoffset).
    buf, positions = _flatbuffer_table([struct.pack("<i", code), struct.pack("<q", -1), bytes(4)], b"IOHE")
    string_at = len(buf)
    buf = bytearray(buf + struct.pack("<I", len(info)) + info + b"\0")
    struct.pack_into("<I", buf, positions[2], string_at - positions[2])
    out = bytearray(b"#!AER-DAT4.0\r\n" + struct.pack("<I", len(buf)) + bytes(buf))
    for events in event_packets:
        structs = b"".join(struct.pack("<qhh?3x", t, x, y, bool(p)) for t, x, y, p in events.tolist())
        packet, positions = _flatbuffer_table([bytes(4)], b"EVTS")
        vector_at = len(packet)
        packet = bytearray(packet + struct.pack("<I", len(events)) + structs)
        struct.pack_into("<I", packet, positions[0], vector_at - positions[0])
        packet = struct.pack("<I", len(packet)) + bytes(packet)
        if compress == "lz4":
            import lz4.frame
            packet = lz4.frame.compress(packet)
        out += struct.pack("<ii", 0, len(packet)) + packet
        for _ in range(other_packets):
            out += struct.pack("<ii", 1, 5) + b"\x01\x02\x03\x04\x05"
    return bytes(out)
