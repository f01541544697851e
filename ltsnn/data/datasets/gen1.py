"""Prophesee Gen1 Automotive and 1 Mpx recordings -> one detection sample per annotated instant (spec §1).

A recording is a pair ``<name>_td.dat`` (events, DAT v2) + ``<name>_bbox.npy`` (boxes, legacy Gen1 or canonical
dtype), under ``<root>/<split>/``. For every distinct box timestamp ts of a recording, one sample:

- **events**: ``window="time"`` (default) takes t ∈ [ts − Δ, ts), Δ = ``window_us`` (PSEELoader's
  ``seek_time(ts − Δ); load_delta_t(Δ)``, §1.2); ``window="ltsnn_official"`` reproduces the LT-SNN code (§2.1):
  a binary search over event indices that stops once ≤ 125 000 events remain, then the 25 000 events from the
  interval's lower end (usually tens of thousands of events *before* ts: boxes and events are misaligned);
- **boxes** at ts, cleaned (:func:`clean_boxes`): corners clipped to the frame as RVT does, zero-size boxes
  dropped, the last record kept per track id, the size part of a Prophesee filter (``box_filter``: min diagonal
  and min side; the time skip belongs to the evaluation), and in training the "faulty" boxes wider than 0.9·W
  dropped (RVT). Instants left without a box are not samples. Every drop is counted in ``cleaning``.

1 Mpx (``sensor="gen4"``): 1280 × 720, box files with 7 classes of which the official evaluation keeps ids 0-2
(pedestrian, two-wheeler, car); boxes of the other classes are dropped (counted too).

Events are read through :class:`ltsnn.data.io.DatFile`: the DAT file memory-mapped and a binary search on its
timestamps, so a sample costs its own window, not the 60 s recording (spec §1.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ltsnn.data.box_filter import BoxFilter, box_filter_preset, crop_to_frame
from ltsnn.data.datasets.detection import collate_detection
from ltsnn.data.datasets.registry import register_dataset
from ltsnn.data.functional import resize_frames, scale_boxes, to_frames
from ltsnn.data.io import DatFile, read_gen1_boxes, reformat_boxes


@dataclass(frozen=True)
class SensorSpec:
    """A Prophesee data set's sensor and classes."""

    size: tuple[int, int]                   # (W, H) px
    classes: tuple[str, ...]                # the classes kept, by (mapped) label
    file_classes: int                       # class ids in the box files: 0 .. file_classes − 1


SENSORS = {
    "gen1": SensorSpec((304, 240), ("car", "pedestrian"), 2),
    # 1 Mpx: 7 classes in the files; the official evaluation keeps 0 pedestrian, 1 two-wheeler, 2 car (§1.4).
    "gen4": SensorSpec((1280, 720), ("pedestrian", "two wheeler", "car"), 7),
}
WINDOWS = ("time", "ltsnn_official")
# The LT-SNN code's window (§2.1): the search stops when at most half of its 250 000-event window remains.
LTSNN_SEARCH_STOP = 125_000
LTSNN_WINDOW_EVENTS = 25_000
# RVT drops "faulty" training boxes wider than this fraction of the sensor width (§1.3).
FAULTY_WIDTH_FRACTION = 0.9


# ---------------------------------------------------------------------------------------------- boxes


class Cleaning(NamedTuple):
    """What :func:`clean_boxes` removed, in boxes."""

    outside: int            # zero width or height after clipping to the frame
    repeated_track: int     # an earlier record of a track id at the same instant
    filtered: int           # below the filter's min diagonal / min side
    faulty_wide: int        # wider than 0.9·W (training only)
    other_class: int        # a class the evaluation does not keep (1 Mpx)


