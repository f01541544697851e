"""Reader for the ATIS 40-bit ``.bin`` format of N-MNIST and N-Caltech101 (Orchard et al. 2015).

Each event is 5 bytes, big-endian bit fields::

    byte 0: x (8 bits)      byte 1: y (8 bits)
    byte 2: bit 7 = polarity (1 = ON), bits 6-0 = timestamp bits 22-16
    byte 3: timestamp bits 15-8       byte 4: timestamp bits 7-0       (t in µs)

The file has no header, so the sensor size is not stated (:attr:`Recording.sensor_size` is None);
the N-MNIST crop is 34x34 (:data:`NMNIST_SENSOR_SIZE`), N-Caltech101's varies per recording.
Longer recordings could mark 23-bit timestamp overflows with y = 240 records, but the published
readers disagree on what such a record adds (Orchard's ``eventvision.py`` adds 2^13 µs, while a
23-bit counter wraps at 2^23 µs) and the ~300 ms N-MNIST and N-Caltech101 recordings never
overflow, so this reader refuses a y = 240 record rather than guess. Timestamps must not decrease.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ltsnn.data.io.recording import (READ_STEP, Chunks, Recording, assemble, checked, concatenate,
                                     file_error, fixed_records)

NMNIST_SENSOR_SIZE = (34, 34)   # (W, H)
_RECORD = np.dtype((np.uint8, 5))
_OVERFLOW_Y = 240


def scan_atis_bin(path: str | os.PathLike, *, step: int = READ_STEP) -> Chunks:
    """Open an ATIS ``.bin`` file for decoding ``step`` records at a time (see :func:`read_atis_bin`)."""
    records, steps = fixed_records(path, reader="read_atis_bin", data_start=0, record=_RECORD, step=step)

    def decode() -> Iterator[np.ndarray]:
        start = 0
        for block in steps:
            y = block[:, 1]
            overflow = np.flatnonzero(y == _OVERFLOW_Y)
            if overflow.size:
                i = start + int(overflow[0])
                raise file_error("read_atis_bin", path, f"event {i} (byte offset {5 * i})",
                                 "y = 240 marks a timestamp-overflow record, which this reader does not "
                                 "support (recordings longer than 2^23 µs); expected y < 240")
            wide = block.astype(np.int64)
            t = ((wide[:, 2] & 0x7F) << 16) | (wide[:, 3] << 8) | wide[:, 4]
            start += len(block)
            yield assemble(t, block[:, 0], y, block[:, 2] >> 7)

    return Chunks(None, checked(decode(), reader="read_atis_bin", path=path, sensor_size=None,
                                monotonic=True, offset_of=lambda i: 5 * i))


def read_atis_bin(path: str | os.PathLike) -> Recording:
    """Read every event of an ATIS ``.bin`` (or ``.bs2``, the same layout) file, in file order.

    Returns:
        Recording: Events [N] (t µs from the recording's start, x, y, p with 1 = ON) and
        sensor_size None (the format has no header).

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: naming the file and byte offset of an incomplete last record (size not a
            multiple of 5 bytes), of an overflow record (y = 240), or of a timestamp that goes back.
    """
    sensor_size, steps = scan_atis_bin(path)
    return Recording(concatenate(steps), sensor_size)
