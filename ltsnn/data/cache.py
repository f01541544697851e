"""Frames of a whole split computed once from event files, in memory or in an on-disk cache.

A :class:`FrameJob` says how one split's event files become frames: which files, which time
windows of them are samples, the reader, the sensor size, and the representation
(:mod:`ltsnn.data.representations`) with its options. :func:`compute_frames` runs it (in parallel, with a
progress bar if asked) into an array ``[N, T, C, H, W]``; :func:`cached_frames` does the same once
and keeps the result on disk.

The cache of a split is two files in ``cache_dir/<data set>/``:

- ``<split>-<key>.npy``: the frames, a plain ``.npy`` read with ``np.load(mmap_mode="r")``;
- ``<split>-<key>.json``: the full key, the shape, dtype and sha256 of the frames, written last.

The key is the sha256 of (cache format, ltsnn version, data set, split, each file's path relative
to the root with its size and mtime, the sample windows, reader, sensor size, and the
representation's :meth:`~ltsnn.data.representations.Representation.key`: its name, version and
every option with the defaults filled in). Both files are written atomically
(:func:`ltsnn.files.atomic_path`), the ``.json`` last, so a build killed at any point leaves no
pair that a later run would use. A pair is used only when the
``.json`` names the same key and the ``.npy`` has the recorded shape, dtype and exact byte size;
otherwise it is rebuilt, with one log line saying why. :func:`verify_cache` also checks the sha256.

Only numpy here (tqdm is imported when a progress bar is asked for).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, NamedTuple

import numpy as np

from ltsnn import __version__
from ltsnn.data.representations import REPRESENTATIONS
from ltsnn.files import atomic_path, remove_dead_temporaries, write_text_atomic

if TYPE_CHECKING:
    from ltsnn.data.io import Recording

# 2: the key holds the representation's key (name, version, resolved options).
CACHE_FORMAT = 2
CACHE_ENV = "LTSNN_CACHE"
# Files per task sent to a worker: enough to hide the inter-process overhead, few enough for a smooth bar.
_FILES_PER_TASK = 8
_HASH_CHUNK = 1 << 24

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
        samples = [events[(events["t"] >= t0) & (events["t"] < t1)] for t0, t1 in windows]
    out = []
    for k, sample in enumerate(samples):
        where = path if windows is None else f"{path} window {k} [{windows[k][0]}, {windows[k][1]}) µs"
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
    if not job.paths:
        raise ValueError(f"{desc}: no event files to make frames from")
    if num_workers < 0:
        raise ValueError(f"{desc}: num_workers is {num_workers}; expected >= 0")
    first = file_frames(job, 0)
    out = allocate((job.n_samples, *first.shape[1:]), first.dtype)
    offsets = np.cumsum([0] + [1 if w is None else len(w) for w in job.windows])
    out[:len(first)] = first
    bar = _progress_bar(total=job.n_samples, desc=desc) if progress else None
    if bar is not None:
        bar.update(len(first))
    try:
        if num_workers == 0:
            for i in range(1, len(job.paths)):
                _store(out, offsets[i], file_frames(job, i), bar)
        else:
            n = len(job.paths)
            tasks = [range(s, min(s + _FILES_PER_TASK, n)) for s in range(1, n, _FILES_PER_TASK)]
            with ProcessPoolExecutor(max_workers=num_workers) as pool:
                futures = {pool.submit(_task_frames, job, task): task for task in tasks}
                for future in as_completed(futures):
                    for i, frames in zip(futures[future], future.result()):
                        _store(out, offsets[i], frames, bar)
    finally:
        if bar is not None:
            bar.close()
    return out


def cache_key(job: FrameJob, *, dataset: str, split: str, root: str | os.PathLike) -> str:
    """The hex sha256 that names a split's cache (see the module docstring for what it covers).

    Only the files' metadata (``os.stat``) is read, never their contents.
    """
    root = Path(root)
    files = []
    for path, windows in zip(job.paths, job.windows):
        st = os.stat(path)
        files.append([Path(path).relative_to(root).as_posix(), st.st_size, st.st_mtime_ns,
                      None if windows is None else [list(w) for w in windows]])
    description = {"format": CACHE_FORMAT, "ltsnn": __version__, "dataset": dataset, "split": split,
                   "reader": f"{job.read.__module__}.{job.read.__qualname__}", "sensor_size": list(job.sensor_size),
                   "representation": REPRESENTATIONS.lookup(job.representation).key(job.frame_options), "files": files}
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


class CachedFrames(NamedTuple):
    """What :func:`cached_frames` gives: the frames (read-only memory map), the ``.npy`` path, and
    whether it was read from an existing cache (``hit``) rather than built now."""

    frames: np.ndarray
    path: Path
    hit: bool


def cached_frames(job: FrameJob, *, cache_dir: str | os.PathLike, dataset: str, split: str,
                  root: str | os.PathLike, num_workers: int = 0, progress: bool = False) -> CachedFrames:
    """The frames of ``job`` from its cache under ``cache_dir``, building the cache first if needed.

    A valid cache is memory-mapped without reading any event file. An invalid one (truncated,
    written for another key, wrong shape or dtype, no ``.json``) is rebuilt, with a log line saying
    why. Building computes into a temporary ``.npy`` (see :func:`compute_frames`), then renames it
    and writes the ``.json`` (both through :mod:`ltsnn.files`).
    """
    key = cache_key(job, dataset=dataset, split=split, root=root)
    npy, meta = cache_paths(cache_dir, dataset=dataset, split=split, key=key)
    frames, reason = _open_cache(npy, meta, key)
    if frames is not None:
        return CachedFrames(frames, npy, True)
    if reason is not None:
        log.warning("frame cache %s: %s; rebuilding it", npy, reason)
    remove_dead_temporaries(npy)
    meta.unlink(missing_ok=True)                                    # the old pair must never look complete
    with atomic_path(npy) as tmp:
        frames = compute_frames(job, allocate=lambda shape, dtype: np.lib.format.open_memmap(
            tmp, mode="w+", dtype=dtype, shape=shape), num_workers=num_workers, progress=progress,
            desc=f"{dataset} {split}")
        frames.flush()
        digest = _sha256(frames)
        info = {"format": CACHE_FORMAT, "key": key, "dataset": dataset, "split": split, "ltsnn": __version__,
                "shape": list(frames.shape), "dtype": frames.dtype.str, "sha256": digest,
                "representation": REPRESENTATIONS.lookup(job.representation).key(job.frame_options),
                "sensor_size": list(job.sensor_size)}
        del frames                                                  # close the map before the rename
    write_text_atomic(meta, json.dumps(info, indent=1) + "\n")
    frames, reason = _open_cache(npy, meta, key)
    if frames is None:
        raise OSError(f"frame cache {npy}: just written but unreadable ({reason})")
    return CachedFrames(frames, npy, False)


def cache_paths(cache_dir: str | os.PathLike, *, dataset: str, split: str, key: str) -> tuple[Path, Path]:
    """(frames ``.npy``, ``.json``) of one split's cache; the name holds the first 16 hex digits of the key."""
    stem = Path(cache_dir) / dataset / f"{split}-{key[:16]}"
    return stem.with_suffix(".npy"), stem.with_suffix(".json")


