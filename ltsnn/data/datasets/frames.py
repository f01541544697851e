"""A Dataset of frames computed once per split (in memory, or memory-mapped from the frame cache)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ltsnn.data.cache import FrameJob, cached_frames, compute_frames, stored_frames
from ltsnn.data.representations import REPRESENTATIONS

if TYPE_CHECKING:
    from ltsnn.data.io import Recording


class FrameDataset(Dataset):
    """Items (frames float32 [T, C, H, W], label int) from frames held compactly (uint8 / uint16).

    Attributes:
        frames: [N, T, C, H, W], an array or a read-only memory map of the cache file.
        labels: int64 [N].
        classes: class names, indexed by label; ``num_classes`` their count.
        in_channels: C.
        input_size: (H, W) in pixels.
        cache_file: the cache ``.npy`` the frames come from, or None when computed in memory.
        from_cache: True when an existing cache was read (nothing was computed).
    """

    def __init__(self, frames: np.ndarray, labels: np.ndarray, *, classes: Sequence[str],
                 cache_file: Path | None = None, from_cache: bool = False):
        if frames.ndim != 5 or len(frames) != len(labels):
            raise ValueError(f"FrameDataset: frames of shape {frames.shape} and {len(labels)} labels; expected "
                             f"[N, T, C, H, W] frames with one label each")
        self.frames = frames
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = tuple(classes)
        self.num_classes = len(self.classes)
        self.in_channels = frames.shape[2]
        self.input_size = tuple(frames.shape[3:])
        self.cache_file = cache_file
        self.from_cache = from_cache

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(np.asarray(self.frames[index], dtype=np.float32)), int(self.labels[index])

    def __getstate__(self) -> dict:
        # A process that unpickles the data set (DataLoader workers under spawn) maps the cache file
        # again instead of receiving a copy of every frame.
        state = dict(self.__dict__)
        if self.cache_file is not None:
            state["frames"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.frames is None:
            self.frames = np.load(self.cache_file, mmap_mode="r")


def frames_from_events(recordings: Sequence[np.ndarray], *, sensor_size: tuple[int, int], frame_options: Mapping,
                       representation: str = "frames") -> np.ndarray:
    """Frames [N, T, C, H, W] (in the representation's storage dtype, see :func:`~ltsnn.data.cache.stored_frames`)
    of in-memory Events."""
    kw = dict(sensor_size=sensor_size, frame_options=frame_options, representation=representation)
    first = stored_frames(recordings[0], where="recording 0", **kw)
    frames = np.empty((len(recordings), *first.shape), dtype=first.dtype)
    frames[0] = first
    for i in range(1, len(recordings)):
        frames[i] = stored_frames(recordings[i], where=f"recording {i}", **kw)
    return frames


def frames_from_files(job: FrameJob, labels: np.ndarray, *, classes: Sequence[str], dataset: str, split: str,
                      root: str | os.PathLike, cache_dir: str | os.PathLike | None, num_workers: int,
                      progress: bool) -> FrameDataset:
    """The :class:`FrameDataset` of ``job``'s event files: from the frame cache in ``cache_dir``
    (built there first if needed), or computed in memory when ``cache_dir`` is None."""
    if job.n_samples != len(labels):
        raise ValueError(f"{dataset} {split}: {job.n_samples} samples in the files but {len(labels)} labels")
    if cache_dir is None:
        frames = compute_frames(job, num_workers=num_workers, progress=progress, desc=f"{dataset} {split}")
        return FrameDataset(frames, labels, classes=classes)
    cached = cached_frames(job, cache_dir=cache_dir, dataset=dataset, split=split, root=root,
                           num_workers=num_workers, progress=progress)
    return FrameDataset(cached.frames, labels, classes=classes, cache_file=cached.path, from_cache=cached.hit)


def file_dataset(*, dataset: str, split: str, root: str | os.PathLike, paths: Sequence[Path], labels: np.ndarray,
                 classes: Sequence[str], sensor_size: tuple[int, int], read: Callable[[str], Recording],
                 windows: Sequence[tuple[tuple[int, int], ...] | None] | None = None, n_time_bins: int, bin_by: str,
                 frame_options: Mapping, cache_dir: str | os.PathLike | None, num_workers: int,
                 progress: bool) -> FrameDataset:
    """The :class:`FrameDataset` of a split made of event files, through the frame cache when
    ``cache_dir`` is given.

    Args:
        paths: the split's event files, in sample order; ``windows`` (one entry per file, see
            :class:`~ltsnn.data.cache.FrameJob`) when a file holds several samples.
        labels: int [N], one per sample.
        read: path -> Recording, a module-level reader of :mod:`ltsnn.data.io`.
        frame_options: ``representation`` (a name in :data:`~ltsnn.data.representations.REPRESENTATIONS`,
            ``"frames"`` if absent) and its data set options (``binary``, ``size``, ...).
    """
    representation, options = resolve_frame_options(n_time_bins=n_time_bins, bin_by=bin_by, **frame_options)
    job = FrameJob(paths=tuple(os.fspath(p) for p in paths),
                   windows=tuple(windows) if windows is not None else (None,) * len(paths), read=read,
                   sensor_size=tuple(sensor_size), frame_options=options, representation=representation)
    return frames_from_files(job, labels, classes=classes, dataset=dataset, split=split, root=root,
                             cache_dir=cache_dir, num_workers=num_workers, progress=progress)


def resolve_frame_options(*, n_time_bins: int, bin_by: str, representation: str = "frames",
                          **options) -> tuple[str, dict]:
    """(representation, every option of its function with the defaults filled in) for a data set's
    ``n_time_bins``, ``bin_by`` and frame options (:meth:`~ltsnn.data.representations.Representation.resolve`).

    Raises:
        ValueError: listing the valid values when the representation or an option is unknown.
    """
    return representation, REPRESENTATIONS.lookup(representation).resolve(n_time_bins=n_time_bins, bin_by=bin_by,
                                                                          **options)
