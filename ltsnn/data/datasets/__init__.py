"""Event data sets: ``create_dataset(name, split=..., ...)``, ``list_datasets()``.

Importing this package (which imports torch) registers the built-in data sets.
"""

from ltsnn.data.datasets import (cifar10dvs, dvs_gesture, gen1, moving_shapes, ncaltech101, ncars, ndigits,  # noqa: F401, E501
                                 nmnist,
                                 nmnist_small)                      # (importing registers the data sets)
from ltsnn.data.datasets.augmented import AugmentedFrames
from ltsnn.data.datasets.frames import FrameDataset
from ltsnn.data.datasets.registry import DATASETS, SPLITS, create_dataset, list_datasets, register_dataset
from ltsnn.data.datasets.split import ordered_split, stratified_split, torch_random_split

__all__ = ["DATASETS", "SPLITS", "AugmentedFrames", "FrameDataset", "create_dataset", "list_datasets", "ordered_split",
           "register_dataset", "stratified_split", "torch_random_split"]
