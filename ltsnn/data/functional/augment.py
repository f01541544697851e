"""Geometric and masking ops on frames [..., H, W] (numpy), with every parameter explicit (no randomness).

Coordinates: x = column, y = row, origin at the top-left pixel centre; the image centre is
c = ((W - 1) / 2, (H - 1) / 2) in these pixel-index coordinates, which is torchvision's centre of
rotation too. Warps map each output pixel back to a source point and sample it; source points
outside the image read 0 (zero fill), nothing is clipped to the border.
"""

from __future__ import annotations

import math

import numpy as np

FLIP_AXES = {"lr": -1, "ud": -2}
INTERPOLATIONS = ("nearest", "bilinear")


def flip_frames(frames: np.ndarray, axis: str) -> np.ndarray:
    """Mirror frames: ``"lr"`` reverses columns (x -> W - 1 - x), ``"ud"`` reverses rows. Returns a copy."""
    if axis not in FLIP_AXES:
        raise ValueError(f"flip_frames: unknown axis {axis!r}; expected one of {list(FLIP_AXES)}")
    return np.flip(frames, axis=FLIP_AXES[axis]).copy()


def roll_frames(frames: np.ndarray, shift_y: int, shift_x: int) -> np.ndarray:
    """Circular shift by (shift_y, shift_x) pixels (torch.roll semantics): pixel (y, x) moves to
    ((y + shift_y) mod H, (x + shift_x) mod W); what leaves one edge re-enters at the other."""
    return np.roll(frames, shift=(int(shift_y), int(shift_x)), axis=(-2, -1))


def warp_frames(frames: np.ndarray, inverse: np.ndarray, *, interpolation: str = "nearest") -> np.ndarray:
    """Sample frames at source points given by a 2x2 linear map about the image centre.

    Output pixel (x, y) reads the input at c + inverse @ ((x, y) - c), with zero outside the image.

    Args:
        frames: [..., H, W].
        inverse: float [2, 2], maps output offsets (dx, dy) from the centre to source offsets.
        interpolation: ``"nearest"`` (source point rounded half to even, as torch's ``grid_sample``;
            keeps binary frames binary) or ``"bilinear"`` (the four neighbours, zero outside).

    Returns:
        [..., H, W], the dtype of ``frames``.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"warp_frames: unknown interpolation {interpolation!r}; expected one of {list(INTERPOLATIONS)}")
    height, width = frames.shape[-2:]
    cy, cx = (height - 1) / 2, (width - 1) / 2
    out_y, out_x = np.meshgrid(np.arange(height) - cy, np.arange(width) - cx, indexing="ij")   # [H, W] offsets
    src_x = inverse[0, 0] * out_x + inverse[0, 1] * out_y + cx
    src_y = inverse[1, 0] * out_x + inverse[1, 1] * out_y + cy
    flat = frames.reshape(-1, height * width)                                                  # [B, H*W]
    if interpolation == "nearest":
        corners = [(np.rint(src_y), np.rint(src_x), None)]
        out = np.zeros_like(flat)
    else:
        y0, x0 = np.floor(src_y), np.floor(src_x)
        fy, fx = src_y - y0, src_x - x0
        corners = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                   (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)]
        out = np.zeros(flat.shape, dtype=np.float64)
    for sy, sx, weight in corners:
        inside = (sy >= 0) & (sy <= height - 1) & (sx >= 0) & (sx <= width - 1)            # [H, W]
        source = (sy[inside] * width + sx[inside]).astype(np.int64)
        if weight is None:
            out[:, inside.ravel()] = flat[:, source]
        else:
            out[:, inside.ravel()] += weight[inside] * flat[:, source]
    return out.astype(frames.dtype).reshape(frames.shape)


def rotate_frames(frames: np.ndarray, angle_deg: float, *, interpolation: str = "nearest") -> np.ndarray:
    """Rotate about the image centre by ``angle_deg``, counter-clockwise as seen on screen (y down),
    as torchvision's ``rotate``; zero fill. 90° on a square image equals ``np.rot90(frames, 1, (-2, -1))``."""
    a = math.radians(angle_deg)
    # Forward map on offsets (dx, dy): (cos a dx + sin a dy, -sin a dx + cos a dy); this is its inverse.
    inverse = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return warp_frames(frames, inverse, interpolation=interpolation)


def shear_frames(frames: np.ndarray, angle_deg: float, *, interpolation: str = "nearest") -> np.ndarray:
    """Shear along x by ``angle_deg`` about the centre row, with torchvision's sign (``affine(shear=(a, 0))``):
    pixel (x, y) moves to (x - tan(angle) * (y - cy), y), so for a positive angle rows below the
    centre move left; zero fill."""
    inverse = np.array([[1.0, math.tan(math.radians(angle_deg))], [0.0, 1.0]])
    return warp_frames(frames, inverse, interpolation=interpolation)


def cutout_frames(frames: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """Zero rows [top, top + height) and columns [left, left + width) of every frame (NDA / Cutout).

    The rectangle may extend past the image: only its part inside is zeroed. Returns a copy.
    """
    out = frames.copy()
    out[..., max(top, 0):max(top + height, 0), max(left, 0):max(left + width, 0)] = 0
    return out


def crop_frames(frames: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """Rows [top, top + height) and columns [left, left + width) of every frame (a copy).

    Raises:
        ValueError: when the crop does not lie inside the frames.
    """
    frame_h, frame_w = frames.shape[-2:]
    if not (0 <= top and 0 <= left and height >= 1 and width >= 1 and top + height <= frame_h
            and left + width <= frame_w):
        raise ValueError(f"crop_frames: crop (top, left, height, width) = {(top, left, height, width)} does not lie "
                         f"inside frames of (H, W) = {(frame_h, frame_w)}")
    return frames[..., top:top + height, left:left + width].copy()
