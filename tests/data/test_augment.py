"""Frame, event and box ops of ltsnn.data.functional: exact cases worked by hand and library oracles."""

import numpy as np
import pytest
import torch

from ltsnn.data import make_events
from ltsnn.data.functional import (crop_boxes, crop_events, crop_frames, cutout_frames, flip_boxes, flip_events,
                                   flip_frames, roll_frames, rotate_frames, scale_boxes, shear_frames, shift_pixels,
                                   shift_times, to_frames)

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("size", [5, 6])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotate_by_multiples_of_90_is_rot90(size, k):
    frames = RNG.integers(0, 2, (2, 3, size, size)).astype(np.float32)
    for interpolation in ("nearest", "bilinear"):
        got = rotate_frames(frames, 90.0 * k, interpolation=interpolation)
        np.testing.assert_allclose(got, np.rot90(frames, k, axes=(-2, -1)), atol=1e-12)


def test_rotate_zero_fills_the_corners():
    frames = np.ones((1, 5, 5), dtype=np.float32)
    got = rotate_frames(frames, 45.0)
    # Corner (0, 0) is 2.83 px from the centre along a diagonal; rotated back it lands at (2 - 2.83, 2): outside.
    assert got[0, 0, 0] == 0 and got[0, 2, 2] == 1 and set(np.unique(got)) == {0.0, 1.0}


def test_shear_by_hand():
    # 45°: pixel (x, y) moves to (x - (y - 1), y) on a 3x3 image: row 0 moves right by 1, row 2 left by 1.
    frames = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3)
    expected = np.array([[[0, 1, 2], [4, 5, 6], [8, 9, 0]]], dtype=np.float32)
    np.testing.assert_array_equal(shear_frames(frames, 45.0), expected)
    np.testing.assert_array_equal(shear_frames(frames, -45.0), [[[2, 3, 0], [4, 5, 6], [0, 7, 8]]])


def test_bilinear_rotation_of_a_constant_stays_constant_inside():
    got = rotate_frames(np.full((1, 9, 9), 2.0), 17.0, interpolation="bilinear")
    np.testing.assert_allclose(got[0, 3:6, 3:6], 2.0)


def test_roll_is_torch_roll():
    frames = RNG.random((2, 2, 5, 7)).astype(np.float32)
    expected = torch.roll(torch.from_numpy(frames), shifts=(3, -2), dims=(2, 3)).numpy()
    np.testing.assert_array_equal(roll_frames(frames, 3, -2), expected)


def test_flip_frames():
    frames = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    np.testing.assert_array_equal(flip_frames(frames, "lr"), [[[2, 1, 0], [5, 4, 3]]])
    np.testing.assert_array_equal(flip_frames(frames, "ud"), [[[3, 4, 5], [0, 1, 2]]])
    with pytest.raises(ValueError, match="unknown axis 'x'"):
        flip_frames(frames, "x")


def test_cutout_and_crop():
    frames = np.ones((2, 4, 5), dtype=np.float32)
    got = cutout_frames(frames, -1, 3, 3, 4)           # rows -1..1 and columns 3..6: only rows 0-1, columns 3-4
    assert got.sum() == 2 * (20 - 4) and not got[:, :2, 3:].any() and frames.all()
    patch = crop_frames(np.arange(20).reshape(4, 5), 1, 2, 2, 3)
    np.testing.assert_array_equal(patch, [[7, 8, 9], [12, 13, 14]])
    with pytest.raises(ValueError, match="does not lie inside frames of \\(H, W\\) = \\(4, 5\\)"):
        crop_frames(frames, 2, 0, 3, 5)


EVENTS = make_events(t=[0, 10, 20, 30], x=[0, 4, 2, 1], y=[0, 1, 2, 0], p=[1, 0, 1, 0])


def test_flip_events_commutes_with_to_frames():
    for axis, frame_axis in (("lr", -1), ("ud", -2)):
        flipped = flip_events(EVENTS, sensor_size=(5, 3), axis=axis)
        np.testing.assert_array_equal(to_frames(flipped, sensor_size=(5, 3), n_time_bins=2),
                                      np.flip(to_frames(EVENTS, sensor_size=(5, 3), n_time_bins=2), frame_axis))
    with pytest.raises(ValueError, match="event 1 has x = 4; expected x < 4"):
        flip_events(EVENTS, sensor_size=(4, 3), axis="lr")


