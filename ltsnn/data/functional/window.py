"""Events of a fixed time window -> frames, and the box arithmetic of resizing them (numpy only)."""

from __future__ import annotations

import numpy as np


def window_frames(events: np.ndarray, *, t_start: int, t_end: int, n_time_bins: int, sensor_size: tuple[int, int],
                  binary: bool = True) -> np.ndarray:
    """Accumulate the events of the window [t_start, t_end) into T frames of equal duration.

    Unlike :func:`ltsnn.data.functional.to_frames` (whose bins span the events' own first and last
    time), the bins are fixed by the window, so an object seen at the same time in two samples lands
    in the same bin: bin k holds t ∈ [t_start + k·D/T, t_start + (k+1)·D/T), D = t_end − t_start.

    Args:
        events: Events [N] (t µs, x, y, p), every t in [t_start, t_end), any order.
        t_start, t_end: the window in µs, t_end > t_start.
        n_time_bins: T >= 1.
        sensor_size: (W, H) in pixels.
        binary: 1 where a pixel had at least one event of that polarity in the bin, else the count.
    Returns:
        float32 [T, 2, H, W]; channel 0 = OFF, 1 = ON.
    Raises:
        ValueError: naming the first event outside the window or the sensor.
    """
    if t_end <= t_start:
        raise ValueError(f"window_frames: window [{t_start}, {t_end}) µs is empty; expected t_end > t_start")
    if n_time_bins < 1:
        raise ValueError(f"window_frames: n_time_bins is {n_time_bins}; expected >= 1")
    width, height = (int(s) for s in sensor_size)
    t = events["t"].astype(np.int64)
    x, y, p = (events[f].astype(np.int64) for f in ("x", "y", "p"))
    for name, values, low, high in (("t", t, t_start, t_end), ("x", x, 0, width), ("y", y, 0, height),
                                    ("p", p, 0, 2)):
        bad = np.flatnonzero((values < low) | (values >= high))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"window_frames: event {i} has {name} = {values[i]}; expected {low} <= {name} < {high}")
    time_bin = (t - t_start) * n_time_bins // (t_end - t_start)
    linear = ((time_bin * 2 + p) * height + y) * width + x
    frames = np.bincount(linear, minlength=n_time_bins * 2 * height * width).reshape(n_time_bins, 2, height, width)
    return (frames > 0).astype(np.float32) if binary else frames.astype(np.float32)


def resize_nearest(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of ``[..., H, W]`` to ``[..., H', W']`` (``size`` = (H', W')).

    Output pixel i reads input pixel ⌊i·H/H'⌋, as ``torch.nn.functional.interpolate(mode="nearest")``,
    the resize of the LT-SNN detector's input (spec §2.1).
    """
    h, w = frames.shape[-2:]
    rows = np.arange(size[0]) * h // size[0]
    cols = np.arange(size[1]) * w // size[1]
    return frames[..., rows[:, None], cols[None, :]]


def scale_boxes(boxes: np.ndarray, *, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Boxes float [N, 4] (x_left, y_top, w, h) in pixels of a (H, W) frame -> the same boxes on a frame
    resized to ``to_size`` = (H', W'): x and w scale by W'/W, y and h by H'/H."""
    sy, sx = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return (boxes * np.array([sx, sy, sx, sy], dtype=np.float64)).astype(np.float32)
