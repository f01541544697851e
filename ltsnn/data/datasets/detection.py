"""Detection items: frames with box targets, their collate, and a data set of frames held in memory.

An item is ``(frames float32 [T, C, H, W], target)`` with ``target = {"boxes": float32 [N, 4] (x_left, y_top,
w, h) px of the input frame, "labels": int64 [N], "t_us": int, "recording": int}``: ``t_us`` is the label
instant in the recording's clock and ``recording`` the index of the recording it came from, for the
evaluation's time matching (detection spec §4). :func:`collate_detection` stacks the frames and keeps the
targets as a list. Detection data sets carry ``task = "detection"``, which is how the CLI picks the detection
task, and ``collate_fn = collate_detection``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ltsnn.data.transforms import Transform, TransformLike, as_transform, rng_for

Target = dict[str, Any]


def collate_detection(batch: Sequence[tuple[torch.Tensor, Target]]) -> tuple[torch.Tensor, list[Target]]:
    """``[(frames [T, C, H, W], target), ...]`` -> ``(frames [B, T, C, H, W], [target, ...])``."""
    return torch.stack([frames for frames, _ in batch]), [target for _, target in batch]


class DetectionFrameDataset(Dataset):
    """Frames held in memory with their box targets (see the module docstring for the item layout).

    A training augmentation set by :meth:`set_augment` (box-aware frame transforms of
    :mod:`ltsnn.data.transforms`, e.g. ``frames_flip``) is applied to every item with the generator
    ``rng_for(seed, epoch, index)``: the loop calls :meth:`set_epoch` before each epoch, so an item's
    augmentation depends on (seed, epoch, index) only.

    Attributes:
        task: ``"detection"``. classes: class names by label. num_classes, in_channels.
        input_size: (H, W) of the frames. sensor_size: (W, H) of the recording, where the evaluation
            measures boxes (predictions are scaled back to it).
    """

    task = "detection"

    def __init__(self, frames: np.ndarray, boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray], *,
                 classes: Sequence[str], sensor_size: tuple[int, int], times_us: Sequence[int],
                 recordings: Sequence[int]):
        n = len(frames)
        for name, values in (("boxes", boxes), ("labels", labels), ("times_us", times_us),
                             ("recordings", recordings)):
            if len(values) != n:
                raise ValueError(f"DetectionFrameDataset: {len(values)} {name} for {n} samples; expected equal counts")
        for i, (b, k) in enumerate(zip(boxes, labels)):
            if b.ndim != 2 or b.shape[1] != 4 or k.shape != (b.shape[0],):
                raise ValueError(f"DetectionFrameDataset: sample {i} has boxes {b.shape} and labels {k.shape}; "
                                 f"expected [N, 4] and [N]")
        self.frames = frames                                        # [N, T, C, H, W]
        self.boxes = [np.asarray(b, dtype=np.float32) for b in boxes]
        self.labels = [np.asarray(k, dtype=np.int64) for k in labels]
        self.times_us = [int(t) for t in times_us]
        self.recordings = [int(r) for r in recordings]
        self.classes = tuple(classes)
        self.num_classes = len(self.classes)
        self.in_channels = int(frames.shape[2])
        self.input_size = (int(frames.shape[3]), int(frames.shape[4]))
        self.sensor_size = tuple(int(s) for s in sensor_size)
        self.augment: Transform | None = None
        self.augment_seed = self.epoch = 0

    collate_fn = staticmethod(collate_detection)

    def set_augment(self, transform: TransformLike, *, seed: int) -> None:
        """Augment every item with ``transform`` (box-aware: ``transform.with_boxes``), draws seeded by ``seed``."""
        self.augment, self.augment_seed = as_transform(transform), seed      # a plain callable: see as_transform

    def set_epoch(self, epoch: int) -> None:
        """The (0-based) epoch whose augmentation the next items get."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Target]:
        frames, boxes, labels = self.frames[index].astype(np.float32), self.boxes[index], self.labels[index]
        if self.augment is not None:
            frames, boxes, labels, _ = self.augment.with_boxes(frames, boxes, labels,
                                                               rng_for(self.augment_seed, self.epoch, index))
        target = {"boxes": torch.from_numpy(np.asarray(boxes, dtype=np.float32)),
                  "labels": torch.from_numpy(np.asarray(labels, dtype=np.int64)),
                  "t_us": self.times_us[index], "recording": self.recordings[index]}
        return torch.from_numpy(np.ascontiguousarray(frames)), target
