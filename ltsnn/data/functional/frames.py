"""Events -> dense frames: per-pixel ON/OFF histograms over time bins."""

from __future__ import annotations

import numpy as np

BIN_MODES = ("duration", "count")


def to_frames(events: np.ndarray, *, sensor_size: tuple[int, int], n_time_bins: int, bin_by: str = "duration",
              binary: bool = True) -> np.ndarray:
    """Accumulate events into ``n_time_bins`` frames of two channels (0 = OFF, 1 = ON).

    Bins, for events with times t_0 <= ... <= t_{N-1}:

    - ``"duration"``: T equal spans of [t_0, t_{N-1}]; event i goes to bin
      floor((t_i - t_0) * T / (t_{N-1} - t_0)), with the last event (t_i = t_{N-1}) put in bin T - 1
      rather than in a bin of its own. When all events share one time they all go to bin 0.
    - ``"count"``: event i of N goes to bin floor(i * T / N): T slices whose counts differ by at
      most one (bins are empty when N < T).

    Args:
        events: Events [N] (fields t in µs, x, y, p; see :mod:`ltsnn.data.events`), t non-decreasing.
        sensor_size: (W, H) in pixels; every event needs x < W and y < H.
        n_time_bins: T >= 1.
        bin_by: ``"duration"`` or ``"count"``.
        binary: 1.0 where a pixel had at least one event in the bin; else the event count.

    Returns:
        float32 [T, 2, H, W]; all zeros for an empty recording.

    Raises:
        ValueError: naming the field and the first bad event index when an event lies outside the
            sensor, has p outside {0, 1}, or comes earlier than the event before it; or naming the
            argument when an option is invalid.
    """
    if bin_by not in BIN_MODES:
        raise ValueError(f"to_frames: unknown bin_by {bin_by!r}; expected one of {list(BIN_MODES)}")
    if not (isinstance(n_time_bins, (int, np.integer)) and n_time_bins >= 1):
        raise ValueError(f"to_frames: n_time_bins is {n_time_bins!r}; expected an int >= 1")
    if len(sensor_size) != 2 or min(sensor_size) < 1:
        raise ValueError(f"to_frames: sensor_size is {sensor_size!r}; expected (W, H) with positive ints")
    names = events.dtype.names or ()
    missing = [f for f in ("t", "x", "y", "p") if f not in names]
    if missing:
        raise ValueError(f"to_frames: events lack field(s) {missing}; expected a structured array with t, x, y, p")
    width, height = (int(s) for s in sensor_size)
    t = events["t"].astype(np.int64)
    x, y, p = (events[f].astype(np.int64) for f in ("x", "y", "p"))
    for name, values, upper in (("x", x, width), ("y", y, height), ("p", p, 2)):
        bad = np.flatnonzero((values < 0) | (values >= upper))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"to_frames: event {i} has {name} = {values[i]}; expected 0 <= {name} < {upper}"
                             + (f" (sensor_size (W, H) = {tuple(sensor_size)})" if name != "p" else ""))
    backwards = np.flatnonzero(np.diff(t) < 0)
    if backwards.size:
        i = int(backwards[0]) + 1
        raise ValueError(f"to_frames: event {i} has t = {t[i]} µs, earlier than event {i - 1} (t = {t[i - 1]}); "
                         f"expected non-decreasing t")
    n = len(t)
    if bin_by == "count":
        time_bin = np.arange(n, dtype=np.int64) * n_time_bins // max(n, 1)
    else:
        span = int(t[-1] - t[0]) if n else 0
        time_bin = np.minimum((t - t[0]) * n_time_bins // span, n_time_bins - 1) if span else np.zeros(n, np.int64)
    linear = ((time_bin * 2 + p) * height + y) * width + x
    frames = np.bincount(linear, minlength=n_time_bins * 2 * height * width).reshape(n_time_bins, 2, height, width)
    return (frames > 0).astype(np.float32) if binary else frames.astype(np.float32)
