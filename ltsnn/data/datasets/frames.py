"""A Dataset of frames computed once from a list of recordings."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ltsnn.data.functional import to_frames


class FrameDataset(Dataset):
    """Items (frames float32 [T, 2, H, W], label int) from frames held compactly in memory.

    Attributes:
        num_classes: number of classes.
        in_channels: 2 (OFF, ON).
        input_size: (H, W) in pixels.
        classes: class names, indexed by label.
    """

    def __init__(self, recordings: Sequence[np.ndarray], labels: np.ndarray, *, classes: Sequence[str],
                 sensor_size: tuple[int, int], n_time_bins: int, bin_by: str, binary: bool):
        if len(recordings) != len(labels):
            raise ValueError(f"FrameDataset: {len(recordings)} recordings but {len(labels)} labels; expected equal counts")
        # A bin never holds more events than its recording, so this dtype cannot overflow.
        longest = max((len(e) for e in recordings), default=0)
        dtype = np.uint8 if binary else np.min_scalar_type(longest)
        width, height = sensor_size
        self.frames = np.empty((len(recordings), n_time_bins, 2, height, width), dtype=dtype)   # [N, T, 2, H, W]
        for i, events in enumerate(recordings):
            self.frames[i] = to_frames(events, sensor_size=sensor_size, n_time_bins=n_time_bins, bin_by=bin_by,
                                       binary=binary)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = tuple(classes)
        self.num_classes = len(self.classes)
        self.in_channels = 2
        self.input_size = (height, width)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.frames[index].astype(np.float32)), int(self.labels[index])
