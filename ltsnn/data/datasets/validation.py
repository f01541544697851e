"""The validation split: a seeded part of a data set's training split, held out to choose checkpoints.

Rule (one line): with ``fraction`` f and seed s, classification sets hold out round(f · n_c) samples of
every class c (:func:`~ltsnn.data.datasets.split.stratified_split` of the training labels, seed s);
detection sets hold out whole recordings, round(f · R) of the R recordings drawn with seed s, so that no
recording has windows on both sides. The test split is never touched.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from torch.utils.data import Dataset

from ltsnn.data.datasets.split import stratified_split


def validation_indices(dataset: Dataset, *, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) of ``dataset`` (a training split), disjoint and covering it.

    Example:
        >>> import numpy as np
        >>> class Toy:
        ...     labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
        ...     def __len__(self): return 10
        >>> train, val = validation_indices(Toy(), fraction=0.25, seed=0)
        >>> len(train), len(val), sorted(Toy.labels[val].tolist())
        (7, 3, [0, 1, 1])

    Raises:
        ValueError: a fraction outside (0, 1), or a data set with neither per-sample ``labels`` (class ids)
            nor ``recordings`` (detection) to split by.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction is {fraction!r}; expected a value in (0, 1)")
    recordings = getattr(dataset, "recordings", None)
    if recordings is not None:
        groups = np.asarray(recordings)
        unique = np.unique(groups)
        held = np.random.default_rng(seed).permutation(unique)[:int(round(len(unique) * fraction))]
        val = np.flatnonzero(np.isin(groups, held))
        return np.setdiff1d(np.arange(len(groups)), val), val
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise ValueError(f"{type(dataset).__name__} has neither labels nor recordings to draw a validation split "
                         f"from (expected one of them, or data.val_fraction=0)")
    return stratified_split(np.asarray(labels), test_fraction=fraction, seed=seed)


class SplitView(Dataset):
    """The samples ``indices`` of ``dataset``, with its attributes (classes, sizes, collate_fn, ...) and its
    per-sample ``labels`` / ``recordings`` restricted to them."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, np.asarray(indices, dtype=np.int64)
        for name in ("labels", "recordings"):
            values = getattr(dataset, name, None)
            if isinstance(values, list):                        # per-sample arrays (detection's box labels)
                setattr(self, name, [values[i] for i in self.indices])
            elif values is not None:
                setattr(self, name, np.asarray(values)[self.indices])

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.dataset[int(self.indices[i])]

    def __getattr__(self, name: str) -> Any:
        if name in ("dataset", "indices"):                      # not yet set: unpickling
            raise AttributeError(name)
        return getattr(self.dataset, name)
