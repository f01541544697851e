"""N-Cars (Sironi et al. 2018): 100 ms ATIS recordings of cars and of background, from a moving car.

Layout of ``root`` (the N-Cars archives extracted into it)::

    n-cars_train/cars/obj_<nnnnnn>_td.dat    n-cars_train/background/obj_<nnnnnn>_td.dat
    n-cars_test/cars/...                     n-cars_test/background/...

Each ``_td.dat`` is Prophesee DAT v2 (:func:`~ltsnn.data.io.read_dat`), ATIS TD events in a crop of
at most 120x100 pixels. Labels: ``background`` 0, ``cars`` 1 (the folders in alphabetical order,
as tonic and the LT-SNN code number them). The split is the official one: 15,422 train / 8,607 test.
"""

from __future__ import annotations

import os

import numpy as np

from ltsnn.data.datasets.frames import FrameDataset, file_dataset
from ltsnn.data.datasets.layout import class_files, note_count, require_root
from ltsnn.data.datasets.registry import register_dataset
from ltsnn.data.io import read_dat_sample

CLASSES = ("background", "cars")
SENSOR_SIZE = (120, 100)
SPLIT_FOLDERS = {"train": "n-cars_train", "test": "n-cars_test"}
DISTRIBUTED = {"train": 15_422, "test": 8_607}
LAYOUT = ("expected root/n-cars_train/{background,cars}/*_td.dat and root/n-cars_test/{background,cars}/*_td.dat "
          "(the N-Cars archives extracted into root)")


@register_dataset("ncars")
def ncars(*, split: str, root: str | os.PathLike | None, n_time_bins: int, bin_by: str, seed: int,
          cache_dir: str | os.PathLike | None = None, num_workers: int = 0, progress: bool = False,
          **frame_options) -> FrameDataset:
    """N-Cars: 100 ms ATIS samples of cars and background (120x100), official split, 2 classes."""
    folder = require_root("ncars", root, LAYOUT)        # seed is unused: the split is the official one
    files, labels = class_files("ncars", folder / SPLIT_FOLDERS[split], CLASSES, "_td.dat", LAYOUT)
    note_count("ncars", split, len(files), DISTRIBUTED[split])
    return file_dataset(dataset="ncars", split=split, root=folder, paths=files, labels=np.array(labels),
                        classes=CLASSES, sensor_size=SENSOR_SIZE, read=read_dat_sample, n_time_bins=n_time_bins,
                        bin_by=bin_by, frame_options=frame_options, cache_dir=cache_dir, num_workers=num_workers,
                        progress=progress)
