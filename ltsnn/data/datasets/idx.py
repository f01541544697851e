"""IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions n),
n big-endian uint32 sizes, then the values in row-major order, big-endian. The type codes are
0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. A file that starts
with the gzip magic (1f 8b) is decompressed first, whatever its name.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "images-idx3-ubyte.gz"
    >>> write_idx(path, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    >>> read_idx(path).shape
    (2, 3, 4)
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from ltsnn.files import write_atomic

_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (native byte order).

    Raises:
        FileNotFoundError: when the file is absent.
        ValueError: naming the file when the magic number, the type code or the size is wrong.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: not a readable gzip file ({e})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _TYPES or raw[3] == 0:
        raise ValueError(f"{path}: magic number {raw[:4].hex() or 'absent'}; expected an IDX file (00 00, a type code "
                         f"in {sorted(f'{c:02x}' for c in _TYPES)}, then the number of dimensions >= 1)")
    dtype, ndim = _TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: {len(raw)} bytes; the IDX header of {ndim} dimensions needs {header}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: {len(raw)} bytes; expected {expected} for {dtype.name} values of shape {list(shape)}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when the name ends in ``.gz`` (atomically)."""
    array = np.asarray(array)
    code = next((c for c, d in _TYPES.items() if d.newbyteorder("=") == array.dtype.newbyteorder("=")), None)
    if code is None or array.ndim == 0:
        raise ValueError(f"write_idx: array of dtype {array.dtype} and shape {array.shape}; expected >= 1 dimension "
                         f"of {sorted(d.name for d in _TYPES.values())}")
    data = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.astype(_TYPES[code]).tobytes()
    write_atomic(path, lambda f: f.write(gzip.compress(data, mtime=0) if Path(path).name.endswith(".gz") else data))
