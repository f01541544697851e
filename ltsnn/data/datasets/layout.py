"""Checks of a data set's folder against the layout it is distributed in; every error names that layout."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

log = logging.getLogger("ltsnn.data.datasets")


def require_root(dataset: str, root: str | os.PathLike | None, layout: str) -> Path:
    """``root`` as a Path; ValueError when it is None, FileNotFoundError when it is not a folder."""
    if root is None:
        raise ValueError(f"{dataset} needs root, the folder of its files; {layout}")
    return require_dir(dataset, Path(root), layout)


def require_dir(dataset: str, folder: Path, layout: str) -> Path:
    if not folder.is_dir():
        raise FileNotFoundError(f"{dataset}: folder {folder} not found; {layout}")
    return folder


def require_file(dataset: str, path: Path, layout: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{dataset}: file {path} not found; {layout}")
    return path


def files_in(dataset: str, folder: Path, suffix: str, layout: str) -> list[Path]:
    """The files of ``folder`` ending in ``suffix``, sorted by name; an error when the folder is missing or has none."""
    require_dir(dataset, folder, layout)
    files = sorted(p for p in folder.iterdir() if p.name.endswith(suffix) and p.is_file())
    if not files:
        raise FileNotFoundError(f"{dataset}: no *{suffix} files in {folder}; {layout}")
    return files


def class_files(dataset: str, folder: Path, classes: Sequence[str], suffix: str,
                layout: str) -> tuple[list[Path], list[int]]:
    """Files of the class folders ``folder/<class>/*<suffix>``, class by class in label order.

    Returns:
        (files, labels): each class's files sorted by name, and the label (index in ``classes``) of each.
    """
    files, labels = [], []
    for label, name in enumerate(classes):
        found = files_in(dataset, folder / name, suffix, layout)
        files += found
        labels += [label] * len(found)
    return files, labels


def note_count(dataset: str, split: str, found: int, distributed: int) -> None:
    """Log when a split has another number of samples than the data set as distributed (a partial copy?)."""
    if found != distributed:
        log.warning("%s %s: %d samples; the data set as distributed has %d (a partial or modified copy?)",
                    dataset, split, found, distributed)
