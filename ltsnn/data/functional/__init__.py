"""Numpy-only event ops (no torch): each takes and returns plain arrays."""

from ltsnn.data.functional.augment import crop_frames, cutout_frames, flip_frames, roll_frames, rotate_frames, shear_frames
from ltsnn.data.functional.boxes import clip_boxes, crop_boxes, flip_boxes, scale_boxes
from ltsnn.data.functional.colour import ltsnn_colour_frames
from ltsnn.data.functional.event_ops import crop_events, flip_events, shift_pixels, shift_times
from ltsnn.data.functional.frames import frame_max_normalise, to_frames
from ltsnn.data.functional.resize import resize_frames
from ltsnn.data.functional.voxel import to_voxel_grid

__all__ = ["to_frames", "frame_max_normalise", "to_voxel_grid", "ltsnn_colour_frames", "resize_frames",
           "flip_frames", "roll_frames", "rotate_frames", "shear_frames", "cutout_frames", "crop_frames",
           "flip_events", "shift_times", "shift_pixels", "crop_events", "flip_boxes", "crop_boxes", "scale_boxes",
           "clip_boxes"]
