"""N-MNIST small: 1,000 labelled N-MNIST training recordings (the ``NMNISTsmall`` folder of SLAYER).

Layout of ``root``::

    train1K.txt          "#sample #class" header, then one "id<TAB>class" line per recording
    1.bs2 ... 1000.bs2   ATIS 40-bit events (read by :func:`ltsnn.data.io.read_atis_bin`), 34x34

The folder has no test set of its own, so it is split here: :func:`stratified_split` with 20% of
each class for test; seed 0 gives 801 train / 199 test recordings.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ltsnn.data.datasets.frames import FrameDataset, file_dataset
from ltsnn.data.datasets.layout import require_file, require_root
from ltsnn.data.datasets.registry import register_dataset
from ltsnn.data.datasets.split import stratified_split
from ltsnn.data.io import NMNIST_SENSOR_SIZE, read_atis_sample

TEST_FRACTION = 0.2
CLASSES = tuple(str(d) for d in range(10))
_LAYOUT = "expected a folder with train1K.txt ('#sample #class' then 'id<TAB>class' lines) and <id>.bs2 files"


def read_labels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``train1K.txt``: (ids int64 [N], classes int64 [N]) in file order."""
    ids, classes = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2 or not all(f.isdigit() for f in fields):
            raise ValueError(f"{path}: line {number} is {line!r}; expected 'id<TAB>class' with two integers")
        ids.append(int(fields[0]))
        classes.append(int(fields[1]))
    if not ids:
        raise ValueError(f"{path}: no samples listed; {_LAYOUT}")
    if len(set(ids)) != len(ids):                 # a repeated id would be the same recording twice
        seen: set[int] = set()
        duplicate = next(i for i in ids if i in seen or seen.add(i))
        raise ValueError(f"{path}: id {duplicate} is listed more than once; expected each recording once")
    bad = [c for c in classes if not 0 <= c < len(CLASSES)]
    if bad:
        raise ValueError(f"{path}: class {bad[0]} is outside 0..{len(CLASSES) - 1}")
    return np.array(ids, dtype=np.int64), np.array(classes, dtype=np.int64)


@register_dataset("nmnist_small")
def nmnist_small(*, split: str, root: str | os.PathLike | None, n_time_bins: int, bin_by: str, seed: int,
                 cache_dir: str | os.PathLike | None = None, num_workers: int = 0, progress: bool = False,
                 **frame_options) -> FrameDataset:
    """N-MNIST small: 1,000 real N-MNIST training recordings (ATIS 34x34), split 80/20 here, 10 classes."""
    folder = require_root("nmnist_small", root, _LAYOUT)
    ids, labels = read_labels(require_file("nmnist_small", folder / "train1K.txt", _LAYOUT))
    train, test = stratified_split(labels, test_fraction=TEST_FRACTION, seed=seed)
    index = train if split == "train" else test
    files = [folder / f"{ids[i]}.bs2" for i in index]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"nmnist_small: {len(missing)} file(s) listed in train1K.txt are missing, "
                                f"first {missing[0]}; {_LAYOUT}")
    return file_dataset(dataset="nmnist_small", split=split, root=folder, paths=files, labels=labels[index],
                        classes=CLASSES, sensor_size=NMNIST_SENSOR_SIZE, read=read_atis_sample,
                        n_time_bins=n_time_bins, bin_by=bin_by, frame_options=frame_options, cache_dir=cache_dir,
                        num_workers=num_workers, progress=progress)
