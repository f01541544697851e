"""Events -> frames in torch, on any device: the same rules and the same frames as :mod:`ltsnn.data.functional`.

The binning rules (:func:`~ltsnn.data.functional.frames.bin_bounds`, searched with
``torch.searchsorted`` on the events' device, and ``voxel_time_split``) and resize weights
(:func:`~ltsnn.data.functional.resize.resize_weights`) are the numpy module's, called here on
tensors or turned into small tensors; this module only does the accumulation with torch ops that
run on CUDA as on the CPU (searchsorted, repeat_interleave, bincount, index_add_, scatter_reduce_,
matmul in float64). Counts are integers and resizing is
exact in float64 (see :mod:`ltsnn.data.functional.resize`), so the frames are bit-identical to the
numpy path's on every device.

Events come as four 1-D tensors of equal length: t (µs, integer), x, y (pixels) and p (0 = OFF,
1 = ON), on one device; :func:`event_tensors` makes them from an Events array.
"""

from __future__ import annotations

import numpy as np
import torch

from ltsnn.data.functional.colour import COLOUR_BINNINGS, colour_from_last_event
from ltsnn.data.functional.frames import (POLARITY_CHANNELS, bin_bounds, check_cell_count, check_frame_options,
                                          first_outside_range)
from ltsnn.data.functional.resize import resize_weights
from ltsnn.data.functional.voxel import voxel_time_split


