"""CIFAR10-DVS (Li et al. 2017): 10,000 CIFAR-10 images moved on a monitor in front of a DVS128.

Layout of ``root`` (the ten class archives of the data set extracted into it)::

    airplane/cifar10_airplane_0.aedat ... airplane/cifar10_airplane_999.aedat
    automobile/ ... truck/        (airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck)

Each file is AEDAT 2.0 from a DVS128, read by :func:`~ltsnn.data.io.read_cifar10dvs` (128x128,
SpikingJelly's address and polarity conventions). Labels are the CIFAR-10 class indices (the
alphabetical order of the folders). Splits (``split_rule``):

- ``"first_900"`` (default): per class, the files in the order of their number ``<i>``; the first
  90% (the first 900 of 1,000) train, the rest test. The 9:1 per-class split of TET, LM-HT and DSR.
- ``"ltsnn_random"``: the LT-SNN code's unstratified 90/10 split, ``torch.utils.data.random_split``
  with ``torch.Generator().manual_seed(42)`` over all samples ordered by class then file number
  (:func:`~ltsnn.data.datasets.split.torch_random_split`).

Neither rule uses ``seed``.
"""

from __future__ import annotations

import os
import re

import numpy as np

from ltsnn.data.datasets.frames import FrameDataset, file_dataset
from ltsnn.data.datasets.layout import files_in, note_count, require_root
from ltsnn.data.datasets.registry import register_dataset
from ltsnn.data.datasets.split import ordered_split, torch_random_split
from ltsnn.data.io import read_cifar10dvs_sample

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SENSOR_SIZE = (128, 128)
SPLIT_RULES = ("first_900", "ltsnn_random")
TRAIN_FRACTION = 0.9
LTSNN_SEED = 42
DISTRIBUTED = 10_000
LAYOUT = ("expected root/<class>/cifar10_<class>_<i>.aedat for the 10 classes " + ", ".join(CLASSES)
          + " (the CIFAR10-DVS class archives extracted into root)")


def numbered_files(folder, name: str) -> list:
    """The class folder's ``cifar10_<name>_<i>.aedat`` files in the order of ``<i>``.

    Raises:
        FileNotFoundError: when the folder is missing or has no ``.aedat`` file.
        ValueError: naming a ``.aedat`` file whose name does not follow the pattern.
    """
    pattern = re.compile(rf"cifar10_{re.escape(name)}_(\d+)\.aedat")
    numbered = []
    for path in files_in("cifar10dvs", folder / name, ".aedat", LAYOUT):
        match = pattern.fullmatch(path.name)
        if match is None:
            raise ValueError(f"cifar10dvs: file {path} is not named cifar10_{name}_<i>.aedat; {LAYOUT}")
        numbered.append((int(match[1]), path))
    return [path for _, path in sorted(numbered)]


@register_dataset("cifar10dvs")
def cifar10dvs(*, split: str, root: str | os.PathLike | None, n_time_bins: int, bin_by: str, seed: int,
               cache_dir: str | os.PathLike | None = None, num_workers: int = 0, progress: bool = False,
               split_rule: str = "first_900", **frame_options) -> FrameDataset:
    """CIFAR10-DVS: 10,000 DVS128 recordings of CIFAR-10 images (128x128), 9:1 per class, 10 classes."""
    if split_rule not in SPLIT_RULES:
        raise ValueError(f"cifar10dvs: unknown split_rule {split_rule!r}; expected one of {list(SPLIT_RULES)}")
    folder = require_root("cifar10dvs", root, LAYOUT)
    files, labels = [], []
    for label, name in enumerate(CLASSES):
        found = numbered_files(folder, name)
        files += found
        labels += [label] * len(found)
    labels = np.array(labels, dtype=np.int64)
    note_count("cifar10dvs", "train + test", len(files), DISTRIBUTED)
    if split_rule == "first_900":
        train, test = ordered_split(labels, train_fraction=TRAIN_FRACTION)
    else:
        train, test = torch_random_split(len(files), train_fraction=TRAIN_FRACTION, seed=LTSNN_SEED)
    index = train if split == "train" else test
    return file_dataset(dataset="cifar10dvs", split=split, root=folder, paths=[files[i] for i in index],
                        labels=labels[index], classes=CLASSES, sensor_size=SENSOR_SIZE, read=read_cifar10dvs_sample,
                        n_time_bins=n_time_bins, bin_by=bin_by, frame_options=frame_options, cache_dir=cache_dir,
                        num_workers=num_workers, progress=progress)
