"""Frames of a whole split computed once from event files, in memory or in an on-disk cache.

A :class:`FrameJob` says how one split's event files become frames: which files, which time
windows of them are samples, the reader, the sensor size, and the representation
(:mod:`ltsnn.data.representations`) with its options. :func:`compute_frames` runs it (in parallel, with a
progress bar if asked) into an array ``[N, T, C, H, W]``; :func:`cached_frames` does the same once
and keeps the result on disk.

The cache of a split is two files in ``cache_dir/<data set>/``:

- ``<split>-<key>.npy``: the frames, a plain ``.npy`` read with ``np.load(mmap_mode="r")``;
- ``<split>-<key>.json``: the full key, the shape, dtype and sha256 of the frames, and a record of
  each source file (size, sha256, and mtime, ctime and inode), written last.

The key (:func:`cache_key`) is the sha256 of the cache format, the code that makes the frames
(:func:`code_description`: ltsnn and numpy versions and a fingerprint of the source of the reader,
this module, the representation and every ltsnn module they import), the data set, split, each
file's path relative to the root with its sample windows, the reader, the sensor size, and the
representation's :meth:`~ltsnn.data.representations.Representation.key` (name, version, every
option with the defaults filled in). Both files are written atomically (:func:`ltsnn.files.atomic_path`),
the ``.json`` last, so a build killed at any point leaves no pair that a later run would use.

A pair is used only when the ``.json`` names the same key; the ``.npy`` has the recorded shape,
dtype and exact byte size; each source file has its recorded size and either its recorded
(mtime, ctime, inode), which no edit can keep (ctime cannot be set), or else its recorded sha256
(a copied data set: the records are then refreshed); and the frames have their recorded sha256,
checked on the first open in a process. Otherwise it is rebuilt, with one log line saying why.
A cache made for the same files by other code is left in place (another install may use it) and
named in a log line. :func:`verify_cache` checks a pair in full, sha256 included.

Example:
    >>> import tempfile, pathlib
    >>> from ltsnn.data import make_events
    >>> from ltsnn.data.io import read_dat, write_dat
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> write_dat(root / "a.dat", make_events([0, 5, 9], [0, 1, 1], [0, 0, 1], [1, 1, 0]), sensor_size=(2, 2))
    >>> job = FrameJob(paths=(str(root / "a.dat"),), windows=(None,), read=read_dat, sensor_size=(2, 2),
    ...                frame_options={"n_time_bins": 2, "binary": False})
    >>> first = cached_frames(job, cache_dir=root / "cache", dataset="demo", split="train", root=root)
    >>> again = cached_frames(job, cache_dir=root / "cache", dataset="demo", split="train", root=root)
    >>> first.frames.shape, first.hit, again.hit, int(again.frames.sum())
    ((1, 2, 2, 2, 2), False, True, 3)

Only numpy here (tqdm is imported when a progress bar is asked for).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, NamedTuple

import numpy as np

from ltsnn import __version__
from ltsnn.data.fingerprint import code_fingerprint, file_sha256
from ltsnn.data.representations import REPRESENTATIONS
from ltsnn.files import atomic_path, remove_dead_temporaries, write_text_atomic

if TYPE_CHECKING:
    from ltsnn.data.io import Recording

# 2: the key holds the representation's key (name, version, resolved options).
# 3: the key holds the code, not the files' size and mtime; the .json records each source file.
CACHE_FORMAT = 3
CACHE_ENV = "LTSNN_CACHE"
# Files per task sent to a worker: enough to hide the inter-process overhead, few enough for a smooth bar.
_FILES_PER_TASK = 8
_HASH_CHUNK = 1 << 24
# File times are coarse (a clock tick, ~4 ms on Linux): a file changed within a tick of being read may
# keep its mtime and ctime. A file younger than this when recorded is trusted only by its content
# (git's "racily clean" rule).
_RACY_NS = 1_000_000_000
# (.npy path, mtime, ctime, inode) of the caches whose frames this process has checked against their sha256.
_VERIFIED: set[tuple] = set()

log = logging.getLogger(__name__)

Window = tuple[int, int]


class FrameJob(NamedTuple):
    """How the event files of one split become frames; picklable, so that worker processes can run it.

    Attributes:
        paths: the event files, in sample order.
        windows: per file, ``None`` when the whole file is one sample, else the ``[t_start, t_end)``
            windows (µs, in the file's time base) that are its samples, in order.
        read: path -> :class:`~ltsnn.data.io.Recording`; a module-level function (workers import it by name).
        sensor_size: (W, H) in pixels.
        frame_options: keyword arguments of the representation's function besides ``sensor_size``
            (for ``"frames"``: ``n_time_bins``, ``bin_by``, ``binary``, ...); omitted ones take its defaults.
        representation: a name in :data:`~ltsnn.data.representations.REPRESENTATIONS`.
    """

    paths: tuple[str, ...]
    windows: tuple[tuple[Window, ...] | None, ...]
    read: Callable[[str], Recording]
    sensor_size: tuple[int, int]
    frame_options: Mapping
    representation: str = "frames"

    @property
    def n_samples(self) -> int:
        return sum(1 if w is None else len(w) for w in self.windows)


def default_cache_dir() -> Path:
    """``$LTSNN_CACHE`` if set, else ``$XDG_CACHE_HOME/ltsnn`` (``~/.cache/ltsnn`` when that is unset)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ltsnn"


def file_frames(job: FrameJob, i: int) -> np.ndarray:
    """The frames of file ``i``'s samples: [k, T, C, H, W] in the representation's storage dtype (k = its sample count).

    Raises:
        ValueError: naming the file when it cannot be read or turned into frames (the reader's or
            to_frames' message follows), or when a value does not fit the storage dtype.
    """
    path = job.paths[i]
    events = job.read(path).events
    windows = job.windows[i]
    if windows is None:
        samples = [events]
    else:
        t = events["t"]
        if len(t) < 2 or bool(np.all(t[1:] >= t[:-1])):         # sorted (most files): a binary search per window
            bounds = np.searchsorted(t, np.asarray(windows, dtype=t.dtype).reshape(-1), side="left").reshape(-1, 2)
            samples = [events[a:b] for a, b in bounds]
        else:
            samples = [events[(t >= t0) & (t < t1)] for t0, t1 in windows]
    out = []
    for k, sample in enumerate(samples):
        where = path if windows is None else f"{path} window {k} [{windows[k][0]}, {windows[k][1]}) µs"
        if len(sample) == 0:                                    # an all-zero sample would train as "nothing"
            raise ValueError(f"{where}: no events; expected at least one event per sample")
        out.append(stored_frames(sample, sensor_size=job.sensor_size, frame_options=job.frame_options, where=where,
                                 representation=job.representation))
    return np.stack(out)


def stored_frames(events: np.ndarray, *, sensor_size: tuple[int, int], frame_options: Mapping, where: str,
                  representation: str = "frames") -> np.ndarray:
    """The representation's frames (``to_frames(events, sensor_size=..., **frame_options)`` by default)
    in its :meth:`~ltsnn.data.representations.Representation.storage_dtype`: uint8 for presence and
    colour frames, uint16 for counts, float32 for averaged resizes and voxel grids.

    Raises:
        ValueError: starting with ``where`` (the file or sample), from the representation's function,
            or when a frame value does not fit the storage dtype (nothing is clipped).
    """
    entry = REPRESENTATIONS.lookup(representation)
    dtype = entry.storage_dtype(frame_options)
    try:
        frames = entry(events, sensor_size=sensor_size, **frame_options)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    stored = frames.astype(dtype)
    if not np.array_equal(stored, frames):
        bad = np.flatnonzero(stored.ravel() != frames.ravel())[0]
        raise ValueError(f"{where}: a frame value is {frames.ravel()[bad]}; the frames are stored as {dtype}, "
                         f"which holds integers 0..{np.iinfo(dtype).max} (use binary frames or more time bins)")
    return stored


def compute_frames(job: FrameJob, *, allocate: Callable[[tuple[int, ...], np.dtype], np.ndarray] = np.empty,
                   num_workers: int = 0, progress: bool = False, desc: str = "frames") -> np.ndarray:
    """Run ``job`` into one array of frames [N, T, C, H, W] (N = ``job.n_samples``), in sample order.

    The first file is computed here to learn the frame shape; ``allocate(shape, dtype)`` then gives
    the array to fill (``np.empty``, or a memory-mapped file). With ``num_workers`` > 0 the other
    files are computed by that many worker processes (the platform's default start method, as
    torch's DataLoader; the workers run numpy only).

    Raises:
        ValueError: when there are no files (naming ``desc``), or from :func:`file_frames`.
    """
    return _compute(job, allocate=allocate, num_workers=num_workers, progress=progress, desc=desc, root=None)[0]


def code_description(job: FrameJob) -> dict[str, str]:
    """The code that makes ``job``'s frames: ltsnn and numpy versions and the
    :func:`~ltsnn.data.fingerprint.code_fingerprint` of the reader's module, this module (which
    cuts samples and stores frames), the representation's modules, every ltsnn module they import,
    and, for a reader of ltsnn, every module beside it (its helpers may be loaded by name).

    Raises:
        ValueError: when the reader or the representation is not defined in a Python source file.
    """
    entry = REPRESENTATIONS.lookup(job.representation)
    # Sorted: the fingerprint follows the order of the modules, which must not depend on set order.
    modules = tuple(sorted({__name__, job.read.__module__, entry.function.__module__, entry.storage.__module__}))
    package = job.read.__module__.rpartition(".")[0]
    packages = (package,) if package.startswith("ltsnn.") else ()
    return {"ltsnn": __version__, "numpy": np.__version__, "fingerprint": code_fingerprint(modules, packages)}


def cache_key(job: FrameJob, *, dataset: str, split: str, root: str | os.PathLike) -> str:
    """The hex sha256 that names a split's cache (see the module docstring for what it covers).

    No file of the data set is read; ltsnn's source files are, once per process (:func:`code_description`).
    """
    return _json_sha256({**_data_description(job, dataset=dataset, split=split, root=root),
                         "code": code_description(job)})


class CachedFrames(NamedTuple):
    """What :func:`cached_frames` gives: the frames (read-only memory map), the ``.npy`` path, and
    whether it was read from an existing cache (``hit``) rather than built now."""

    frames: np.ndarray
    path: Path
    hit: bool


def cached_frames(job: FrameJob, *, cache_dir: str | os.PathLike, dataset: str, split: str,
                  root: str | os.PathLike, num_workers: int = 0, progress: bool = False) -> CachedFrames:
    """The frames of ``job`` from its cache under ``cache_dir``, building the cache first if needed.

    A valid cache is memory-mapped; event files are read only when their metadata changed (to
    compare their sha256), and the frames once per process (to check their sha256). An invalid
    cache (truncated, written for another key, wrong shape or dtype, no ``.json``, a source file or
    the frames changed) is rebuilt, with a log line saying why. Building computes into a temporary
    ``.npy`` (see :func:`compute_frames`), then renames it and writes the ``.json`` (both through
    :mod:`ltsnn.files`).
    """
    description = _data_description(job, dataset=dataset, split=split, root=root)
    data_key, code = _json_sha256(description), code_description(job)
    key = _json_sha256({**description, "code": code})
    npy, meta = cache_paths(cache_dir, dataset=dataset, split=split, key=key)
    entry, reason = _open_cache(npy, meta, key)
    if entry is not None:
        reason = _changed_source(job, entry.info, meta) or _changed_frames(npy, meta, entry)
        if reason is None:
            return CachedFrames(entry.frames, npy, True)
        del entry                                                   # close the map before replacing the file
    if reason is not None:
        log.warning("frame cache %s: %s; rebuilding it", npy, reason)
    else:
        _name_other_code(npy, split=split, data_key=data_key, code=code)
    remove_dead_temporaries(npy)
    meta.unlink(missing_ok=True)                                    # the old pair must never look complete
    with atomic_path(npy) as tmp:
        frames, sources = _compute(job, allocate=lambda shape, dtype: np.lib.format.open_memmap(
            tmp, mode="w+", dtype=dtype, shape=shape), num_workers=num_workers, progress=progress,
            desc=f"{dataset} {split}", root=os.fspath(root))
        frames.flush()
        info = {"format": CACHE_FORMAT, "key": key, "data_key": data_key, "code": code,
                "dataset": dataset, "split": split, "ltsnn": __version__,
                "shape": list(frames.shape), "dtype": frames.dtype.str, "sha256": _sha256(frames),
                "representation": description["representation"], "sensor_size": list(job.sensor_size),
                "sources": sources}
        del frames                                                  # close the map before the rename
    write_text_atomic(meta, json.dumps(info, indent=1) + "\n")
    entry, reason = _open_cache(npy, meta, key)
    if entry is None:
        raise OSError(f"frame cache {npy}: just written but unreadable ({reason})")
    return CachedFrames(entry.frames, npy, False)


def cache_paths(cache_dir: str | os.PathLike, *, dataset: str, split: str, key: str) -> tuple[Path, Path]:
    """(frames ``.npy``, ``.json``) of one split's cache; the name holds the first 16 hex digits of the key."""
    stem = Path(cache_dir) / dataset / f"{split}-{key[:16]}"
    return stem.with_suffix(".npy"), stem.with_suffix(".json")


def verify_cache(npy: str | os.PathLike) -> str | None:
    """Check a cache pair in full, the sha256 of the frames included; ``None`` if sound, else why not.

    The source files are not checked here (that needs the data set's files: :func:`cached_frames` does it).
    """
    npy = Path(npy)
    meta = npy.with_suffix(".json")
    try:
        key = json.loads(meta.read_text())["key"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"unreadable {meta.name} ({e})"
    entry, reason = _open_cache(npy, meta, key)
    if entry is None:
        return reason
    return _frames_mismatch(meta, entry)


# ---------------------------------------------------------------------------------------------- helpers

class _Entry(NamedTuple):
    frames: np.memmap
    info: dict
    stat: os.stat_result                                            # of the .npy, taken before it was mapped


def _compute(job: FrameJob, *, allocate: Callable[[tuple[int, ...], np.dtype], np.ndarray], num_workers: int,
             progress: bool, desc: str, root: str | None) -> tuple[np.ndarray, list | None]:
    """:func:`compute_frames`, and with a ``root`` each file's :func:`_source_record` (else None),
    taken by the process that reads the file, just before it does."""
    if not job.paths:
        raise ValueError(f"{desc}: no event files to make frames from")
    if num_workers < 0:
        raise ValueError(f"{desc}: num_workers is {num_workers}; expected >= 0")
    sources = [None] * len(job.paths)
    sources[0], first = _file_entry(job, 0, root)
    out = allocate((job.n_samples, *first.shape[1:]), first.dtype)
    offsets = np.cumsum([0] + [1 if w is None else len(w) for w in job.windows])
    out[:len(first)] = first
    bar = _progress_bar(total=job.n_samples, desc=desc) if progress else None
    if bar is not None:
        bar.update(len(first))
    try:
        if num_workers == 0:
            for i in range(1, len(job.paths)):
                sources[i], frames = _file_entry(job, i, root)
                _store(out, offsets[i], frames, bar)
        else:
            n = len(job.paths)
            tasks = [range(s, min(s + _FILES_PER_TASK, n)) for s in range(1, n, _FILES_PER_TASK)]
            with ProcessPoolExecutor(max_workers=num_workers) as pool:
                futures = {pool.submit(_task_frames, job, task, root): task for task in tasks}
                for future in as_completed(futures):
                    try:
                        results = future.result()
                    except BrokenProcessPool:                   # a worker was killed (OOM killer, a signal)
                        files = futures[future]
                        raise ChildProcessError(f"frame cache: a worker died while reading {job.paths[files[0]]} ... "
                                           f"{job.paths[files[-1]]} (killed, or out of memory); nothing was "
                                           f"cached, run again (data.num_workers=0 reads in this process)") from None
                    for i, (record, frames) in zip(futures[future], results):
                        sources[i] = record
                        _store(out, offsets[i], frames, bar)
    finally:
        if bar is not None:
            bar.close()
    return out, None if root is None else sources


def _file_entry(job: FrameJob, i: int, root: str | None) -> tuple[list | None, np.ndarray]:
    # The record first: its hash pulls the file into the page cache, and a change while the reader
    # runs then shows as a new ctime (see _source_record).
    record = None if root is None else _source_record(job.paths[i], _relative(job.paths[i], root))
    return record, file_frames(job, i)


def _task_frames(job: FrameJob, files: range, root: str | None) -> list[tuple[list | None, np.ndarray]]:
    return [_file_entry(job, i, root) for i in files]


def _store(out: np.ndarray, offset: int, frames: np.ndarray, bar) -> None:
    if frames.shape[1:] != out.shape[1:]:
        raise ValueError(f"frames of shape {frames.shape[1:]} for sample {offset}; expected {out.shape[1:]} as the "
                         f"first sample's")
    out[offset:offset + len(frames)] = frames
    if bar is not None:
        bar.update(len(frames))


def _progress_bar(*, total: int, desc: str):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="sample", dynamic_ncols=True)


def _relative(path: str, root: str | os.PathLike) -> str:
    return Path(path).relative_to(root).as_posix()


def _data_description(job: FrameJob, *, dataset: str, split: str, root: str | os.PathLike) -> dict:
    """What the key holds besides the code: the frames asked for, and from which files (names only)."""
    files = [[_relative(path, root), None if windows is None else [list(w) for w in windows]]
             for path, windows in zip(job.paths, job.windows)]
    return {"format": CACHE_FORMAT, "dataset": dataset, "split": split,
            "reader": f"{job.read.__module__}.{job.read.__qualname__}", "sensor_size": list(job.sensor_size),
            "representation": REPRESENTATIONS.lookup(job.representation).key(job.frame_options), "files": files}


def _json_sha256(description: dict) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def _source_record(path: str, name: str) -> list:
    """[name, size, sha256, (mtime_ns, ctime_ns, inode) or None] of a source file, its stat taken
    before its bytes are hashed: a change after the stat then shows as another ctime."""
    st = os.stat(path)
    return [name, st.st_size, file_sha256(path), _stat_fields(st)]


def _stat_fields(st: os.stat_result) -> list[int] | None:
    """[mtime_ns, ctime_ns, inode], or None for a file changed too recently for its times to be trusted."""
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < _RACY_NS:
        return None
    return [st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _changed_source(job: FrameJob, info: dict, meta: Path) -> str | None:
    """None when every source file is as the ``.json`` records (by stat, else by sha256), else what changed.

    Files recognised by their sha256 get fresh records, written back so that the next check is by stat.
    """
    records = info.get("sources")
    if not isinstance(records, list) or len(records) != len(job.paths):
        return f"{meta.name} has no record of the {len(job.paths)} source files"
    refreshed = False
    for i, (path, record) in enumerate(zip(job.paths, records)):
        if not (isinstance(record, list) and len(record) == 4):
            return f"{meta.name} has a malformed source record {record!r}"
        name, size, digest, fields = record
        st = os.stat(path)
        if st.st_size != size:
            return f"source file {name} has {st.st_size} bytes, {size} when the cache was built"
        if fields is not None and fields == _stat_fields(st):
            continue
        records[i] = _source_record(path, name)
        if records[i][2] != digest:
            return f"source file {name} changed since the cache was built (same size, other content)"
        refreshed = True
    if refreshed:
        try:
            write_text_atomic(meta, json.dumps(info, indent=1) + "\n")
        except OSError:                                             # a read-only cache: check by content again next time
            pass
    return None


def _changed_frames(npy: Path, meta: Path, entry: _Entry) -> str | None:
    """:func:`_frames_mismatch`, skipped when this process has checked this very file already."""
    fields = _stat_fields(entry.stat)
    seen = None if fields is None else (str(npy), *fields)
    if seen is not None and seen in _VERIFIED:
        return None
    reason = _frames_mismatch(meta, entry)
    if reason is None and seen is not None:
        _VERIFIED.add(seen)
    return reason


def _frames_mismatch(meta: Path, entry: _Entry) -> str | None:
    actual, recorded = _sha256(entry.frames), entry.info.get("sha256")
    if actual != recorded:
        return f"sha256 of the frames is {actual[:16]}..., {meta.name} records {str(recorded)[:16]}..."
    return None


def _name_other_code(npy: Path, *, split: str, data_key: str, code: dict[str, str]) -> None:
    """Log the caches of the same frames made by other code: they stay (another install may use them)
    but take space."""
    for other in sorted(npy.parent.glob(f"{split}-*.json")):
        try:
            info = json.loads(other.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("data_key") == data_key:
            old = info.get("code") if isinstance(info.get("code"), dict) else {}
            change = ", ".join(f"{k} {str(old.get(k))[:12]} -> {v[:12]}" for k, v in code.items() if old.get(k) != v)
            log.warning("frame cache %s: made by other code (%s); building %s for this code (delete the old one "
                        "to reclaim its space)", other.with_suffix(".npy"), change, npy.name)


def _open_cache(npy: Path, meta: Path, key: str) -> tuple[_Entry | None, str | None]:
    """(entry, None) for a sound pair; (None, why) for an unusable one; (None, None) when there is none."""
    if not npy.exists() and not meta.exists():
        return None, None
    try:
        info = json.loads(meta.read_text())
    except FileNotFoundError:
        return None, f"{meta.name} is missing (an interrupted build)"
    except (OSError, ValueError) as e:
        return None, f"{meta.name} is unreadable ({e})"
    if not isinstance(info, dict) or info.get("format") != CACHE_FORMAT or info.get("key") != key:
        return None, f"{meta.name} was written for another key or cache format"
    try:
        st = npy.stat()
        frames = np.load(npy, mmap_mode="r")
    except FileNotFoundError:
        return None, f"{npy.name} is missing"
    except (OSError, ValueError, EOFError) as e:
        return None, f"{npy.name} is not a readable .npy ({' '.join(str(e).split())})"
    recorded = [info.get("shape"), info.get("dtype")]
    if not isinstance(frames, np.memmap) or [list(frames.shape), frames.dtype.str] != recorded:
        return None, (f"{npy.name} holds {frames.dtype} {list(frames.shape)}; {meta.name} records {info.get('dtype')} "
                      f"{info.get('shape')}")
    if st.st_size != frames.offset + frames.nbytes:
        return None, f"{npy.name} has {st.st_size} bytes; expected {frames.offset + frames.nbytes}"
    return _Entry(frames, info, st), None


def _sha256(frames: np.ndarray) -> str:
    digest = hashlib.sha256()
    flat = frames.reshape(-1).view(np.uint8)
    for start in range(0, flat.size, _HASH_CHUNK):
        digest.update(flat[start:start + _HASH_CHUNK])
    return digest.hexdigest()
