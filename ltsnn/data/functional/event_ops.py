"""Ops on Events (numpy structured arrays t, x, y, p), every parameter explicit (no randomness)."""

from __future__ import annotations

import numpy as np

OUT_OF_BOUNDS = ("drop", "clip")


def flip_events(events: np.ndarray, *, sensor_size: tuple[int, int], axis: str) -> np.ndarray:
    """Mirror events: ``"lr"`` maps x -> W - 1 - x, ``"ud"`` maps y -> H - 1 - y. Returns a copy.

    Raises:
        ValueError: for an unknown axis, or naming the first event outside the sensor.
    """
    if axis not in ("lr", "ud"):
        raise ValueError(f"flip_events: unknown axis {axis!r}; expected 'lr' or 'ud'")
    field, size = ("x", sensor_size[0]) if axis == "lr" else ("y", sensor_size[1])
    out = events.copy()
    values = events[field]
    if len(values) and values.max() >= size:
        i = int(np.flatnonzero(values >= size)[0])
        raise ValueError(f"flip_events: event {i} has {field} = {values[i]}; expected {field} < {size} "
                         f"(sensor_size (W, H) = {tuple(sensor_size)})")
    out[field] = size - 1 - values
    return out


def shift_times(events: np.ndarray, offsets_us: np.ndarray) -> np.ndarray:
    """Add per-event offsets to t and re-sort by the new t, stably (ties keep their file order).

    Times are not clipped: an event may move before the first one, or to t < 0.

    Args:
        events: Events [N].
        offsets_us: int64 [N], µs.

    Returns:
        Events [N], sorted by t.
    """
    out = events.copy()
    out["t"] = events["t"] + np.asarray(offsets_us, dtype=np.int64)
    return out[np.argsort(out["t"], kind="stable")]


def shift_pixels(events: np.ndarray, dx: np.ndarray, dy: np.ndarray, *, sensor_size: tuple[int, int],
                 out_of_bounds: str) -> np.ndarray:
    """Move each event by integer (dx, dy) pixels; events that leave the sensor are dropped or clipped.

    Args:
        events: Events [N].
        dx, dy: int [N] (or scalars), pixels.
        sensor_size: (W, H).
        out_of_bounds: ``"drop"``: remove events that land outside [0, W) x [0, H) (the count removed
            is N minus the length returned); ``"clip"``: move them to the nearest border pixel.

    Returns:
        Events [M], file order kept (M = N with ``"clip"``).
    """
    if out_of_bounds not in OUT_OF_BOUNDS:
        raise ValueError(f"shift_pixels: unknown out_of_bounds {out_of_bounds!r}; expected one of {list(OUT_OF_BOUNDS)}")
    width, height = sensor_size
    x = events["x"].astype(np.int64) + dx
    y = events["y"].astype(np.int64) + dy
    out = events.copy()
    if out_of_bounds == "clip":
        out["x"], out["y"] = np.clip(x, 0, width - 1), np.clip(y, 0, height - 1)
        return out
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    out["x"], out["y"] = np.where(inside, x, 0), np.where(inside, y, 0)
    return out[inside]


def crop_events(events: np.ndarray, *, top: int, left: int, height: int, width: int) -> np.ndarray:
    """The events inside rows [top, top + height) and columns [left, left + width), in crop coordinates.

    Events outside the crop are removed (that is what a crop is); file order kept.
    """
    x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
    inside = (x >= left) & (x < left + width) & (y >= top) & (y < top + height)
    out = events[inside]
    out["x"] -= left
    out["y"] -= top
    return out