def verify_cache(npy: str | os.PathLike) -> str | None:
    """Check a cache pair in full, the sha256 of the frames included; ``None`` if sound, else why not."""
    npy = Path(npy)
    meta = npy.with_suffix(".json")
    try:
        key = json.loads(meta.read_text())["key"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"unreadable {meta.name} ({e})"
    frames, reason = _open_cache(npy, meta, key)
    if frames is None:
        return reason
    recorded = json.loads(meta.read_text())["sha256"]
    actual = _sha256(frames)
    if actual != recorded:
        return f"sha256 of the frames is {actual[:16]}..., {meta.name} records {recorded[:16]}..."
    return None


# ---------------------------------------------------------------------------------------------- helpers

def _task_frames(job: FrameJob, files: range) -> list[np.ndarray]:
    return [file_frames(job, i) for i in files]


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


def _open_cache(npy: Path, meta: Path, key: str) -> tuple[np.ndarray | None, str | None]:
    """(frames, None) for a sound pair; (None, why) for an unusable one; (None, None) when there is none."""
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
        frames = np.load(npy, mmap_mode="r")
    except FileNotFoundError:
        return None, f"{npy.name} is missing"
    except (OSError, ValueError, EOFError) as e:
        return None, f"{npy.name} is not a readable .npy ({' '.join(str(e).split())})"
    recorded = [info.get("shape"), info.get("dtype")]
    if not isinstance(frames, np.memmap) or [list(frames.shape), frames.dtype.str] != recorded:
        return None, (f"{npy.name} holds {frames.dtype} {list(frames.shape)}; {meta.name} records {info.get('dtype')} "
                      f"{info.get('shape')}")
    size = npy.stat().st_size
    if size != frames.offset + frames.nbytes:
        return None, f"{npy.name} has {size} bytes; expected {frames.offset + frames.nbytes}"
    return frames, None


def _sha256(frames: np.ndarray) -> str:
    digest = hashlib.sha256()
    flat = frames.reshape(-1).view(np.uint8)
    for start in range(0, flat.size, _HASH_CHUNK):
        digest.update(flat[start:start + _HASH_CHUNK])
    return digest.hexdigest()


