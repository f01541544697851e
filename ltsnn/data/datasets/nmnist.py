"""N-MNIST (Orchard et al. 2015): the 70,000 MNIST digits recorded by an ATIS sensor in three saccades.

Layout of ``root`` (the two archives ``Train.zip`` and ``Test.zip`` extracted into it)::

    Train/0/*.bin ... Train/9/*.bin     60,000 recordings
    Test/0/*.bin  ... Test/9/*.bin      10,000 recordings

Each ``.bin`` is ATIS 40-bit events (:func:`~ltsnn.data.io.read_atis_bin`) on the 34x34 crop. The
split is the official one: ``Train/`` and ``Test/``.
"""

from __future__ import annotations

import os

import numpy as np

from ltsnn.data.datasets.frames import FrameDataset, file_dataset
from ltsnn.data.datasets.layout import class_files, note_count, require_root
from ltsnn.data.datasets.registry import register_dataset
from ltsnn.data.io import NMNIST_SENSOR_SIZE, read_atis_sample

CLASSES = tuple(str(d) for d in range(10))
SPLIT_FOLDERS = {"train": "Train", "test": "Test"}
DISTRIBUTED = {"train": 60_000, "test": 10_000}
LAYOUT = "expected root/Train/<digit>/*.bin and root/Test/<digit>/*.bin for the digits 0-9 (Train.zip and " \
         "Test.zip of N-MNIST extracted into root)"


@register_dataset("nmnist")
def nmnist(*, split: str, root: str | os.PathLike | None, n_time_bins: int, bin_by: str, seed: int,
           cache_dir: str | os.PathLike | None = None, num_workers: int = 0, progress: bool = False,
           **frame_options) -> FrameDataset:
    """N-MNIST: 60,000 / 10,000 ATIS recordings of MNIST digits (34x34), official split, 10 classes."""
    folder = require_root("nmnist", root, LAYOUT)       # seed is unused: the split is the official one
    files, labels = class_files("nmnist", folder / SPLIT_FOLDERS[split], CLASSES, ".bin", LAYOUT)
    note_count("nmnist", split, len(files), DISTRIBUTED[split])
    return file_dataset(dataset="nmnist", split=split, root=folder, paths=files, labels=np.array(labels),
                        classes=CLASSES, sensor_size=NMNIST_SENSOR_SIZE, read=read_atis_sample,
                        n_time_bins=n_time_bins, bin_by=bin_by, frame_options=frame_options, cache_dir=cache_dir,
                        num_workers=num_workers, progress=progress)
