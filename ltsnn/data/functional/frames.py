"""Events -> dense frames [T, C, H, W]: per-pixel event counts (or presence) over time bins.

Every binning rule here cuts the time-sorted stream into T consecutive slices, so a bin is a pair
of event indices (start, end) found by a binary search on t: :func:`bin_start_times` gives the
times where bins start (pure integer arithmetic on the first and last timestamps), and
:func:`bin_bounds` turns them into event indices. The frames are then one ``bincount`` over a
linear index (time bin, channel, row, column). The torch path (:mod:`ltsnn.data.torch_frames`)
calls the same rules, so both give identical frames.
"""

from __future__ import annotations

import bisect

import numpy as np

from ltsnn.data.functional.resize import RESIZE_MODES, resize_frames

BIN_MODES = ("duration", "count", "window", "ltsnn")
POLARITY_CHANNELS = (1, 2)


def bin_start_times(t_first: int, t_last: int, *, n_time_bins: int, bin_by: str, window_us: int | None = None) -> list[int]:
    """Start times of T time bins plus the end of the last one (µs), for the time-based rules.

    Bin k holds the events with ``starts[k] <= t < starts[k + 1]``. With span = t_last - t_first:

    - ``"duration"``: T equal spans; event at t goes to bin min(floor((t - t_first) * T / span), T - 1),
      so bin k starts at t_first + ceil(k * span / T) and the last event lies in bin T - 1. If span = 0
      every event goes to bin 0.
    - ``"ltsnn"``: the LT-SNN code's rule (methods.md §1.8): dt = span // (T - 1) and bin
      min((t - t_first) // dt, T - 1), so bins 0..T-2 are dt long and bin T - 1 gets only the events at
      t >= t_first + (T - 1) * dt: the final event(s) and at most T - 2 µs before them.
    - ``"window"``: windows of ``window_us`` from t_first: bin k = [t_first + k * w, t_first + (k + 1) * w).
      Events at or after t_first + T * w are in no bin (the frames cover T windows only).

    Args:
        t_first, t_last: first and last timestamps of the (sorted) recording, µs.
        n_time_bins: T >= 1 (>= 2 for ``"ltsnn"``).
        bin_by: ``"duration"``, ``"ltsnn"`` or ``"window"``.
        window_us: window length in µs (``"window"`` only).

    Returns:
        T + 1 ints, non-decreasing.

    Raises:
        ValueError: for ``"ltsnn"`` when T < 2 or span < T - 1 (dt would be 0: the original code divides by it).
    """
    span = t_last - t_first
    if bin_by == "duration":
        if span == 0:
            return [t_first] + [t_first + 1] * n_time_bins
        return [t_first + -(-k * span // n_time_bins) for k in range(n_time_bins)] + [t_last + 1]
    if bin_by == "ltsnn":
        dt = span // (n_time_bins - 1) if n_time_bins >= 2 else 0
        if dt == 0:
            raise ValueError(f"to_frames: bin_by 'ltsnn' needs n_time_bins >= 2 and a span of at least n_time_bins - 1 "
                             f"µs; got n_time_bins = {n_time_bins}, span = {span} µs (the LT-SNN rule divides by "
                             f"span // (T - 1))")
        return [t_first + k * dt for k in range(n_time_bins)] + [t_last + 1]
    if bin_by == "window":
        return [t_first + k * window_us for k in range(n_time_bins + 1)]
    raise ValueError(f"bin_start_times: bin_by {bin_by!r} is not time-based; expected 'duration', 'ltsnn' or 'window'")


def count_bin_bounds(n_events: int, n_time_bins: int) -> list[int]:
    """Event-index bounds of T near-equal slices: event i of N goes to bin floor(i * T / N).

    Returns:
        T + 1 ints; bin k holds events ``bounds[k] <= i < bounds[k + 1]`` (bounds[k] = ceil(k * N / T)).
    """
    return [-(-k * n_events // n_time_bins) for k in range(n_time_bins + 1)]


def windows_needed(t_first: int, t_last: int, window_us: int) -> int:
    """The number of ``window_us`` windows from t_first that cover t_last: (t_last - t_first) // w + 1."""
    return (t_last - t_first) // window_us + 1


def check_frame_options(caller: str, *, sensor_size, n_time_bins, bin_by: str, window_us, polarity_channels: int,
                        size, resize_mode: str, t_range=None) -> None:
    """Raise a ValueError naming the argument when a frame option is invalid (shared by the numpy and torch paths)."""
    if bin_by not in BIN_MODES:
        raise ValueError(f"{caller}: unknown bin_by {bin_by!r}; expected one of {list(BIN_MODES)}")
    if bin_by == "window":
        if not (isinstance(window_us, (int, np.integer)) and window_us >= 1):
            raise ValueError(f"{caller}: window_us is {window_us!r}; bin_by 'window' needs an int >= 1 (µs)")
    elif window_us is not None:
        raise ValueError(f"{caller}: window_us is {window_us!r} but bin_by is {bin_by!r}; window_us is for bin_by 'window'")
    if n_time_bins is None and bin_by != "window":
        raise ValueError(f"{caller}: n_time_bins is None; only bin_by 'window' derives it from the recording")
    if n_time_bins is not None and not (isinstance(n_time_bins, (int, np.integer)) and n_time_bins >= 1):
        raise ValueError(f"{caller}: n_time_bins is {n_time_bins!r}; expected an int >= 1")
    if len(sensor_size) != 2 or min(sensor_size) < 1:
        raise ValueError(f"{caller}: sensor_size is {sensor_size!r}; expected (W, H) with positive ints")
    if polarity_channels not in POLARITY_CHANNELS:
        raise ValueError(f"{caller}: polarity_channels is {polarity_channels!r}; expected 1 (merged) or 2 (OFF, ON)")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"{caller}: size is {size!r}; expected (H, W) with positive ints, or None")
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"{caller}: unknown resize_mode {resize_mode!r}; expected one of {list(RESIZE_MODES)}")
    if t_range is not None and not (isinstance(t_range, (tuple, list)) and len(t_range) == 2
                                    and all(isinstance(v, (int, np.integer)) for v in t_range)
                                    and t_range[1] > t_range[0]):
        raise ValueError(f"{caller}: t_range is {t_range!r}; expected (t_start, t_end) in µs, ints with "
                         f"t_end > t_start")


def first_outside_range(t, t_range: tuple[int, int]) -> int | None:
    """Index of the first event with t outside [t_start, t_end), or None (numpy or torch t)."""
    outside = (t < t_range[0]) | (t >= t_range[1])
    if not bool(outside.any()):
        return None
    return int(outside.nonzero()[0][0])


def events_in_range(events: np.ndarray, t_range: tuple[int, int], caller: str) -> np.ndarray:
    """Events of the interval ``t_range`` = [t_start, t_end) µs, stably sorted by t if they were not.

    Raises:
        ValueError: naming the first event outside the interval.
    """
    t = events["t"]
    i = first_outside_range(t, t_range)
    if i is not None:
        raise ValueError(f"{caller}: event {i} has t = {t[i]} µs; expected {t_range[0]} <= t < {t_range[1]} (t_range)")
    if len(t) > 1 and (t[1:] < t[:-1]).any():
        return events[np.argsort(t, kind="stable")]
    return events


CHUNK_EVENTS = 1 << 16    # events per validation chunk: ~1 MB of records, so every pass after the first hits the cache


def validated_chunks(events: np.ndarray, sensor_size: tuple[int, int], caller: str):
    """Validate Events chunk by chunk and yield each chunk's columns as contiguous arrays.

    Reading the packed 13-byte records once per chunk into small reused buffers is ~1.5x faster
    than whole-array passes over the strided fields (2M events: ~11 ms instead of ~17 ms here).

    Yields:
        (start, t int64 [M], x, y, p int32 [M] (wider if the field is)) for events start .. start + M - 1;
        the arrays are buffers reused by the next chunk, so use or copy them before advancing.

    Raises:
        ValueError: naming the field and the first bad event index: x or y outside the sensor, p
            outside {0, 1}, or t earlier than the event before it.
    """
    names = events.dtype.names or ()
    missing = [f for f in ("t", "x", "y", "p") if f not in names]
    if missing:
        raise ValueError(f"{caller}: events lack field(s) {missing}; expected a structured array with t, x, y, p")
    not_integer = [f for f in ("t", "x", "y", "p") if events.dtype[f].kind not in "iub"]
    if not_integer:
        raise ValueError(f"{caller}: field(s) {not_integer} are not integers; expected the Events dtype "
                         f"(t int64, x, y uint16, p int8)")
    width, height = (int(s) for s in sensor_size)
    size = min(len(events), CHUNK_EVENTS)
    # int32 buffers hold every EVENT_DTYPE value; a wider field (say int64 x) gets a buffer of its own type.
    buffers = {"t": np.empty(size, np.int64)} | {
        f: np.empty(size, np.promote_types(events.dtype[f], np.int32)) for f in ("x", "y", "p")}
    previous_t = None
    for start in range(0, len(events), CHUNK_EVENTS):
        chunk = events[start:start + CHUNK_EVENTS]
        t, x, y, p = (buffers[f][:len(chunk)] for f in "txyp")
        for name, column in (("t", t), ("x", x), ("y", y), ("p", p)):
            np.copyto(column, chunk[name], casting="same_kind")
        # Cheap min/max first; the first bad index is searched for only on failure.
        for name, values, upper in (("x", x, width), ("y", y, height), ("p", p, 2)):
            if values.min() < 0 or values.max() >= upper:
                i = int(np.flatnonzero((values < 0) | (values >= upper))[0])
                raise ValueError(f"{caller}: event {start + i} has {name} = {chunk[name][i]}; expected "
                                 f"0 <= {name} < {upper}" + (f" (sensor_size (W, H) = {tuple(sensor_size)})"
                                                             if name != "p" else ""))
        backwards = np.flatnonzero(t[1:] < t[:-1]) + 1
        if previous_t is not None and t[0] < previous_t:
            backwards = np.r_[0, backwards]
        if backwards.size:
            i = int(backwards[0])
            before = int(t[i - 1]) if i else previous_t
            raise ValueError(f"{caller}: event {start + i} has t = {t[i]} µs, earlier than event {start + i - 1} "
                             f"(t = {before}); expected non-decreasing t")
        previous_t = int(t[-1])
        yield start, t, x, y, p


MAX_CELLS = 2**31 - 1


def check_cell_count(caller: str, n_bins: int, channels: int, height: int, width: int) -> None:
    """Raise a ValueError when T * C * H * W cells would not fit an int32 index (8 GiB of float32 frames)."""
    cells = n_bins * channels * height * width
    if cells > MAX_CELLS:
        raise ValueError(f"{caller}: frames [T, C, H, W] = {[n_bins, channels, height, width]} have {cells:,} cells; "
                         f"expected at most 2^31 - 1 (use fewer bins, one polarity channel or a smaller sensor)")


def event_columns(events: np.ndarray, sensor_size: tuple[int, int], caller: str):
    """The columns of validated Events (see :func:`validated_chunks`).

    Returns:
        (t int64, x int32, y int32, p int32): contiguous arrays [N].
    """
    n = len(events)
    columns = (np.empty(n, np.int64), np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.int32))
    for start, *chunk in validated_chunks(events, sensor_size, caller):
        for column, values in zip(columns, chunk, strict=True):
            column[start:start + len(values)] = values
    return columns


def pixel_index(events: np.ndarray, sensor_size: tuple[int, int], polarity_channels: int, caller: str) -> np.ndarray:
    """Validated Events -> index of each event's (channel, row, column) cell: (c * H + y) * W + x, int32 [N].

    c = p with 2 polarity channels, 0 with 1; the caller checks that C * H * W fits (:func:`check_cell_count`).
    """
    width, height = (int(s) for s in sensor_size)
    index = np.empty(len(events), dtype=np.int32)
    for start, _, x, y, p in validated_chunks(events, sensor_size, caller):
        out = index[start:start + len(x)]
        if polarity_channels == 2:
            np.multiply(p, height, out=out)
            out += y
        else:
            out[:] = y
        out *= width
        out += x
    return index


def bin_bounds(t, *, n_time_bins: int | None, bin_by: str, window_us: int | None = None,
               t_range: tuple[int, int] | None = None, search=None) -> list[int]:
    """Event-index bounds [T + 1] of the time bins of a sorted recording (see :func:`bin_start_times`).

    Bin k holds events ``bounds[k] <= i < bounds[k + 1]``; events at or after ``bounds[T]`` are in no
    bin (only with ``"window"``). ``n_time_bins`` None (``"window"`` only) means as many windows as
    cover the recording, or ``t_range`` when given (0 for an empty recording without a range).

    Args:
        t: sorted timestamps [N] (a numpy array, a memory map or a torch tensor).
        t_range: (t_start, t_end) µs: the interval the time-based rules measure (module docstring of
            :func:`to_frames`); None: the recording's first and last timestamps.
        search: sorted times -> the index of the first event at or after each (``searchsorted``); by
            default a Python binary search that reads ~log2(N) values, so a strided t column is not copied.
    """
    n = len(t)
    if t_range is not None and bin_by in ("duration", "window"):
        t_first, t_last = t_range
        if n_time_bins is None:
            n_time_bins = windows_needed(t_first, t_last - 1, window_us)
    elif n == 0:
        return [0] * ((n_time_bins or 0) + 1)
    else:
        t_first, t_last = int(t[0]), int(t[-1])
        if n_time_bins is None:
            n_time_bins = windows_needed(t_first, t_last, window_us)
    if bin_by == "count":
        return count_bin_bounds(n, n_time_bins)
    # With a range, "duration" ends its last bin at t_last + 1 = t_end + 1: no event reaches t_end, so
    # every bin k starts at t_start + ceil(k * (t_end - t_start) / T), exactly T equal spans of the range.
    starts = bin_start_times(t_first, t_last, n_time_bins=n_time_bins, bin_by=bin_by, window_us=window_us)
    if search is None:
        return [bisect.bisect_left(t, start) for start in starts]
    return search(starts)


def to_frames(events: np.ndarray, *, sensor_size: tuple[int, int], n_time_bins: int | None, bin_by: str = "duration",
              binary: bool = True, window_us: int | None = None, polarity_channels: int = 2,
              size: tuple[int, int] | None = None, resize_mode: str = "area",
              t_range: tuple[int, int] | None = None) -> np.ndarray:
    """Accumulate events into T frames of per-pixel event counts (or presence).

    Bins (for events with times t_0 <= ... <= t_{N-1}; exact rules in :func:`bin_start_times`):

    - ``"duration"``: T equal spans of [t_0, t_{N-1}]; event i goes to bin
      floor((t_i - t_0) * T / (t_{N-1} - t_0)), with the last event (t_i = t_{N-1}) put in bin T - 1
      rather than in a bin of its own. When all events share one time they all go to bin 0.
    - ``"count"``: event i of N goes to bin floor(i * T / N): T slices whose counts differ by at
      most one (bins are empty when N < T).
    - ``"window"``: fixed windows of ``window_us`` µs starting at t_0. With ``n_time_bins`` given, the
      frames cover [t_0, t_0 + T * window_us) and later events are in no frame (that is the point of a
      fixed window: e.g. the first 1.5 s of a gesture); with ``n_time_bins=None``,
      T = (t_{N-1} - t_0) // window_us + 1 windows cover every event (T = 0 for no events).
    - ``"ltsnn"``: the LT-SNN code's equal-duration rule with its T - 1 divisor (methods.md §1.8): bins
      0..T-2 share the whole recording and bin T - 1 holds only the final event(s).

    A time range ``t_range`` = (t_start, t_end) fixes the bins by the clock instead of by the events,
    so that an object seen at the same time in two samples lands in the same bin (label-aligned
    windows of detection): ``"duration"`` cuts [t_start, t_end) into T equal spans, bin k holding
    t ∈ [t_start + k·D/T, t_start + (k+1)·D/T) with D = t_end − t_start; ``"window"`` starts its
    windows at t_start (``n_time_bins=None``: as many as cover the range); ``"count"`` and ``"ltsnn"``
    depend on the events only. Every event must lie in the range; they may come in any order
    (Prophesee DAT files are only nearly sorted) and are sorted by t first.

    Then, in this order: ``binary`` turns counts into presence (1.0 where a pixel had at least one
    event in the bin), and ``size`` resizes each frame with :func:`ltsnn.data.functional.resize_frames`.

    Args:
        events: Events [N] (fields t in µs, x, y, p; see :mod:`ltsnn.data.events`), t non-decreasing
            unless ``t_range`` is given.
        sensor_size: (W, H) in pixels; every event needs x < W and y < H.
        n_time_bins: T >= 1; None only with ``bin_by="window"`` (derived, see above).
        bin_by: ``"duration"``, ``"count"``, ``"window"`` or ``"ltsnn"``.
        binary: 1.0 where a pixel had at least one event in the bin; else the event count.
        window_us: window length in µs, for ``bin_by="window"`` only.
        polarity_channels: 2 = channels (OFF, ON) by p; 1 = one channel, both polarities merged.
        size: output (H', W') in pixels, or None to keep the sensor's (H, W).
        resize_mode: ``"area"``, ``"bilinear"`` or ``"nearest"`` (as ``torch.nn.functional.interpolate``
            with ``antialias=False, align_corners=False``; ``"area"`` = adaptive average pooling).
        t_range: (t_start, t_end) in µs, ints with t_end > t_start, or None (see above).

    Returns:
        float32 [T, C, H, W] (C = ``polarity_channels``; (H', W') = ``size`` if given); all zeros for
        an empty recording.

    Raises:
        ValueError: naming the field and the first bad event index when an event lies outside the
            sensor or ``t_range``, has p outside {0, 1}, or (without a range) comes earlier than the
            event before it; or naming the argument when an option is invalid.

    Example:
        >>> from ltsnn.data.events import make_events
        >>> events = make_events([10_000, 22_499, 59_999], [1, 2, 3], [0, 1, 2], [1, 0, 1])
        >>> frames = to_frames(events, sensor_size=(4, 3), n_time_bins=4, t_range=(10_000, 60_000))
        >>> frames.shape, frames[:, 1].sum(axis=(1, 2)).tolist()      # ON events in bins 0 and 3
        ((4, 2, 3, 4), [1.0, 0.0, 0.0, 1.0])
        >>> to_frames(events, sensor_size=(4, 3), n_time_bins=4)[:, 1].sum(axis=(1, 2)).tolist()
        [1.0, 0.0, 0.0, 1.0]
    """
    check_frame_options("to_frames", sensor_size=sensor_size, n_time_bins=n_time_bins, bin_by=bin_by,
                        window_us=window_us, polarity_channels=polarity_channels, size=size, resize_mode=resize_mode,
                        t_range=t_range)
    if t_range is not None:
        events = events_in_range(events, t_range, "to_frames")
    width, height = (int(s) for s in sensor_size)
    bounds = bin_bounds(events["t"], n_time_bins=n_time_bins, bin_by=bin_by, window_us=window_us, t_range=t_range)
    n_bins = len(bounds) - 1
    check_cell_count("to_frames", n_bins, polarity_channels, height, width)
    linear = pixel_index(events, sensor_size, polarity_channels, "to_frames")       # validates the events
    stride = polarity_channels * height * width        # index step from one time bin to the next
    linear = linear[bounds[0]:bounds[-1]]
    for k in range(1, n_bins):                        # each bin is a contiguous slice of the sorted stream
        linear[bounds[k] - bounds[0]:bounds[k + 1] - bounds[0]] += k * stride
    counts = np.bincount(linear, minlength=n_bins * stride).reshape(n_bins, polarity_channels, height, width)
    frames = (counts > 0).astype(np.float32) if binary else counts.astype(np.float32)
    return frames if size is None else resize_frames(frames, size, mode=resize_mode)


def frame_max_normalise(frames: np.ndarray) -> np.ndarray:
    """Divide each time step's frame by its own maximum, as TET's DVS-CIFAR10 preprocessing (methods.md §4.4).

    Args:
        frames: [T, C, H, W], non-negative.

    Returns:
        float32 [T, C, H, W] with each frame's maximum (over C, H, W) 1; all-zero frames stay zero.
    """
    peak = frames.reshape(len(frames), -1).max(axis=1, initial=0).astype(np.float64)
    scale = np.divide(1.0, peak, out=np.zeros_like(peak), where=peak > 0)
    return (frames * scale[:, None, None, None]).astype(np.float32)

