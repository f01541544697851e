"""Move bounding boxes with the pixels: flip, crop, scale.

Boxes are float [N, 4] (x_left, y_top, w, h) in pixels, with labels [N] beside them (detection.md
§1.3 fields x, y, w, h). A pixel (x, y) covers [x, x + 1) x [y, y + 1), so a box edge at x maps
the way pixel edges do.
"""

from __future__ import annotations

import numpy as np


def as_boxes(boxes, caller: str) -> np.ndarray:
    """``boxes`` as float64 [N, 4]; a ValueError naming ``caller`` for another shape."""
    out = np.asarray(boxes, dtype=np.float64)
    if out.ndim != 2 or out.shape[1] != 4:
        raise ValueError(f"{caller}: boxes have shape {out.shape}; expected [N, 4] (x_left, y_top, w, h)")
    return out


def flip_boxes(boxes: np.ndarray, *, size: tuple[int, int], axis: str) -> np.ndarray:
    """Boxes mirrored with the image: ``"lr"``: x -> W - x - w; ``"ud"``: y -> H - y - h.

    Args:
        boxes: [N, 4] (x_left, y_top, w, h), pixels.
        size: the image's (H, W).
        axis: ``"lr"`` or ``"ud"``.
    """
    out = as_boxes(boxes, "flip_boxes").copy()
    if axis == "lr":
        out[:, 0] = size[1] - out[:, 0] - out[:, 2]
    elif axis == "ud":
        out[:, 1] = size[0] - out[:, 1] - out[:, 3]
    else:
        raise ValueError(f"flip_boxes: unknown axis {axis!r}; expected 'lr' or 'ud'")
    return out


def crop_boxes(boxes: np.ndarray, *, top: float, left: float, height: float, width: float,
               min_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes in the coordinates of a crop, cut to it; boxes left narrower or lower than ``min_size`` are removed.

    Args:
        boxes: [N, 4] (x_left, y_top, w, h), pixels.
        top, left, height, width: the crop rectangle in the original pixels.
        min_size: a kept box has w >= min_size and h >= min_size after the cut (pixels, > 0).

    Returns:
        (boxes [M, 4], kept int64 [M]): the cut boxes and their indices in the input, so that the
        caller keeps ``labels[kept]``.
    """
    if not min_size > 0:
        raise ValueError(f"crop_boxes: min_size is {min_size!r}; expected a positive number of pixels")
    b = as_boxes(boxes, "crop_boxes")
    x0 = np.clip(b[:, 0], left, left + width)
    y0 = np.clip(b[:, 1], top, top + height)
    x1 = np.clip(b[:, 0] + b[:, 2], left, left + width)
    y1 = np.clip(b[:, 1] + b[:, 3], top, top + height)
    out = np.stack([x0 - left, y0 - top, x1 - x0, y1 - y0], axis=1)
    kept = np.flatnonzero((out[:, 2] >= min_size) & (out[:, 3] >= min_size))
    return out[kept], kept


def scale_boxes(boxes: np.ndarray, *, scale_y: float, scale_x: float) -> np.ndarray:
    """Boxes of an image resized by (scale_y, scale_x) = (H' / H, W' / W): every coordinate multiplied."""
    return as_boxes(boxes, "scale_boxes") * np.array([scale_x, scale_y, scale_x, scale_y])