def clean_boxes(boxes: np.ndarray, *, sensor: SensorSpec, box_filter: BoxFilter,
                drop_wide: bool) -> tuple[np.ndarray, Cleaning]:
    """Cleaned canonical boxes (sorted by t) and the count of each kind of removal (module docstring).

    Args:
        boxes: a Prophesee box array, canonical or legacy dtype, sorted by t.
        box_filter: only its size part (min diagonal, min side) is applied here.
        drop_wide: drop boxes wider than 0.9·W (RVT does in training).
    """
    b = reformat_boxes(boxes)
    width, height = sensor.size
    counts = {}
    keep_class = b["class_id"] < len(sensor.classes)
    counts["other_class"] = int((~keep_class).sum())
    b = b[keep_class]
    inside = crop_to_frame(b, height=height, width=width)
    counts["outside"] = len(b) - len(inside)
    b = inside
    # The last record of each (t, track_id) in file order: the first of each key in the reversed array.
    reverse = b[::-1]
    keys = np.stack([reverse["t"].astype(np.int64), reverse["track_id"].astype(np.int64)], axis=1)
    _, first = np.unique(keys, axis=0, return_index=True)
    keep = np.sort(len(b) - 1 - first)
    counts["repeated_track"] = len(b) - len(keep)
    b = b[keep]
    size_only = BoxFilter(box_filter.min_diag, box_filter.min_side, None, box_filter.name)
    passed = size_only.keep(b)
    counts["filtered"] = int((~passed).sum())
    b = b[passed]
    wide = b["w"] > FAULTY_WIDTH_FRACTION * width if drop_wide else np.zeros(len(b), dtype=bool)
    counts["faulty_wide"] = int(wide.sum())
    return b[~wide], Cleaning(**counts)


def label_instants(boxes: np.ndarray) -> list[tuple[int, slice]]:
    """(ts, slice of ``boxes``) for every distinct timestamp of canonical boxes sorted by t."""
    ts, start = np.unique(boxes["t"], return_index=True)
    stop = np.append(start[1:], len(boxes))
    return [(int(t), slice(int(a), int(b))) for t, a, b in zip(ts, start, stop)]


# ---------------------------------------------------------------------------------------------- events


def ltsnn_official_start(t: np.ndarray, ts: int, *, stop: int = LTSNN_SEARCH_STOP) -> int:
    """The LT-SNN code's window start for label time ``ts`` (§2.1): bisect the event indices [lo, hi) on
    t[mid] < ts until at most ``stop`` events remain, and return lo."""
    lo, hi = 0, len(t)
    while hi - lo > stop:
        mid = (lo + hi) // 2
        if t[mid] < ts:
            lo = mid
        else:
            hi = mid
    return lo


# ---------------------------------------------------------------------------------------------- data set


