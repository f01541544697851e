"""Data set registry: ``create_dataset(name, ...)`` and ``list_datasets()``."""

from __future__ import annotations

import inspect

from torch.utils.data import Dataset

from ltsnn.registry import Registry

DATASETS = Registry("data set")
SPLITS = ("train", "test")
# Arguments every factory takes; create_dataset passes them by keyword.
_COMMON = ("split", "root", "n_time_bins", "bin_by", "seed")


# A data set factory is ``fn(*, split, root, n_time_bins, bin_by, seed, **options)``.
register_dataset = DATASETS.register


def create_dataset(name: str, *, split: str, root: str | None = None, n_time_bins: int, bin_by: str = "duration",
                   seed: int = 0, **kw) -> Dataset:
    """Build the ``split`` of the data set registered as ``name``.

    Args:
        name: a name from :func:`list_datasets`.
        split: ``"train"`` or ``"test"``.
        root: folder of the data set's files (ignored by built-in data sets).
        n_time_bins: T, frames per sample.
        bin_by: ``"duration"`` or ``"count"`` (see :func:`ltsnn.data.functional.to_frames`).
        seed: seed of the train/test split; 0 gives the split documented in docs/datasets.md.
        **kw: options of that data set (e.g. ``binary``).

    Returns:
        A Dataset whose items are (frames float32 [T, 2, H, W], label int), with attributes
        ``num_classes``, ``in_channels``, ``input_size`` ((H, W)) and ``classes``.

    Raises:
        ValueError: listing the valid values for an unknown name, split or option.
    """
    fn = DATASETS.lookup(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} for data set {name!r}; expected one of {list(SPLITS)}")
    options = sorted(set(inspect.signature(fn).parameters) - set(_COMMON))
    unknown = sorted(set(kw) - set(options))
    if unknown:
        raise ValueError(f"data set {name!r} got unknown option(s) {unknown}; valid: {options}")
    return fn(split=split, root=root, n_time_bins=n_time_bins, bin_by=bin_by, seed=seed, **kw)


def list_datasets() -> dict[str, str]:
    """Name -> one-line description of every registered data set."""
    return DATASETS.describe()
