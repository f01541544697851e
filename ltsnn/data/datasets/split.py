"""Train/test splits, as pure functions of the labels (and a seed or the files' order)."""

from __future__ import annotations

import numpy as np
import torch


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
    labels = _check_labels(labels, "stratified_split")
    _check_fraction(test_fraction, "stratified_split", "test_fraction")
    rng = np.random.default_rng(seed)
    test = [np.empty(0, dtype=np.int64)]
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.append(members[:int(round(len(members) * test_fraction))])
    return _complement(len(labels), np.concatenate(test))


def ordered_split(labels: np.ndarray, *, train_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Per class, the first samples (in the given order) to train and the last ones to test.

    Class c with n_c samples gives its first round(n_c * train_fraction) samples to train and the
    rest to test; with 1,000 recordings per class and 0.9 this is "first 900 / last 100".

    Args:
        labels: [N] integer class of each sample, the samples in the order that defines "first".
        train_fraction: share of each class for training, in (0, 1).

    Returns:
        (train indices, test indices), each int64 sorted ascending; disjoint, covering 0..N-1.
    """
    labels = _check_labels(labels, "ordered_split")
    _check_fraction(train_fraction, "ordered_split", "train_fraction")
    test = [np.empty(0, dtype=np.int64)]
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        test.append(members[int(round(len(members) * train_fraction)):])
    return _complement(len(labels), np.concatenate(test))


def torch_random_split(n: int, *, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The split of ``torch.utils.data.random_split(range(n), [int(f * n), n - int(f * n)], generator)``.

    With ``generator = torch.Generator().manual_seed(seed)``, as the LT-SNN code splits its data sets
    (CIFAR10-DVS 90/10 and N-Caltech101 80/20, seed 42): one ``torch.randperm(n)``; its first
    int(train_fraction * n) entries are the training samples. Not stratified.

    Returns:
        (train indices, test indices), each int64 in the permutation's order (as ``random_split``'s subsets).
    """
    _check_fraction(train_fraction, "torch_random_split", "train_fraction")
    permutation = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy().astype(np.int64)
    n_train = int(train_fraction * n)
    return permutation[:n_train], permutation[n_train:]


def _check_labels(labels: np.ndarray, where: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{where}: labels has shape {labels.shape}; expected [N]")
    return labels


def _check_fraction(value: float, where: str, name: str) -> None:
    if not 0 < value < 1:
        raise ValueError(f"{where}: {name} is {value}; expected a value in (0, 1)")


def _complement(n: int, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    is_test = np.zeros(n, dtype=bool)
    is_test[test] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
