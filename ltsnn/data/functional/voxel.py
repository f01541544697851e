"""Events -> voxel grid: each event shared between its two nearest time bins (Zhu et al. 2019).

A. Z. Zhu, L. Yuan, K. Chaney, K. Daniilidis, "Unsupervised Event-based Learning of Optical Flow,
Depth, and Egomotion", CVPR 2019, Eq. 2-3: with normalised times t*_i = (B - 1)(t_i - t_0) / (t_{N-1} - t_0),

    V(b, y, x) = sum_i p_i * max(0, 1 - |b - t*_i|),   p_i in {-1, +1},

so event i adds 1 - frac(t*_i) to bin floor(t*_i) and frac(t*_i) to the next one. Here t*_i is kept
exact: its numerator (B - 1)(t_i - t_0) and denominator t_{N-1} - t_0 are integers, the per-bin sums
are accumulated as integers and divided once, so the numpy and torch paths agree bit for bit.
"""

from __future__ import annotations

import numpy as np

from ltsnn.data.functional.frames import POLARITY_CHANNELS, event_columns


def voxel_time_split(t, t_first: int, t_last: int, n_time_bins: int):
    """Split each event between bins ``lower`` and ``upper`` with integer weights (works on numpy or torch int64).

    Returns:
        (lower, upper, upper_weight, denominator): event i adds (denominator - upper_weight[i]) / denominator
        to bin lower[i] and upper_weight[i] / denominator to bin upper[i] (= min(lower + 1, B - 1); its
        weight is 0 when lower = B - 1). If every event has the same time, all go to bin 0 with weight 1.
    """
    denominator = max(t_last - t_first, 1)
    numerator = (t - t_first) * (n_time_bins - 1)
    lower = numerator // denominator
    upper_weight = numerator - lower * denominator
    return lower, (lower + 1).clip(max=n_time_bins - 1), upper_weight, denominator


def to_voxel_grid(events: np.ndarray, *, sensor_size: tuple[int, int], n_time_bins: int,
                  polarity_channels: int = 1) -> np.ndarray:
    """Bilinear-in-time voxel grid of a recording (Zhu et al. 2019; see the module docstring).

    Args:
        events: Events [N] (t µs, x, y, p), t non-decreasing.
        sensor_size: (W, H) in pixels.
        n_time_bins: B >= 1 (B = 1 puts every event in the single bin with weight 1).
        polarity_channels: 1 = one signed channel (ON +1, OFF -1), as in the paper; 2 = channels
            (OFF, ON), each event weighted +1 in its own channel.

    Returns:
        float32 [B, C, H, W]; all zeros for an empty recording.

    Raises:
        ValueError: naming the field and first bad event index (as :func:`ltsnn.data.functional.to_frames`),
            or the argument when an option is invalid.
    """
    if not (isinstance(n_time_bins, (int, np.integer)) and n_time_bins >= 1):
        raise ValueError(f"to_voxel_grid: n_time_bins is {n_time_bins!r}; expected an int >= 1")
    if polarity_channels not in POLARITY_CHANNELS:
        raise ValueError(f"to_voxel_grid: polarity_channels is {polarity_channels!r}; expected 1 (signed) or 2 (OFF, ON)")
    if len(sensor_size) != 2 or min(sensor_size) < 1:
        raise ValueError(f"to_voxel_grid: sensor_size is {sensor_size!r}; expected (W, H) with positive ints")
    t, x, y, p = event_columns(events, sensor_size, "to_voxel_grid")
    width, height = (int(s) for s in sensor_size)
    shape = (n_time_bins, polarity_channels, height, width)
    if len(t) == 0:
        return np.zeros(shape, dtype=np.float32)
    lower, upper, upper_weight, denominator = voxel_time_split(t.astype(np.int64), int(t[0]), int(t[-1]), n_time_bins)
    pixel = y.astype(np.int64) * width + x
    if polarity_channels == 1:
        sign = 2 * p.astype(np.int64) - 1
    else:
        pixel += p.astype(np.int64) * (height * width)
        sign = 1
    stride = polarity_channels * height * width
    sums = np.zeros(n_time_bins * stride, dtype=np.int64)          # exact integer numerators
    np.add.at(sums, lower * stride + pixel, (denominator - upper_weight) * sign)
    np.add.at(sums, upper * stride + pixel, upper_weight * sign)
    return (sums / denominator).astype(np.float32).reshape(shape)
