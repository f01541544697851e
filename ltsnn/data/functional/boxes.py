"""Move bounding boxes with the pixels: flip, crop, scale, clip to the frame.

Boxes are float [N, 4] (x_left, y_top, w, h) in pixels, with labels [N] beside them (detection.md
§1.3 fields x, y, w, h). A pixel (x, y) covers [x, x + 1) x [y, y + 1), so a box edge at x maps
the way pixel edges do.

Example:
    >>> import numpy as np
    >>> boxes = np.array([[10.0, 20.0, 30.0, 40.0]])
    >>> scale_boxes(boxes, from_size=(240, 304), to_size=(120, 152)).tolist()
    [[5.0, 10.0, 15.0, 20.0]]
    >>> flip_boxes(boxes, size=(240, 304), axis="lr").tolist()
    [[264.0, 20.0, 30.0, 40.0]]
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


def scale_boxes(boxes: np.ndarray, *, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Boxes of a (H, W) image resized to ``to_size`` = (H', W'): x and w scale by W'/W, y and h by H'/H.

    Args:
        boxes: [N, 4] (x_left, y_top, w, h), pixels of the (H, W) image.
        from_size, to_size: (H, W) and (H', W') in pixels.

    Returns:
        float64 [N, 4] in pixels of the resized image.
    """
    scale_y, scale_x = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return as_boxes(boxes, "scale_boxes") * np.array([scale_x, scale_y, scale_x, scale_y])


def clip_boxes(boxes, *, height: int, width: int):
    """Clip the corners of boxes to the frame, as RVT crops Prophesee labels (detection spec §4 step 1).

    Left/right are clamped to [0, width − 1] and top/bottom to [0, height − 1] (pixel indices, not
    pixel edges: RVT's convention); boxes entirely outside end up with zero width or height, which
    callers drop explicitly. Works on numpy arrays and torch tensors alike (the detection decoder
    clips tensors), with the input's type and dtype.

    Args:
        boxes: [..., 4] (x_left, y_top, w, h), pixels.
        height, width: the frame's size in pixels.

    Returns:
        [..., 4] (x_left, y_top, w, h), a new array or tensor.

    Example:
        >>> import numpy as np
        >>> clip_boxes(np.array([[-10.0, 5.0, 30.0, 10.0]]), height=240, width=304).tolist()
        [[0.0, 5.0, 20.0, 10.0]]
    """
    x1 = boxes[..., 0].clip(0, width - 1)
    y1 = boxes[..., 1].clip(0, height - 1)
    x2 = (boxes[..., 0] + boxes[..., 2]).clip(0, width - 1)
    y2 = (boxes[..., 1] + boxes[..., 3]).clip(0, height - 1)
    out = boxes * 1                                 # a new array (or tensor) of the input's type and dtype
    out[..., 0], out[..., 1], out[..., 2], out[..., 3] = x1, y1, x2 - x1, y2 - y1
    return out