class Gen1Detection(Dataset):
    """One sample per cleaned label instant of the recordings in ``<root>/<folder>/`` (module docstring).

    Items: (frames float32 [T, 2, H, W], target) as :mod:`ltsnn.data.datasets.detection` describes; boxes in pixels
    of the input frame (the sensor frame, or ``input_size`` when the frames are resized, nearest as torch's
    ``interpolate``, as LT-SNN's 223 × 287).

    Attributes:
        recordings: the ``_td.dat`` paths, indexed by ``target["recording"]``.
        samples: (recording, ts, boxes [N, 4] sensor px, labels [N]) per item.
        cleaning: :class:`Cleaning` summed over all recordings. task, classes, num_classes, in_channels,
        input_size (H, W), sensor_size (W, H), filter_sensor ("gen1" / "gen4").
    """

    task = "detection"
    collate_fn = staticmethod(collate_detection)

    def __init__(self, folder: str | Path, *, sensor: str = "gen1", n_time_bins: int, bin_by: str = "duration",
                 binary: bool = True, window: str = "time", window_us: int = 50_000,
                 input_size: tuple[int, int] | None = None, box_filter: BoxFilter, drop_wide: bool):
        folder = Path(folder)
        if sensor not in SENSORS:
            raise ValueError(f"unknown sensor {sensor!r}; expected one of {sorted(SENSORS)}")
        if window not in WINDOWS:
            raise ValueError(f"unknown window {window!r}; expected one of {list(WINDOWS)}")
        if window_us <= 0:
            raise ValueError(f"window_us is {window_us}; expected > 0 µs")
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder; expected <root>/<split>/ with <name>_td.dat + "
                                    f"<name>_bbox.npy pairs (Prophesee Gen1 / 1 Mpx layout)")
        self.spec = SENSORS[sensor]
        self.recordings = sorted(folder.glob("*_td.dat"))
        if not self.recordings:
            raise FileNotFoundError(f"{folder}: no *_td.dat files; expected <name>_td.dat + <name>_bbox.npy pairs")
        self.n_time_bins, self.bin_by, self.binary = n_time_bins, bin_by, binary
        self.window, self.window_us = window, int(window_us)
        self.samples: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        totals = np.zeros(len(Cleaning._fields), dtype=np.int64)
        for r, td in enumerate(self.recordings):
            bbox = td.with_name(td.name[:-len("_td.dat")] + "_bbox.npy")
            if not bbox.is_file():
                raise FileNotFoundError(f"{bbox}: missing; every <name>_td.dat needs its <name>_bbox.npy")
            raw = read_gen1_boxes(bbox)
            unsorted = np.flatnonzero(np.diff(raw["t"]) < 0)
            if unsorted.size:
                i = int(unsorted[0]) + 1
                raise ValueError(f"{bbox}: box {i} has t = {raw['t'][i]} µs, before box {i - 1} (t = "
                                 f"{raw['t'][i - 1]}); expected boxes sorted by t (spec §1.3)")
            boxes, cleaning = clean_boxes(raw, sensor=self.spec, box_filter=box_filter, drop_wide=drop_wide)
            totals += np.array(cleaning)
            for ts, rows in label_instants(boxes):
                b = boxes[rows]
                xywh = np.stack([b["x"], b["y"], b["w"], b["h"]], axis=1).astype(np.float32)
                self.samples.append((r, ts, xywh, b["class_id"].astype(np.int64)))
        self.cleaning = Cleaning(*(int(v) for v in totals))
        if not self.samples:                                    # every label instant filtered away
            raise ValueError(f"{folder}: no labelled instant left after the box filter {box_filter!r} "
                             f"({self.cleaning}); expected at least one (another box_filter, or more recordings)")
        width, height = self.spec.size
        self.sensor_size = self.spec.size
        self.input_size = tuple(input_size) if input_size is not None else (height, width)
        self.classes = self.spec.classes
        self.num_classes = len(self.classes)
        self.in_channels = 2
        self.filter_sensor = sensor
        self._files: dict[int, DatFile] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def window_events(self, index: int) -> np.ndarray:
        """The events of sample ``index``'s window (module docstring)."""
        r, ts, _, _ = self.samples[index]
        dat = self._files.get(r)
        if dat is None:
            dat = DatFile(self.recordings[r])
            if not len(dat):              # an empty window is a quiet scene; an empty recording is a broken file
                raise ValueError(f"gen1: {self.recordings[r]}: no events (an empty or header-only file); expected "
                                 "a recording with events")
            self._files[r] = dat
        if self.window == "time":
            return dat.time_window(ts - self.window_us, ts)
        start = ltsnn_official_start(dat.t, ts)
        return dat.events(start, min(start + LTSNN_WINDOW_EVENTS, len(dat)))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        r, ts, boxes, labels = self.samples[index]
        events = self.window_events(index)
        width, height = self.sensor_size
        # A time window is the sample's clock: its bins are fixed by [ts − Δ, ts), not by its events.
        t_range = (ts - self.window_us, ts) if self.window == "time" else None
        frames = to_frames(events, sensor_size=self.sensor_size, n_time_bins=self.n_time_bins, bin_by=self.bin_by,
                           binary=self.binary, t_range=t_range)
        if self.input_size != (height, width):
            frames = resize_frames(frames, self.input_size, mode="nearest")
            boxes = scale_boxes(boxes, from_size=(height, width), to_size=self.input_size).astype(np.float32)
        target = {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels), "t_us": ts, "recording": r}
        return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)), target


@register_dataset("gen1")
def gen1(*, split: str, root: str | None, n_time_bins: int, bin_by: str, seed: int, binary: bool = True,
         window: str = "time", window_us: int = 50_000, input_size: list[int] | None = None,
         box_filter: str = "psee_rvt", sensor: str = "gen1", test_folder: str = "test") -> Gen1Detection:
    """Prophesee Gen1 (or 1 Mpx, sensor=gen4) detection: one sample per label instant of <root>/<split>/."""
    if root is None:
        raise ValueError("gen1: data.root is required (the folder holding train/, val/, test/)")
    if seed != 0:
        raise ValueError(f"gen1: data.seed is {seed}; the splits are the official folders (expected 0)")
    folder = Path(root) / ("train" if split == "train" else test_folder)
    return Gen1Detection(folder, sensor=sensor, n_time_bins=n_time_bins, bin_by=bin_by, binary=binary,
                         window=window, window_us=window_us, input_size=input_size,
                         box_filter=box_filter_preset(box_filter, sensor), drop_wide=split == "train")
