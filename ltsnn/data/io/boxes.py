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
    return reformat_boxes(raw, where=f"read_gen1_boxes: {os.fspath(path)!r}")


def reformat_boxes(boxes: np.ndarray, *, where: str = "boxes") -> np.ndarray:
    """Any Prophesee box array (canonical, or legacy Gen1 with ``ts`` and ``confidence``) as :data:`BOX_DTYPE`.

    ``track_id`` may be absent (0 then) and ``class_confidence`` too (1.0 then, as for ground truth);
    fields of neither dtype are ignored.

    Raises:
        ValueError: starting with ``where`` when t, x, y, w, h or class_id is missing.

    Example:
        >>> import numpy as np
        >>> legacy = np.zeros(1, dtype=[("ts", "<u8"), ("x", "<f4"), ("y", "<f4"), ("w", "<f4"), ("h", "<f4"),
        ...                             ("class_id", "u1")])
        >>> legacy["ts"] = 50_000
        >>> out = reformat_boxes(legacy)
        >>> int(out["t"][0]), float(out["class_confidence"][0]), out.dtype == BOX_DTYPE
        (50000, 1.0, True)
    """
    names = boxes.dtype.names or ()
    sources = {target: name for name, target in _RENAMED.items() if name in names}
    out = np.zeros(boxes.shape[0], dtype=BOX_DTYPE)
    for field in BOX_DTYPE.names:
        source = field if field in names else sources.get(field)
        if source is not None:
            out[field] = boxes[source]
        elif field == "class_confidence":
            out[field] = 1.0
        elif field != "track_id":
            raise ValueError(f"{where}: missing field {field!r} (have {list(names)})")
    return out
