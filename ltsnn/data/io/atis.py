"""Reader for the ATIS 40-bit ``.bin`` format of N-MNIST and N-Caltech101 (Orchard et al. 2015).

Each event is 5 bytes, big-endian bit fields::

    byte 0: x (8 bits)      byte 1: y (8 bits)
    byte 2: bit 7 = polarity (1 = ON), bits 6-0 = timestamp bits 22-16
    byte 3: timestamp bits 15-8       byte 4: timestamp bits 7-0       (t in µs)

The N-MNIST sensor crop is 34x34 (:data:`NMNIST_SENSOR_SIZE`). Longer recordings mark 23-bit
timestamp overflows with y = 240 records (see Orchard's ``eventvision.py``); N-MNIST's ~300 ms
recordings never reach 2^23 µs, and this reader does not interpret them (to_frames then rejects
the y = 240 events as outside the sensor rather than mis-timing them).
"""

from __future__ import annotations

import os

import numpy as np

from ltsnn.data.events import make_events

NMNIST_SENSOR_SIZE = (34, 34)   # (W, H)
_RECORD_BYTES = 5


def read_atis_bin(path: str | os.PathLike) -> np.ndarray:
    """Read every event of an ATIS ``.bin`` (or ``.bs2``, the same layout) file, in file order.

    Returns:
        Events [N] (:data:`~ltsnn.data.events.EVENT_DTYPE`): t in µs, x, y, p (1 = ON).

    Raises:
        ValueError: naming the file and the byte offset of the incomplete last record when the
            size is not a multiple of 5 bytes.
    """
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % _RECORD_BYTES:
        start = raw.size - raw.size % _RECORD_BYTES
        raise ValueError(f"read_atis_bin: {os.fspath(path)!r} has {raw.size} bytes, not a multiple of "
                         f"{_RECORD_BYTES}: the record at byte offset {start} is incomplete")
    records = raw.reshape(-1, _RECORD_BYTES).astype(np.int64)
    t = ((records[:, 2] & 0x7F) << 16) | (records[:, 3] << 8) | records[:, 4]
    return make_events(t, records[:, 0], records[:, 1], records[:, 2] >> 7)
