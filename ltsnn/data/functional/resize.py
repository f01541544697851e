"""Resize frames [..., H, W] as ``torch.nn.functional.interpolate`` does (``antialias=False``, ``align_corners=False``).

Each mode is separable: along one axis of length n_in -> n_out, output i is
sum_j w[i, j] * input[j] / d[i] with integer weights w and integer denominators d
(:func:`resize_weights`). The 2-D result applies the row weights, then the column weights, in
float64, and divides once. For integer-valued frames (counts, presence) every product and sum is
an exact integer in float64, so the result is the exact value rounded once: identical on numpy,
torch CPU and CUDA whatever the summation order. (``"nearest"`` has one weight 1 per output, so
:func:`resize_frames` gathers the source pixels instead: the same values without the products.)

Modes, for output index i (0-based) along an axis, scale s = n_in / n_out:

- ``"nearest"``: input index min(floor(i * s), n_in - 1), with i * s computed in float32 as torch's
  CPU/CUDA kernels do (its ``nearest``, not ``nearest-exact``).
- ``"bilinear"``: source coordinate c = max((i + 0.5) * s - 0.5, 0); the two neighbours floor(c) and
  floor(c) + 1 (the last index repeats at the border) weighted by 1 - frac(c) and frac(c). Here c is
  exact: c = ((2i + 1) * n_in - n_out) / (2 n_out), so the weights are integers over d = 2 n_out.
  Torch computes c in float32, so it may differ from this exact value by a few ulps.
- ``"area"``: the mean of inputs floor(i * s) .. ceil((i + 1) * s) - 1, i.e. adaptive average
  pooling (torch's ``mode="area"``); for an integer factor, the mean of each block.
"""

from __future__ import annotations

import numpy as np

RESIZE_MODES = ("area", "bilinear", "nearest")


def nearest_source(n_in: int, n_out: int) -> np.ndarray:
    """Input index int64 [n_out] that each output index reads in ``"nearest"`` mode: min(floor(i * s), n_in - 1),
    s = n_in / n_out, with i * s in float32 as torch computes it (integer arithmetic i * n_in // n_out differs,
    e.g. for 70 -> 240 and 24 -> 304)."""
    scale = np.float32(n_in) / np.float32(n_out)
    out = np.arange(n_out, dtype=np.int64)
    return np.minimum(np.floor(out.astype(np.float32) * scale).astype(np.int64), n_in - 1)


def resize_weights(n_in: int, n_out: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer weights of a 1-D resize: output[i] = sum_j weights[i, j] * input[j] / denominators[i].

    Args:
        n_in, n_out: input and output lengths, >= 1.
        mode: ``"nearest"``, ``"bilinear"`` or ``"area"`` (see the module docstring).

    Returns:
        (weights int64 [n_out, n_in], denominators int64 [n_out]).
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize_weights: unknown mode {mode!r}; expected one of {list(RESIZE_MODES)}")
    out = np.arange(n_out, dtype=np.int64)
    weights = np.zeros((n_out, n_in), dtype=np.int64)
    if mode == "nearest":
        weights[out, nearest_source(n_in, n_out)] = 1
        return weights, np.ones(n_out, dtype=np.int64)
    if mode == "bilinear":
        denominator = 2 * n_out
        numerator = np.maximum((2 * out + 1) * n_in - n_out, 0)       # source coordinate * denominator
        low, frac = numerator // denominator, numerator % denominator
        high = np.minimum(low + 1, n_in - 1)
        np.add.at(weights, (out, low), denominator - frac)
        np.add.at(weights, (out, high), frac)                       # high == low at the border: weights add up
        return weights, np.full(n_out, denominator, dtype=np.int64)
    start = out * n_in // n_out
    end = -(-(out + 1) * n_in // n_out)
    columns = np.arange(n_in)
    weights[(columns >= start[:, None]) & (columns < end[:, None])] = 1
    return weights, end - start


def resize_frames(frames: np.ndarray, size: tuple[int, int], *, mode: str) -> np.ndarray:
    """Resize the last two axes of ``frames`` to ``size`` (see the module docstring for the modes).

    Args:
        frames: [..., H, W], any real dtype (typically float32 [T, C, H, W]).
        size: (H', W') in pixels.
        mode: ``"area"``, ``"bilinear"`` or ``"nearest"``.

    Returns:
        float32 [..., H', W'].

    Example:
        >>> import numpy as np
        >>> frames = np.arange(4, dtype=np.float32).reshape(1, 2, 2)
        >>> resize_frames(frames, (1, 1), mode="area").tolist()
        [[[1.5]]]
        >>> resize_frames(frames, (2, 4), mode="nearest").tolist()
        [[[0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0]]]
    """
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"resize_frames: size is {size!r}; expected (H, W) with positive ints")
    if frames.ndim < 2:
        raise ValueError(f"resize_frames: frames have shape {frames.shape}; expected [..., H, W]")
    if mode == "nearest":                 # a gather: the weighted sum with one weight 1 per output, without the matmul
        rows = nearest_source(frames.shape[-2], int(size[0]))
        cols = nearest_source(frames.shape[-1], int(size[1]))
        return frames[..., rows[:, None], cols[None, :]].astype(np.float32)
    rows, row_den = resize_weights(frames.shape[-2], int(size[0]), mode)
    cols, col_den = resize_weights(frames.shape[-1], int(size[1]), mode)
    summed = rows.astype(np.float64) @ frames.astype(np.float64) @ cols.T.astype(np.float64)   # [..., H', W']
    return (summed / np.outer(row_den, col_den)).astype(np.float32)
