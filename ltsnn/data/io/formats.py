"""One entry point over all readers: the format is chosen by the file's header, then its suffix."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ltsnn.data.io.aedat import scan_aedat2, scan_aedat3, scan_cifar10dvs
from ltsnn.data.io.aedat4 import scan_aedat4
from ltsnn.data.io.atis import scan_atis_bin
from ltsnn.data.io.dat import scan_dat
from ltsnn.data.io.evt2 import scan_evt2
from ltsnn.data.io.evt3 import scan_evt3
from ltsnn.data.io.prophesee import read_prophesee_header, stated_format
from ltsnn.data.io.recording import READ_STEP, Chunks, Recording, concatenate, read_prefix, rechunk


def _scan_aedat(path: str | os.PathLike, *, step: int = READ_STEP) -> Chunks:
    scan = scan_aedat3 if read_prefix(path, 10).startswith(b"#!AER-DAT3") else scan_aedat2
    return scan(path, step=step)


# name -> scan(path, *, step) -> Chunks. Registering a format here is all read_events needs.
FORMATS: dict[str, Callable[..., Chunks]] = {
    "atis": scan_atis_bin, "aedat": _scan_aedat, "aedat4": scan_aedat4, "cifar10dvs": scan_cifar10dvs,
    "dat": scan_dat, "evt2": scan_evt2, "evt3": scan_evt3,
}
_BY_SUFFIX = {".bin": "atis", ".bs2": "atis", ".dat": "dat", ".aedat4": "aedat4", ".aedat": "aedat",
              ".raw": "raw"}


def detect_format(path: str | os.PathLike) -> str:
    """The reader for ``path``: its magic or ``%`` header first, then its suffix.

    CIFAR10-DVS files are plain AEDAT 2.0 to the eye: ask for ``format="cifar10dvs"`` explicitly.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: naming the file when neither header nor suffix identifies a format.
    """
    head = read_prefix(path, 16)
    suffix = Path(path).suffix.lower()
    if head.startswith(b"#!AER-DAT4"):
        return "aedat4"
    if head.startswith(b"#!AER-DAT"):
        return "aedat"
    if head.startswith(b"%"):
        named = stated_format(read_prophesee_header(path, "read_events")[0])
        if named in ("evt2", "evt3"):
            return named
        if named is None and suffix == ".dat":
            return "dat"
        raise ValueError(f"read_events: {os.fspath(path)!r}: the '%' header names format {named!r}; expected a DAT "
                         "file (.dat) or a RAW file stating 'evt 2.0' / 'evt 3.0' (or pass format=)")
    guess = _BY_SUFFIX.get(suffix)
    if guess in ("atis", "dat"):
        return guess
    expected = {"aedat4": "'#!AER-DAT4.0'", "aedat": "'#!AER-DAT2.0' or '#!AER-DAT3.1'", "raw": "a '%' header"}
    if guess in expected:
        raise ValueError(f"read_events: {os.fspath(path)!r}: starts with {head[:12]!r}; a {suffix} file must start "
                         f"with {expected[guess]}")
    raise ValueError(f"read_events: {os.fspath(path)!r}: cannot tell the format from the header or the suffix "
                     f"{suffix!r}; pass format= one of {sorted(FORMATS)}")


def _scan(path: str | os.PathLike, format: str | None, step: int) -> Chunks:
    if format is None:
        format = detect_format(path)
    if format not in FORMATS:
        raise ValueError(f"read_events: unknown format {format!r}; expected one of {sorted(FORMATS)}")
    return FORMATS[format](path, step=step)


def read_events(path: str | os.PathLike, *, format: str | None = None) -> Recording:
    """Read every event of an event-camera file, choosing the reader by header and suffix.

    Args:
        path: the file.
        format: one of :data:`FORMATS` (``'atis'``, ``'aedat'``, ``'aedat4'``, ``'cifar10dvs'``,
            ``'dat'``, ``'evt2'``, ``'evt3'``) to skip detection.

    Returns:
        Recording: Events [N] in file order and the (W, H) the file states, else None.

    Raises:
        FileNotFoundError, ValueError: as the chosen reader, or when the format is unknown.
    """
    sensor_size, steps = _scan(path, format, READ_STEP)
    return Recording(concatenate(steps), sensor_size)


def iter_events(path: str | os.PathLike, *, chunk_size: int = 1_000_000,
                format: str | None = None) -> Iterator[np.ndarray]:
    """Stream a file as Events chunks of exactly ``chunk_size`` events (the last may be shorter).

    The file is memory-mapped or read packet by packet, never loaded whole, and decoder state
    (EVT 3.0 time and address, timestamp wraps) carries across chunks, so the concatenated chunks
    equal ``read_events(path).events``. An empty recording yields no chunk.

    Raises:
        FileNotFoundError, ValueError: as :func:`read_events`, when iteration reaches the problem.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"iter_events: chunk_size is {chunk_size!r}; expected a positive integer")
    _, steps = _scan(path, format, int(chunk_size))
    yield from rechunk(steps, int(chunk_size))
