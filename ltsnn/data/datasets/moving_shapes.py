"""Detection data sets: frames and box targets, their collate, and the built-in MovingShapes-DVS set.

An item is ``(frames float32 [T, C, H, W], target)`` with ``target = {"boxes": float32 [N, 4] (x_left, y_top,
w, h) px of the input frame, "labels": int64 [N], "t_us": int, "recording": int}``: ``t_us`` is the label
instant in the recording's clock and ``recording`` the index of the recording it came from, for the
evaluation's time matching (spec §4). :func:`collate_detection` stacks the frames and keeps the targets as
a list. Data sets carry ``task = "detection"``, which is how the CLI picks the detection task.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ltsnn.data.datasets.registry import register_dataset
from ltsnn.data.functional import to_frames
from ltsnn.data.transforms import Transform, rng_for
from ltsnn.data import shapes as synthetic
from ltsnn.data.functional.window import window_frames

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

    def set_augment(self, transform: Transform, *, seed: int) -> None:
        """Augment every item with ``transform`` (box-aware: ``transform.with_boxes``), draws seeded by ``seed``."""
        self.augment, self.augment_seed = transform, seed

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


# ---------------------------------------------------------------------------------------------- MovingShapes-DVS

# The split seeds of spec §5.1 (data seed 0); data seed s shifts both by 100·s.
SHAPES_SPLIT_SEEDS = {"train": 11, "test": 22}
SHAPES_SIZES = {"train": 2000, "test": 400}


def shapes_frames(sample: synthetic.Sample, params: synthetic.ShapesParams, *, n_time_bins: int, bin_by: str,
                  binary: bool) -> np.ndarray:
    """The input frames [T, 2, H, W] of one sample: its events of [t_L − window, t_L), binned by equal
    durations of the window (``bin_by="duration"``) or equal event counts (``"count"``)."""
    t_start = params.label_us - params.window_us
    e = sample.events
    window = e[(e["t"] >= t_start) & (e["t"] < params.label_us)]
    if bin_by == "duration":
        return window_frames(window, t_start=t_start, t_end=params.label_us, n_time_bins=n_time_bins,
                             sensor_size=params.sensor_size, binary=binary)
    return to_frames(window, sensor_size=params.sensor_size, n_time_bins=n_time_bins, bin_by=bin_by, binary=binary)


@register_dataset("moving_shapes")
def moving_shapes(*, split: str, root: str | None, n_time_bins: int, bin_by: str, seed: int,
                  cache_dir: str | None = None, binary: bool = True, train_size: int = SHAPES_SIZES["train"],
                  test_size: int = SHAPES_SIZES["test"]) -> DetectionFrameDataset:
    """MovingShapes-DVS: synthetic moving rectangles (car) and ellipses (pedestrian), exact boxes, 48x64.

    Generated on first use and kept in ``<cache_dir>/moving_shapes/`` (in memory only if ``cache_dir`` is None);
    ``root`` is unused. Data seed s draws the splits with seeds 11 + 100 s (train) and 22 + 100 s (test).
    """
    params = synthetic.ShapesParams()
    size = train_size if split == "train" else test_size
    if size < 1:
        raise ValueError(f"moving_shapes: {split}_size is {size}; expected >= 1")
    data = synthetic.load_or_generate(params, seed=SHAPES_SPLIT_SEEDS[split] + 100 * seed, size=size,
                                      cache_dir=cache_dir)
    samples = [data.sample(i) for i in range(size)]
    frames = np.stack([shapes_frames(s, params, n_time_bins=n_time_bins, bin_by=bin_by, binary=binary)
                       for s in samples]).astype(np.uint8 if binary else np.uint16)
    return DetectionFrameDataset(frames, [s.boxes for s in samples], [s.labels for s in samples],
                                 classes=synthetic.CLASSES, sensor_size=params.sensor_size,
                                 times_us=[params.label_us] * size, recordings=range(size))
