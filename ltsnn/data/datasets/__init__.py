"""Event data sets: ``create_dataset(name, split=..., ...)``, ``list_datasets()``.

Importing this package (which imports torch) registers every data set of ``ltsnn.data``: one module per
data set, detection ones (Gen1 / 1 Mpx, MovingShapes-DVS) included. ``ltsnn.data.create_dataset`` imports
it on first use, so nothing else needs importing first.
"""

# Importing a data set's module registers it.
from ltsnn.data.datasets import (cifar10dvs, dvs_gesture, gen1, images, moving_shapes, ncaltech101,  # noqa: F401
                                 ncars, ndigits, nfashion, nmnist, nmnist_small)
from ltsnn.data.datasets.augmented import AugmentedFrames
from ltsnn.data.datasets.detection import DetectionFrameDataset, collate_detection
from ltsnn.data.datasets.frames import FrameDataset
from ltsnn.data.datasets.registry import DATASETS, SPLITS, create_dataset, list_datasets, register_dataset
from ltsnn.data.datasets.split import ordered_split, stratified_split, torch_random_split

__all__ = ["DATASETS", "SPLITS", "AugmentedFrames", "DetectionFrameDataset", "FrameDataset", "collate_detection",
           "create_dataset", "list_datasets", "ordered_split", "register_dataset", "stratified_split",
           "torch_random_split"]
