"""Data set registry: ``create_dataset(name, ...)`` and ``list_datasets()``."""

from __future__ import annotations

import inspect
import os

from torch.utils.data import Dataset

from ltsnn.data.representations import REPRESENTATIONS
from ltsnn.registry import Registry

DATASETS = Registry("data set")
SPLITS = ("train", "test")
# Arguments every factory takes; create_dataset passes them by keyword.
_COMMON = ("split", "root", "n_time_bins", "bin_by", "seed")
# How the frames are built and kept; passed only to the factories that name them (those that read files).
_BUILD = ("cache_dir", "num_workers", "progress")


# A data set factory is ``fn(*, split, root, n_time_bins, bin_by, seed, **options)``; one that reads
# files may also take ``cache_dir``, ``num_workers`` and ``progress``, and one with ``**frame_options``
# accepts ``representation`` and the data set options of that representation (``binary``, ...).
register_dataset = DATASETS.register


def create_dataset(name: str, *, split: str, root: str | os.PathLike | None = None, n_time_bins: int,
                   bin_by: str = "duration", seed: int = 0, cache_dir: str | os.PathLike | None = None,
                   num_workers: int = 0, progress: bool = False, **kw) -> Dataset:
    """Build the ``split`` of the data set registered as ``name``.

    Args:
        name: a name from :func:`list_datasets`.
        split: ``"train"`` or ``"test"``.
        root: folder of the data set's files (ignored by built-in data sets).
        n_time_bins: T, frames per sample.
        bin_by: ``"duration"`` or ``"count"`` (see :func:`ltsnn.data.functional.to_frames`).
        seed: seed of the train/test split where the split is random; 0 gives the split documented
            in docs/datasets.md.
        cache_dir: folder of the on-disk frame cache (:mod:`ltsnn.data.cache`); None computes the
            frames in memory. Data sets without files (``ndigits``) always compute in memory.
        num_workers: processes that compute frames (0: this process).
        progress: show a progress bar while frames are computed (needs tqdm).
        **kw: options of that data set (e.g. ``split_rule``), ``representation`` (a name in
            :data:`~ltsnn.data.representations.REPRESENTATIONS`: ``"frames"``, the default,
            ``"ltsnn_colour"``, ``"voxel_grid"``) and the options of its function (e.g. ``binary``, ``size``).

    Returns:
        A Dataset whose items are (frames float32 [T, C, H, W], label int), with attributes
        ``num_classes``, ``in_channels``, ``input_size`` ((H, W)) and ``classes``.

    Raises:
        ValueError: listing the valid values for an unknown name, split or option.

    Example:
        >>> from ltsnn.data import create_dataset
        >>> ds = create_dataset("moving_shapes", split="test", n_time_bins=4, test_size=2)
        >>> len(ds), tuple(ds[0][0].shape), ds.classes
        (2, (4, 2, 48, 64), ('car', 'pedestrian'))
    """
    fn = DATASETS.lookup(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} for data set {name!r}; expected one of {list(SPLITS)}")
    params = inspect.signature(fn).parameters
    takes_frame_options = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = {n for n, p in params.items() if p.kind is not p.VAR_KEYWORD}
    representation = kw.get("representation", "frames")        # an unknown one is refused with the valid names later
    known = [representation] if representation in REPRESENTATIONS else list(REPRESENTATIONS)
    frame_options = {"representation", *(n for r in known for n in REPRESENTATIONS[r].dataset_options)} \
        if takes_frame_options else set()
    options = sorted((named - set(_COMMON) - set(_BUILD)) | frame_options)
    unknown = sorted(set(kw) - set(options))
    if unknown:
        raise ValueError(f"data set {name!r} got unknown option(s) {unknown}; valid: {options}")
    build = {k: v for k, v in (("cache_dir", cache_dir), ("num_workers", num_workers), ("progress", progress))
             if k in params}
    return fn(split=split, root=root, n_time_bins=n_time_bins, bin_by=bin_by, seed=seed, **build, **kw)


def list_datasets() -> dict[str, str]:
    """Name -> one-line description of every registered data set."""
    return DATASETS.describe()
