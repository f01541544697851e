"""N-Caltech101 (Orchard et al. 2015): the Caltech101 images recorded by an ATIS sensor in three saccades.

Layout of ``root`` (``Caltech101.zip`` extracted into it; ``Caltech101_annotations`` may sit beside
it and is not read)::

    Caltech101/<class>/image_0001.bin ...    ATIS 40-bit events (:func:`~ltsnn.data.io.read_atis_bin`)

The 101 class folders are the 100 object classes of Caltech101 without ``Faces`` (the data set's
authors dropped it as a near-duplicate of ``Faces_easy``, which stays) plus ``BACKGROUND_Google``,
clutter images with no object. Labels index the folder names sorted by code point (upper case
first, as ``torchvision``'s ``DatasetFolder`` and so the LT-SNN code order them). With
``background=False`` ``BACKGROUND_Google`` is left out (100 classes). The recordings are up to
240x180 pixels (:data:`SENSOR_SIZE`; each recording covers only its image's extent).

Splits (``split_rule``), as the data set has no official one:

- ``"stratified"`` (default): :func:`~ltsnn.data.datasets.split.stratified_split`, 20% of each class
  to test, permutations seeded by ``seed``.
- ``"ltsnn_random"``: the LT-SNN code's unstratified 80/20 ``random_split`` with generator seed 42
  over all samples (class order, then file name), :func:`~ltsnn.data.datasets.split.torch_random_split`.
"""

from __future__ import annotations

import os

import numpy as np

from ltsnn.data.datasets.frames import FrameDataset, file_dataset
from ltsnn.data.datasets.layout import class_files, require_dir, require_root
from ltsnn.data.datasets.registry import register_dataset
from ltsnn.data.datasets.split import stratified_split, torch_random_split
from ltsnn.data.io import read_atis_sample

BACKGROUND = "BACKGROUND_Google"
# The folders of Caltech101.zip, sorted by code point.
FOLDERS = tuple(sorted((
    "BACKGROUND_Google", "Faces_easy", "Leopards", "Motorbikes", "accordion", "airplanes", "anchor", "ant",
    "barrel", "bass", "beaver", "binocular", "bonsai", "brain", "brontosaurus", "buddha", "butterfly", "camera",
    "cannon", "car_side", "ceiling_fan", "cellphone", "chair", "chandelier", "cougar_body", "cougar_face", "crab",
    "crayfish", "crocodile", "crocodile_head", "cup", "dalmatian", "dollar_bill", "dolphin", "dragonfly",
    "electric_guitar", "elephant", "emu", "euphonium", "ewer", "ferry", "flamingo", "flamingo_head", "garfield",
    "gerenuk", "gramophone", "grand_piano", "hawksbill", "headphone", "hedgehog", "helicopter", "ibis",
    "inline_skate", "joshua_tree", "kangaroo", "ketch", "lamp", "laptop", "llama", "lobster", "lotus", "mandolin",
    "mayfly", "menorah", "metronome", "minaret", "nautilus", "octopus", "okapi", "pagoda", "panda", "pigeon",
    "pizza", "platypus", "pyramid", "revolver", "rhino", "rooster", "saxophone", "schooner", "scissors",
    "scorpion", "sea_horse", "snoopy", "soccer_ball", "stapler", "starfish", "stegosaurus", "stop_sign",
    "strawberry", "sunflower", "tick", "trilobite", "umbrella", "watch", "water_lilly", "wheelchair", "wild_cat",
    "windsor_chair", "wrench", "yin_yang")))
SENSOR_SIZE = (240, 180)
SPLIT_RULES = ("stratified", "ltsnn_random")
TEST_FRACTION = 0.2
LTSNN_SEED = 42
LAYOUT = ("expected root/Caltech101/<class>/image_<nnnn>.bin for the 101 class folders of N-Caltech101 "
          "(Caltech101.zip extracted into root)")


@register_dataset("ncaltech101")
def ncaltech101(*, split: str, root: str | os.PathLike | None, n_time_bins: int, bin_by: str, seed: int,
                cache_dir: str | os.PathLike | None = None, num_workers: int = 0, progress: bool = False,
                split_rule: str = "stratified", background: bool = True, **frame_options) -> FrameDataset:
    """N-Caltech101: ATIS recordings of Caltech101 images (240x180), stratified 80/20, 101 classes (with background)."""
    if split_rule not in SPLIT_RULES:
        raise ValueError(f"ncaltech101: unknown split_rule {split_rule!r}; expected one of {list(SPLIT_RULES)}")
    folder = require_dir("ncaltech101", require_root("ncaltech101", root, LAYOUT) / "Caltech101", LAYOUT)
    classes = tuple(c for c in FOLDERS if background or c != BACKGROUND)
    files, labels = class_files("ncaltech101", folder, classes, ".bin", LAYOUT)
    labels = np.array(labels, dtype=np.int64)
    if split_rule == "stratified":
        train, test = stratified_split(labels, test_fraction=TEST_FRACTION, seed=seed)
    else:
        train, test = torch_random_split(len(files), train_fraction=1 - TEST_FRACTION, seed=LTSNN_SEED)
    index = train if split == "train" else test
    return file_dataset(dataset="ncaltech101", split=split, root=folder, paths=[files[i] for i in index],
                        labels=labels[index], classes=classes, sensor_size=SENSOR_SIZE, read=read_atis_sample,
                        n_time_bins=n_time_bins, bin_by=bin_by, frame_options=frame_options, cache_dir=cache_dir,
                        num_workers=num_workers, progress=progress)