def test_shift_times_resorts_stably():
    got = shift_times(EVENTS, np.array([25, 0, 0, -30]))     # t becomes 25, 10, 20, 0
    assert got["t"].tolist() == [0, 10, 20, 25] and got["x"].tolist() == [1, 4, 2, 0]
    ties = shift_times(EVENTS, np.array([10, 0, -10, -20]))  # all at t = 10: file order kept
    assert ties["t"].tolist() == [10] * 4 and ties["x"].tolist() == [0, 4, 2, 1]


def test_shift_pixels_drop_or_clip():
    dx, dy = np.array([-1, 1, 0, 0]), np.array([0, 0, 1, 0])
    dropped = shift_pixels(EVENTS, dx, dy, sensor_size=(5, 3), out_of_bounds="drop")
    # event 0 -> x = -1, event 1 -> x = 5 (outside a width of 5), event 2 -> y = 3 (outside a height of 3)
    assert dropped["t"].tolist() == [30] and dropped["x"].tolist() == [1]
    clipped = shift_pixels(EVENTS, dx, dy, sensor_size=(5, 3), out_of_bounds="clip")
    assert clipped["x"].tolist() == [0, 4, 2, 1] and clipped["y"].tolist() == [0, 1, 2, 0]
    with pytest.raises(ValueError, match="unknown out_of_bounds 'wrap'"):
        shift_pixels(EVENTS, dx, dy, sensor_size=(5, 3), out_of_bounds="wrap")


def test_crop_events_matches_crop_frames():
    cropped = crop_events(EVENTS, top=0, left=1, height=2, width=4)
    assert cropped["x"].tolist() == [3, 0] and cropped["t"].tolist() == [10, 30]
    frames = to_frames(EVENTS, sensor_size=(5, 3), n_time_bins=1, bin_by="count")
    np.testing.assert_array_equal(to_frames(cropped, sensor_size=(4, 2), n_time_bins=1, bin_by="count"),
                                  crop_frames(frames, 0, 1, 2, 4))


BOXES = np.array([[1.0, 1.0, 2.0, 3.0], [6.0, 0.5, 3.0, 2.0], [0.0, 0.0, 1.5, 1.5]])


def test_flip_boxes_matches_flipped_pixels():
    # A box covering pixels x in [1, 3) of a width-10 image covers [7, 9) after a left-right flip.
    np.testing.assert_array_equal(flip_boxes(BOXES, size=(8, 10), axis="lr")[0], [7.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(flip_boxes(BOXES, size=(8, 10), axis="ud")[0], [1.0, 4.0, 2.0, 3.0])
    np.testing.assert_array_equal(flip_boxes(flip_boxes(BOXES, size=(8, 10), axis="lr"), size=(8, 10), axis="lr"), BOXES)


def test_crop_boxes_cuts_and_removes_small_ones():
    # Crop rows [1, 5), columns [1, 8): box 0 keeps 2x3; box 1 is cut to x [6, 8), y [1, 2.5): 2 x 1.5;
    # box 2 is cut to 0.5 x 0.5 and removed (min_size 1).
    got, kept = crop_boxes(BOXES, top=1, left=1, height=4, width=7, min_size=1.0)
    assert kept.tolist() == [0, 1]
    np.testing.assert_allclose(got, [[0.0, 0.0, 2.0, 3.0], [5.0, 0.0, 2.0, 1.5]])
    with pytest.raises(ValueError, match="min_size is 0"):
        crop_boxes(BOXES, top=0, left=0, height=4, width=4, min_size=0)
    with pytest.raises(ValueError, match=r"boxes have shape \(4,\)"):
        crop_boxes(np.zeros(4), top=0, left=0, height=4, width=4, min_size=1)


def test_scale_boxes():
    # (H, W) = (4, 3) -> (2, 6): scale_y = 0.5, scale_x = 2.0
    np.testing.assert_array_equal(scale_boxes(BOXES[:1], from_size=(4, 3), to_size=(2, 6)), [[2.0, 0.5, 4.0, 1.5]])
