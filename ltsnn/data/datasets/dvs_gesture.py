"""DVS128 Gesture (Amir et al. 2017): 11 hand and arm gestures by 29 people under 5 lightings, DVS128.

Layout of ``root`` (``DvsGesture.tar.gz`` extracted into it)::

    DvsGesture/trials_to_train.txt     one recording per line: user01_fluorescent.aedat ... (users 1-23)
    DvsGesture/trials_to_test.txt      users 24-29
    DvsGesture/user01_fluorescent.aedat            AEDAT 3.1 (:func:`~ltsnn.data.io.read_aedat`), 128x128
    DvsGesture/user01_fluorescent_labels.csv       "class,startTime_usec,endTime_usec" then one line per gesture

Each line of a ``_labels.csv`` is one sample: the events with startTime <= t < endTime (µs, the
recording's own time base), label = class - 1. The split is the official one (the two trial
lists): 1,176 train / 288 test samples as SpikingJelly counts them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ltsnn.data.datasets.frames import FrameDataset, file_dataset
from ltsnn.data.datasets.layout import note_count, require_dir, require_file, require_root
from ltsnn.data.datasets.registry import register_dataset
from ltsnn.data.io import read_aedat_sample

CLASSES = ("hand_clapping", "right_hand_wave", "left_hand_wave", "right_arm_clockwise",
           "right_arm_counter_clockwise", "left_arm_clockwise", "left_arm_counter_clockwise", "arm_roll",
           "air_drums", "air_guitar", "other_gestures")
SENSOR_SIZE = (128, 128)
TRIAL_LISTS = {"train": "trials_to_train.txt", "test": "trials_to_test.txt"}
DISTRIBUTED = {"train": 1176, "test": 288}
LAYOUT = ("expected root/DvsGesture/ with trials_to_train.txt, trials_to_test.txt and, per listed recording, "
          "<name>.aedat and <name>_labels.csv (DvsGesture.tar.gz extracted into root)")


def read_trials(path: Path) -> list[str]:
    """The recording names listed in a ``trials_to_*.txt`` (blank lines skipped)."""
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    for number, name in enumerate(names, start=1):
        if not name.endswith(".aedat") or "/" in name:
            raise ValueError(f"dvs_gesture: {path} entry {number} is {name!r}; expected a file name <name>.aedat")
    if not names:
        raise ValueError(f"dvs_gesture: {path} lists no recordings; {LAYOUT}")
    if len(set(names)) != len(names):              # a repeated name would be the same samples twice
        duplicate = next(name for number, name in enumerate(names) if name in names[:number])
        raise ValueError(f"dvs_gesture: {path} lists {duplicate!r} more than once; expected each recording once")
    return names


def read_gesture_labels(path: Path) -> tuple[np.ndarray, tuple[tuple[int, int], ...]]:
    """Parse a ``_labels.csv``: (labels int64 [k] (class - 1), the k windows [start, end) µs) in file order."""
    lines = path.read_text().splitlines()
    if not lines or [f.strip() for f in lines[0].split(",")] != ["class", "startTime_usec", "endTime_usec"]:
        raise ValueError(f"dvs_gesture: {path} line 1 is {lines[0] if lines else ''!r}; expected the header "
                         f"'class,startTime_usec,endTime_usec'")
    labels, windows = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 3 or not all(f.isdigit() for f in fields):
            raise ValueError(f"dvs_gesture: {path} line {number} is {line!r}; expected three integers "
                             f"class,startTime_usec,endTime_usec")
        label, start, end = (int(f) for f in fields)
        if not 1 <= label <= len(CLASSES) or start >= end:
            raise ValueError(f"dvs_gesture: {path} line {number} is {line!r}; expected a class in 1..{len(CLASSES)} "
                             f"and startTime_usec < endTime_usec")
        labels.append(label - 1)
        windows.append((start, end))
    if not labels:
        raise ValueError(f"dvs_gesture: {path} has no gesture lines; expected class,startTime_usec,endTime_usec rows")
    return np.array(labels, dtype=np.int64), tuple(windows)


@register_dataset("dvs_gesture")
def dvs_gesture(*, split: str, root: str | os.PathLike | None, n_time_bins: int, bin_by: str, seed: int,
                cache_dir: str | os.PathLike | None = None, num_workers: int = 0, progress: bool = False,
                **frame_options) -> FrameDataset:
    """DVS128 Gesture: 1,176 / 288 gesture samples from 122 DVS128 recordings (128x128), official split, 11 classes."""
    folder = require_dir("dvs_gesture", require_root("dvs_gesture", root, LAYOUT) / "DvsGesture", LAYOUT)
    names = read_trials(require_file("dvs_gesture", folder / TRIAL_LISTS[split], LAYOUT))
    paths, windows, labels = [], [], []                # seed is unused: the split is the official one
    for name in names:
        paths.append(require_file("dvs_gesture", folder / name, LAYOUT))
        file_labels, file_windows = read_gesture_labels(
            require_file("dvs_gesture", folder / f"{name[:-len('.aedat')]}_labels.csv", LAYOUT))
        windows.append(file_windows)
        labels.append(file_labels)
    labels = np.concatenate(labels)
    note_count("dvs_gesture", split, len(labels), DISTRIBUTED[split])
    return file_dataset(dataset="dvs_gesture", split=split, root=folder, paths=paths, windows=windows, labels=labels,
                        classes=CLASSES, sensor_size=SENSOR_SIZE, read=read_aedat_sample, n_time_bins=n_time_bins,
                        bin_by=bin_by, frame_options=frame_options, cache_dir=cache_dir, num_workers=num_workers,
                        progress=progress)
