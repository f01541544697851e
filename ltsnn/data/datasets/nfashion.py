"""N-Fashion: Fashion-MNIST recorded by the saccade emulator the way N-MNIST was, and its static twin.

Fashion-MNIST (Xiao, Rasul and Vollgraf 2017, arXiv:1708.07747; MIT licence): 70,000 28x28
grayscale images of 10 kinds of clothing, official split 60,000 train / 10,000 test. Debian ships it
(``apt-get install dataset-fashion-mnist``) as the four IDX files under :data:`DEBIAN_FOLDER`;
``root`` may name any folder holding the same files, gzip-compressed or not.

``nfashion``: each image is recorded on a 34x34 sensor in three saccades, with the sensor effects
calibrated on real N-MNIST (:data:`~ltsnn.data.simulate.NMNIST_SENSOR`; see
:mod:`ltsnn.data.datasets.images` for seeding, chunks and the cache). ``fashion_static``: the
same images as static frames repeated over T (direct encoding), for ANN / QCFS and LM-HT runs.
Both take ``train_subset`` (a stratified, seeded subset of the training split); the test split is
always the full 10,000.

Example (needs the Debian package):
    >>> from ltsnn.data import create_dataset
    >>> test = create_dataset("fashion_static", split="test", n_time_bins=2)  # doctest: +SKIP
    >>> len(test), tuple(test[0][0].shape), test.classes[9]                   # doctest: +SKIP
    (10000, (2, 1, 28, 28), 'ankle boot')
"""

from __future__ import annotations

import os
from pathlib import Path

from ltsnn.data.datasets.frames import FrameDataset
from ltsnn.data.datasets.images import StaticImages, emulated_dataset, emulator_settings, load_image_dataset
from ltsnn.data.datasets.layout import require_dir
from ltsnn.data.datasets.registry import register_dataset

DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
FILES = ("train-images-idx3-ubyte[.gz]", "train-labels-idx1-ubyte[.gz]", "t10k-images-idx3-ubyte[.gz]",
         "t10k-labels-idx1-ubyte[.gz]")
_MISSING = (f"expected the Fashion-MNIST IDX files {', '.join(FILES)}: install the Debian package "
            f"dataset-fashion-mnist (apt-get install dataset-fashion-mnist, files in {DEBIAN_FOLDER}) or set "
            f"data.root to a folder holding them")


def _load(dataset: str, root: str | os.PathLike | None, split: str, train_subset: int | None, seed: int):
    folder = require_dir(dataset, Path(root) if root is not None else DEBIAN_FOLDER, _MISSING)
    return load_image_dataset(dataset, folder, split, train_subset=train_subset, seed=seed, missing=_MISSING,
                              classes=CLASSES)


@register_dataset("nfashion")
def nfashion(*, split: str, root: str | os.PathLike | None, n_time_bins: int, bin_by: str, seed: int,
             cache_dir: str | os.PathLike | None = None, num_workers: int = 0, progress: bool = False,
             train_subset: int | None = None, **frame_options) -> FrameDataset:
    """N-Fashion: Fashion-MNIST through the N-MNIST-calibrated saccade emulator, 34x34, 60k / 10k, 10 classes."""
    images, labels, classes = _load("nfashion", root, split, train_subset, seed)
    return emulated_dataset(dataset="nfashion", split=split, images=images, labels=labels, classes=classes,
                            settings=emulator_settings(images.shape[1:]), n_time_bins=n_time_bins, bin_by=bin_by,
                            frame_options=frame_options, cache_dir=cache_dir, num_workers=num_workers,
                            progress=progress)


@register_dataset("fashion_static")
def fashion_static(*, split: str, root: str | os.PathLike | None, n_time_bins: int, bin_by: str, seed: int,
                   train_subset: int | None = None) -> StaticImages:
    """Fashion-MNIST as static 28x28 frames repeated over T (direct encoding), 60k / 10k, 10 classes."""
    images, labels, classes = _load("fashion_static", root, split, train_subset, seed)
    return StaticImages(images, labels, classes=classes, n_time_bins=n_time_bins)
