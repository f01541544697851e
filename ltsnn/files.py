"""Atomic file writes: a crash at any point leaves the previous file or the new one, never half of one.

Every file ltsnn writes for later use (frame caches, generated data sets, checkpoints, reports) goes
through :func:`atomic_path`: the content is written to a temporary file in the same folder, flushed
to disk, and renamed over the final name (``os.replace`` is atomic within a file system); the folder
is then flushed so the rename itself survives a crash. Temporaries are named
``.<name>.<pid>.<random>.tmp``, so that :func:`remove_dead_temporaries` can tell those of a killed
process from those a live one is still writing.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_text_atomic(folder / "a.txt", "hello\\n")
    >>> (folder / "a.txt").read_text()
    'hello\\n'
"""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

log = logging.getLogger(__name__)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; on a clean exit it replaces ``path``.

    For writers that need a file name rather than a stream (``np.lib.format.open_memmap``). The
    temporary exists (empty) when the block starts; close every handle on it before the block ends.
    If the block raises, the temporary is deleted and ``path`` is left as it was.

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.npy"
        >>> with atomic_path(out) as tmp:
        ...     frames = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(2, 3))
        ...     frames[:] = 1
        ...     del frames                     # flush and close the map before the rename
        >>> int(np.load(out).sum())
        6
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())                        # mkstemp makes 0600; a plain open() would not
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Replace ``path`` by what ``write`` puts in a binary file (see :func:`atomic_path`).

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "boxes.npy"
        >>> write_atomic(out, lambda f: np.save(f, np.arange(3)))
        >>> np.load(out).tolist()
        [0, 1, 2]
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` by ``text`` (UTF-8) atomically."""
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def remove_dead_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries of ``path`` left by processes that were killed while writing it.

    A temporary whose process still runs is kept: it may be writing now. Returns the removed paths
    (each is logged as a warning).
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            log.warning("removing %s, left by an interrupted write of %s", tmp, path.name)
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                 # another user's process: alive
        return True
    return True


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; not every platform can open a folder, which is harmless there."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux's ``/proc``): setting
    it to read it back would, for a moment, let another thread create a file readable by everyone."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)                                      # elsewhere: set a strict one and put it back
    os.umask(mask)
    return mask
