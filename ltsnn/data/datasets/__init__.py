"""Event data sets: ``create_dataset(name, split=..., ...)``, ``list_datasets()``.

Importing this package (which imports torch) registers the built-in data sets.
"""

from ltsnn.data.datasets import ndigits, nmnist_small  # noqa: F401  (register the data sets)
from ltsnn.data.datasets.registry import DATASETS, SPLITS, create_dataset, list_datasets, register_dataset
from ltsnn.data.datasets.split import stratified_split

__all__ = ["DATASETS", "SPLITS", "create_dataset", "list_datasets", "register_dataset", "stratified_split"]
