"""Train/test splits, as pure functions of the labels and a seed."""

from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into train and test with the same class mix.

    For each class c in ascending order, one generator ``np.random.default_rng(seed)`` draws a
    permutation of that class's indices; the first round(n_c * test_fraction) go to test, the
    rest to train.

    Args:
        labels: [N] integer class of each sample.
        test_fraction: share of each class held out for test, in (0, 1).
        seed: seed of the permutations.

    Returns:
        (train indices, test indices), each int64 sorted ascending; disjoint, covering 0..N-1.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"stratified_split: labels has shape {labels.shape}; expected [N]")
    if not 0 < test_fraction < 1:
        raise ValueError(f"stratified_split: test_fraction is {test_fraction}; expected a value in (0, 1)")
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.append(members[:int(round(len(members) * test_fraction))])
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