def event_tensors(events: np.ndarray, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
    """(t int64, x int32, y int32, p int32) tensors [N] on ``device`` from an Events array (fields t, x, y, p)."""
    return tuple(torch.from_numpy(events[f].astype(dtype)).to(device)
                 for f, dtype in (("t", np.int64), ("x", np.int32), ("y", np.int32), ("p", np.int32)))


def checked_columns(t, x, y, p, sensor_size: tuple[int, int], caller: str) -> tuple[torch.Tensor, ...]:
    """The four columns validated as the numpy path does (same messages, first bad index): t as int64,
    x, y, p as int32 (in-place int32 arithmetic is several times faster than int64 on the CPU).

    Raises:
        ValueError: when lengths, devices or dtypes are wrong, an event lies outside the sensor, p is
            outside {0, 1}, or t decreases.
    """
    columns = {"t": t, "x": x, "y": y, "p": p}
    for name, values in columns.items():
        if values.ndim != 1 or values.shape[0] != t.shape[0] or values.device != t.device:
            raise ValueError(f"{caller}: column {name!r} has shape {tuple(values.shape)} on {values.device}; expected "
                             f"1-D with the length and device of 't' ({tuple(t.shape)} on {t.device})")
        if values.is_floating_point() or values.is_complex():
            raise ValueError(f"{caller}: column {name!r} has dtype {values.dtype}; expected integers")
    if t.numel() == 0:
        return t.long(), x.int(), y.int(), p.int()
    width, height = (int(s) for s in sensor_size)
    for name, values, upper in (("x", x, width), ("y", y, height), ("p", p, 2)):
        low, high = torch.aminmax(values.long() if values.dtype == torch.bool else values)
        if int(low) < 0 or int(high) >= upper:                          # search for the index only on failure
            i = int(((values < 0) | (values >= upper)).nonzero()[0, 0])
            raise ValueError(f"{caller}: event {i} has {name} = {int(values[i])}; expected 0 <= {name} < {upper}"
                             + (f" (sensor_size (W, H) = {tuple(sensor_size)})" if name != "p" else ""))
    t = t.long()
    backwards = t[1:] < t[:-1]
    if bool(backwards.any()):
        i = int(backwards.nonzero()[0, 0]) + 1
        raise ValueError(f"{caller}: event {i} has t = {int(t[i])} µs, earlier than event {i - 1} "
                         f"(t = {int(t[i - 1])}); expected non-decreasing t")
    return t, x.int(), y.int(), p.int()


def bin_bounds_torch(t: torch.Tensor, *, n_time_bins: int | None, bin_by: str, window_us: int | None = None,
                     t_range: tuple[int, int] | None = None) -> list[int]:
    """Event-index bounds [T + 1] of the time bins (:func:`ltsnn.data.functional.frames.bin_bounds`, searched on
    the tensor's device)."""
    def search(starts: list[int]) -> list[int]:
        return torch.searchsorted(t, torch.tensor(starts, dtype=torch.int64, device=t.device)).tolist()

    return bin_bounds(t, n_time_bins=n_time_bins, bin_by=bin_by, window_us=window_us, t_range=t_range, search=search)


def columns_in_range(t, x, y, p, t_range: tuple[int, int], caller: str) -> tuple[torch.Tensor, ...]:
    """The columns of the events in [t_start, t_end), stably sorted by t if they were not (as
    :func:`ltsnn.data.functional.frames.events_in_range`)."""
    i = first_outside_range(t, t_range)
    if i is not None:
        raise ValueError(f"{caller}: event {i} has t = {int(t[i])} µs; expected {t_range[0]} <= t < {t_range[1]} "
                         f"(t_range)")
    if t.numel() > 1 and bool((t[1:] < t[:-1]).any()):
        order = torch.sort(t, stable=True).indices
        return t[order], x[order], y[order], p[order]
    return t, x, y, p


def resize_frames_torch(frames: torch.Tensor, size: tuple[int, int], *, mode: str) -> torch.Tensor:
    """Resize the last two axes as :func:`ltsnn.data.functional.resize_frames` does; float32 on the same device."""
    rows, row_den = (torch.from_numpy(a).to(frames.device) for a in resize_weights(frames.shape[-2], int(size[0]), mode))
    cols, col_den = (torch.from_numpy(a).to(frames.device) for a in resize_weights(frames.shape[-1], int(size[1]), mode))
    summed = rows.double() @ frames.double() @ cols.T.double()                      # [..., H', W']
    return (summed / torch.outer(row_den, col_den).double()).float()


def time_bin_of_events(bounds: list[int], device: torch.device) -> torch.Tensor:
    """Bin index int32 [bounds[-1] - bounds[0]] of each event in a bin (k repeated bounds[k+1] - bounds[k] times)."""
    n_bins = len(bounds) - 1
    counts = torch.tensor(np.diff(bounds), dtype=torch.int64, device=device)
    return torch.repeat_interleave(torch.arange(n_bins, dtype=torch.int32, device=device), counts,
                                   output_size=bounds[-1] - bounds[0])


def to_frames_torch(t: torch.Tensor, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor, *,
                    sensor_size: tuple[int, int], n_time_bins: int | None, bin_by: str = "duration",
                    binary: bool = True, window_us: int | None = None, polarity_channels: int = 2,
                    size: tuple[int, int] | None = None, resize_mode: str = "area",
                    t_range: tuple[int, int] | None = None) -> torch.Tensor:
    """Events -> frames on the events' device; every option and result as :func:`ltsnn.data.functional.to_frames`.

    Args:
        t, x, y, p: integer tensors [N] on one device (t µs non-decreasing unless ``t_range`` is given,
            x < W, y < H, p in {0, 1}).
        sensor_size, n_time_bins, bin_by, binary, window_us, polarity_channels, size, resize_mode, t_range:
            as :func:`ltsnn.data.functional.to_frames`.

    Returns:
        float32 [T, C, H, W] (or [T, C, H', W'] with ``size``) on the events' device.
    """
    check_frame_options("to_frames_torch", sensor_size=sensor_size, n_time_bins=n_time_bins, bin_by=bin_by,
                        window_us=window_us, polarity_channels=polarity_channels, size=size, resize_mode=resize_mode,
                        t_range=t_range)
    if t_range is not None:
        t, x, y, p = columns_in_range(t, x, y, p, t_range, "to_frames_torch")
    t, x, y, p = checked_columns(t, x, y, p, sensor_size, "to_frames_torch")
    width, height = (int(s) for s in sensor_size)
    bounds = bin_bounds_torch(t, n_time_bins=n_time_bins, bin_by=bin_by, window_us=window_us, t_range=t_range)
    n_bins, first, last = len(bounds) - 1, bounds[0], bounds[-1]
    plane = height * width
    check_cell_count("to_frames_torch", n_bins, polarity_channels, height, width)
    # In place and in int32: no 2M-element temporaries, half the memory traffic of int64.
    linear = time_bin_of_events(bounds, t.device)                                         # [M] bin
    linear *= polarity_channels
    if polarity_channels == 2:
        linear += p[first:last]                                                           # (bin, channel)
    linear *= plane
    linear.add_(y[first:last], alpha=width)
    linear += x[first:last]                                                               # (bin, channel, y, x)
    counts = torch.bincount(linear, minlength=n_bins * polarity_channels * plane)
    counts = counts.reshape(n_bins, polarity_channels, height, width)
    frames = (counts > 0).float() if binary else counts.float()
    return frames if size is None else resize_frames_torch(frames, size, mode=resize_mode)


def to_voxel_grid_torch(t: torch.Tensor, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor, *,
                        sensor_size: tuple[int, int], n_time_bins: int, polarity_channels: int = 1) -> torch.Tensor:
    """Voxel grid on the events' device, bit-identical to :func:`ltsnn.data.functional.to_voxel_grid`.

    Returns:
        float32 [B, C, H, W].
    """
    if not (isinstance(n_time_bins, int) and n_time_bins >= 1):
        raise ValueError(f"to_voxel_grid_torch: n_time_bins is {n_time_bins!r}; expected an int >= 1")
    if polarity_channels not in POLARITY_CHANNELS:
        raise ValueError(f"to_voxel_grid_torch: polarity_channels is {polarity_channels!r}; expected 1 or 2")
    t, x, y, p = checked_columns(t, x, y, p, sensor_size, "to_voxel_grid_torch")
    width, height = (int(s) for s in sensor_size)
    shape = (n_time_bins, polarity_channels, height, width)
    if t.numel() == 0:
        return torch.zeros(shape, dtype=torch.float32, device=t.device)
    x, y, p = x.long(), y.long(), p.long()
    lower, upper, upper_weight, denominator = voxel_time_split(t, int(t[0]), int(t[-1]), n_time_bins)
    pixel = y * width + x
    if polarity_channels == 1:
        sign = 2 * p - 1
    else:
        pixel = pixel + p * (height * width)
        sign = torch.ones_like(p)
    stride = polarity_channels * height * width
    sums = torch.zeros(n_time_bins * stride, dtype=torch.int64, device=t.device)     # exact integer numerators
    sums.index_add_(0, lower * stride + pixel, (denominator - upper_weight) * sign)
    sums.index_add_(0, upper * stride + pixel, upper_weight * sign)
    return (sums.double() / denominator).float().reshape(shape)


def ltsnn_colour_frames_torch(t: torch.Tensor, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor, *,
                              sensor_size: tuple[int, int], n_time_bins: int, binning: str = "ltsnn",
                              size: tuple[int, int] | None = (48, 48)) -> torch.Tensor:
    """LT-SNN colour-presence frames on the events' device, as :func:`ltsnn.data.functional.ltsnn_colour_frames`.

    Returns:
        float32 [T, 3, H', W'].
    """
    if binning not in COLOUR_BINNINGS:
        raise ValueError(f"ltsnn_colour_frames_torch: unknown binning {binning!r}; expected one of {list(COLOUR_BINNINGS)}")
    if not (isinstance(n_time_bins, int) and n_time_bins >= 1):
        raise ValueError(f"ltsnn_colour_frames_torch: n_time_bins is {n_time_bins!r}; expected an int >= 1")
    t, x, y, p = checked_columns(t, x, y, p, sensor_size, "ltsnn_colour_frames_torch")
    width, height = (int(s) for s in sensor_size)
    bounds = bin_bounds_torch(t, n_time_bins=n_time_bins, bin_by=binning)
    cell = (time_bin_of_events(bounds, t.device).long() * height + y) * width + x         # [N] (bin, row, column)
    last = torch.full((n_time_bins * height * width,), -1, dtype=torch.int64, device=t.device)
    last.scatter_reduce_(0, cell, torch.arange(t.numel(), device=t.device), reduce="amax")
    present = last >= 0
    last_p = p[last.clamp(min=0)] if t.numel() else last
    red, green = colour_from_last_event(last_p, present)
    frames = torch.stack([red, green, torch.zeros_like(red)]).float().mul(255)            # [3, T*H*W]
    frames = frames.reshape(3, n_time_bins, height, width).transpose(0, 1).contiguous()
    return frames if size is None else torch.round(resize_frames_torch(frames, size, mode="bilinear"))
