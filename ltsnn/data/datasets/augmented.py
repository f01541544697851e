"""Training-time augmentation of a frame data set, applied per item after the frame cache."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ltsnn.data.transforms import TransformLike, as_transform, rng_for


class AugmentedFrames(Dataset):
    """Items ``(transform(frames, rng_for(seed, epoch, index)), label)`` of a frame data set.

    The cache (or the in-memory frames) holds un-augmented frames; each item is transformed when it
    is read, with a generator that depends only on (seed, epoch, index), so the draws do not depend
    on the worker count or the loading order. Call :meth:`set_epoch` at the start of every epoch
    (``ltsnn.engine.train_loader`` and ``RunData.train_batches`` do); until then the epoch is 0.

    Attributes:
        dataset: the wrapped data set (items (float32 [T, C, H, W], label)).
        num_classes, classes, in_channels: those of ``dataset``.
        input_size: (H, W) of the transformed frames (a crop or resize changes it), from item 0.
    """

    def __init__(self, dataset: Dataset, transform: TransformLike, *, seed: int):
        self.dataset = dataset
        self.transform = as_transform(transform)                # a plain one-argument callable is accepted too
        self.seed = seed
        self.epoch = 0
        self.classes = dataset.classes
        self.num_classes = dataset.num_classes
        probe = self[0][0] if len(dataset) else None           # [T, C, H, W]
        self.in_channels = probe.shape[1] if probe is not None else dataset.in_channels
        self.input_size = tuple(probe.shape[2:]) if probe is not None else dataset.input_size

    def set_epoch(self, epoch: int) -> None:
        """Use the draws of ``epoch`` (an int >= 0) from now on."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        frames, label = self.dataset[index]
        out = self.transform(frames.numpy(), rng_for(self.seed, self.epoch, index))
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)), label
