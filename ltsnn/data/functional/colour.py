"""The LT-SNN code's colour-presence frames (methods.md §1.8), as a named preset.

The official LT-SNN loader (``dvsloader/dvs2dataset.py::get_frames`` and ``get_cifar_loader``) turns
a recording into T RGB uint8 images: a pixel that had an event in a bin is pure red (255, 0, 0) if
the last such event was ON (p = 1) and pure green (0, 255, 0) if it was OFF; blue is always 0;
earlier events of the bin at that pixel are overwritten (last event wins, no counts). Bins follow
its equal-duration rule with the T - 1 divisor (``bin_by="ltsnn"`` of
:func:`ltsnn.data.functional.frames.bin_start_times`): bins 0..T-2 share the recording and bin T - 1
holds only the final event(s). The frames are then resized (48x48 for DVS-CIFAR10) by torchvision's
tensor ``Resize``: bilinear without antialiasing on the uint8 values, rounded half to even back to
uint8, and fed to the network as floats in [0, 255] without normalisation.

``binning="duration"`` is the fixed version: T equal spans of the recording (our ``"duration"``
rule), everything else unchanged. The data-set specific flips of that code (CIFAR10-DVS: x -> 127 - x
and inverted polarity) belong to the reader, not here.
"""

from __future__ import annotations

import numpy as np

from ltsnn.data.functional.frames import bin_bounds, event_columns
from ltsnn.data.functional.resize import resize_frames

COLOUR_BINNINGS = ("ltsnn", "duration")


def colour_from_last_event(last_p, present):
    """Channel values (0 or 255) of red and green from the last event's polarity (numpy or torch).

    Args:
        last_p: [T, H, W] polarity of the last event per bin and pixel (any value where not present).
        present: [T, H, W] bool, True where the pixel had an event in the bin.

    Returns:
        (red, green): [T, H, W] bools.
    """
    on = last_p == 1
    return present & on, present & ~on


def ltsnn_colour_frames(events: np.ndarray, *, sensor_size: tuple[int, int], n_time_bins: int,
                        binning: str = "ltsnn", size: tuple[int, int] | None = (48, 48)) -> np.ndarray:
    """LT-SNN colour-presence frames: red = last event ON, green = last event OFF, values {0, 255}.

    Args:
        events: Events [N] (t µs, x, y, p), t non-decreasing; file order decides the "last" event
            among events with equal t.
        sensor_size: (W, H) in pixels (the LT-SNN code used max(x) + 1, max(y) + 1 padded up to
            the data set's size; 128x128 for DVS-CIFAR10).
        n_time_bins: T (30 in the paper's DVS-CIFAR10 runs); >= 2 for ``binning="ltsnn"``.
        binning: ``"ltsnn"`` (the code's T - 1 divisor) or ``"duration"`` (T equal spans).
        size: (H', W') for the bilinear uint8 resize, or None for none.

    Returns:
        float32 [T, 3, H', W'] (R, G, B; B = 0): values in {0, 255} without resize, integers in
        [0, 255] after it.

    Raises:
        ValueError: as :func:`ltsnn.data.functional.to_frames` for bad events, for an unknown
            ``binning``, and for ``"ltsnn"`` when T < 2 or the span is shorter than T - 1 µs.
    """
    if binning not in COLOUR_BINNINGS:
        raise ValueError(f"ltsnn_colour_frames: unknown binning {binning!r}; expected one of {list(COLOUR_BINNINGS)}")
    if not (isinstance(n_time_bins, (int, np.integer)) and n_time_bins >= 1):
        raise ValueError(f"ltsnn_colour_frames: n_time_bins is {n_time_bins!r}; expected an int >= 1")
    if len(sensor_size) != 2 or min(sensor_size) < 1:
        raise ValueError(f"ltsnn_colour_frames: sensor_size is {sensor_size!r}; expected (W, H) with positive ints")
    t, x, y, p = event_columns(events, sensor_size, "ltsnn_colour_frames")
    width, height = (int(s) for s in sensor_size)
    bounds = bin_bounds(t, n_time_bins=n_time_bins, bin_by=binning)
    time_bin = np.repeat(np.arange(n_time_bins, dtype=np.int64), np.diff(bounds))
    cell = (time_bin * height + y) * width + x                       # [N] (bin, row, column)
    last = np.full(n_time_bins * height * width, -1, dtype=np.int64)
    np.maximum.at(last, cell, np.arange(len(t), dtype=np.int64))     # index of the last event per cell
    present = last >= 0
    red, green = colour_from_last_event(p[np.maximum(last, 0)] if len(t) else last, present)
    frames = np.zeros((n_time_bins, 3, height, width), dtype=np.float32)
    frames[:, 0] = red.reshape(n_time_bins, height, width) * np.float32(255)
    frames[:, 1] = green.reshape(n_time_bins, height, width) * np.float32(255)
    if size is None:
        return frames
    return np.rint(resize_frames(frames, size, mode="bilinear"))    # torchvision rounds half to even on uint8
