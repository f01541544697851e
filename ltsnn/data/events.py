"""The one in-memory layout of event data: a structured numpy array ``Events``.

Every reader in :mod:`ltsnn.data.io` and the emulator in :mod:`ltsnn.data.simulate` return it, and
every op in :mod:`ltsnn.data.functional` takes it. Fields:

- ``t``: timestamp, int64, microseconds (µs) since the start of the recording.
- ``x``, ``y``: pixel column and row, uint16, 0-based, origin top-left.
- ``p``: polarity, int8: 1 = ON (brightness went up), 0 = OFF (it went down).
"""

from __future__ import annotations

import numpy as np

EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "i1")])

# Values each field can hold; make_events refuses values that the cast would wrap or truncate.
_FIELD_RANGES = {"t": (np.iinfo(np.int64).min, np.iinfo(np.int64).max), "x": (0, 65535), "y": (0, 65535), "p": (0, 1)}


def make_events(t, x, y, p) -> np.ndarray:
    """Build an Events array (:data:`EVENT_DTYPE`) from four 1-D integer sequences.

    Args:
        t: timestamps [N], integers in µs. The order is kept as given (not sorted).
        x: columns [N], integers in [0, 65535].
        y: rows [N], integers in [0, 65535].
        p: polarities [N], integers or bools in {0, 1} (1 = ON).

    Returns:
        Events [N] with dtype :data:`EVENT_DTYPE`.

    Raises:
        ValueError: naming the field when a column is not 1-D, its length differs from ``t``'s, it
            is not integer-valued, or (with the first bad index) a value lies outside the range.
    """
    columns = {"t": np.asarray(t), "x": np.asarray(x), "y": np.asarray(y), "p": np.asarray(p)}
    n = columns["t"].shape[0] if columns["t"].ndim == 1 else -1
    events = np.empty(max(n, 0), dtype=EVENT_DTYPE)
    for name, values in columns.items():
        if values.ndim != 1 or values.shape[0] != n:
            raise ValueError(f"make_events: field {name!r} has shape {values.shape}; expected 1-D with the "
                             f"length of 't' ({columns['t'].shape})")
        if values.size == 0:
            continue  # np.asarray([]) is float64; an empty column has no values to check
        if values.dtype.kind not in "iub":
            raise ValueError(f"make_events: field {name!r} has dtype {values.dtype}; expected integers")
        lo, hi = _FIELD_RANGES[name]
        bad = np.flatnonzero((values < lo) | (values > hi))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"make_events: field {name!r} at index {i} is {values[i]}; expected a value in [{lo}, {hi}]")
        events[name] = values
    return events
