"""Reader for the Prophesee Gen1 / 1 Mpx ``_bbox.npy`` box annotations (detection spec §1.3-1.4)."""

from __future__ import annotations

import os

import numpy as np

# The canonical dtype (Prophesee's BBOX_DTYPE, 1 Mpx era): explicit offsets, itemsize 40.
BOX_DTYPE = np.dtype({"names": ["t", "x", "y", "w", "h", "class_id", "track_id", "class_confidence"],
                      "formats": ["<i8", "<f4", "<f4", "<f4", "<f4", "<u4", "<u4", "<f4"],
                      "offsets": [0, 8, 12, 16, 20, 24, 28, 32], "itemsize": 40})
# Gen1 as shipped ("legacy"): ts instead of t, confidence instead of class_confidence.
_RENAMED = {"ts": "t", "confidence": "class_confidence"}


def read_gen1_boxes(path: str | os.PathLike) -> np.ndarray:
    """Read a ``_bbox.npy`` file in either published dtype and return it in :data:`BOX_DTYPE`.

    Boxes [N]: t (µs, int64), x, y (top-left corner, pixels), w, h (pixels), class_id, track_id,
    class_confidence; in file order, nothing filtered (the Prophesee filters are the caller's).

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: naming the file when it is not a 1-D structured array with the fields of one
            of the two dtypes, or a timestamp does not fit int64 / a class or track id is negative.
    """
    try:
        raw = np.load(os.fspath(path), allow_pickle=False)
    except (ValueError, EOFError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"read_gen1_boxes: {os.fspath(path)!r}: not a readable .npy file ({error})") from None
    names = {_RENAMED.get(name, name) for name in (raw.dtype.names or ())}
    if raw.ndim != 1 or names != set(BOX_DTYPE.names):
        raise ValueError(f"read_gen1_boxes: {os.fspath(path)!r}: array of shape {raw.shape} with fields "
                         f"{raw.dtype.names}; expected 1-D with fields {BOX_DTYPE.names} (or Gen1's ts/confidence)")
    boxes = np.empty(len(raw), dtype=BOX_DTYPE)
    for name in raw.dtype.names:
        values = raw[name]
        target = _RENAMED.get(name, name)
        if BOX_DTYPE[target].kind in "iu" and values.size:
            low, high = np.iinfo(BOX_DTYPE[target]).min, np.iinfo(BOX_DTYPE[target]).max
            bad = np.flatnonzero((values < low) | (values > high)) if values.dtype.kind in "iu" else \
                np.flatnonzero((values != np.floor(values)) | (values < low) | (values > high))
            if bad.size:
                i = int(bad[0])
                raise ValueError(f"read_gen1_boxes: {os.fspath(path)!r}: box {i} field {name!r} is {values[i]}; "
                                 f"expected an integer in [{low}, {high}]")
        boxes[target] = values
    return boxes
