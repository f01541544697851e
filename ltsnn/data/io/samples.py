"""Readers for data-set samples: the format readers, refusing a file with no events.

A file with no events is a valid recording (a header-only AEDAT file reads as zero events), but as
a data-set sample it would become all-zero frames with a label and train silently on nothing. The
data sets read their files through these (module-level functions, so that frame-cache workers
import them by name and the cache key names them).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "0.bin"
    >>> _ = path.write_bytes(b"")
    >>> try:
    ...     read_atis_sample(path)
    ... except ValueError as error:
    ...     print(str(error).split(": ")[-1])
    no events (an empty or header-only file); expected at least one event per data-set sample
"""

from __future__ import annotations

import os

from ltsnn.data.io.aedat import read_aedat, read_cifar10dvs
from ltsnn.data.io.atis import read_atis_bin
from ltsnn.data.io.dat import read_dat
from ltsnn.data.io.recording import Recording, require_events


def read_atis_sample(path: str | os.PathLike) -> Recording:
    """:func:`~ltsnn.data.io.read_atis_bin`, with a ValueError naming the file when it has no events."""
    return require_events(read_atis_bin(path), path, reader="read_atis_bin")


def read_aedat_sample(path: str | os.PathLike) -> Recording:
    """:func:`~ltsnn.data.io.read_aedat`, with a ValueError naming the file when it has no events."""
    return require_events(read_aedat(path), path, reader="read_aedat")


def read_cifar10dvs_sample(path: str | os.PathLike) -> Recording:
    """:func:`~ltsnn.data.io.read_cifar10dvs`, with a ValueError naming the file when it has no events."""
    return require_events(read_cifar10dvs(path), path, reader="read_cifar10dvs")


def read_dat_sample(path: str | os.PathLike) -> Recording:
    """:func:`~ltsnn.data.io.read_dat`, with a ValueError naming the file when it has no events."""
    return require_events(read_dat(path), path, reader="read_dat")
