"""Numpy-only event ops (no torch): each takes and returns plain arrays."""

from ltsnn.data.functional.frames import to_frames

__all__ = ["to_frames"]
