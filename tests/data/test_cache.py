"""The on-disk frame cache: key, hit without reading events, rebuild of truncated / foreign / unfinished
caches, a build killed midway, parallel build, pickling of a cached data set; and a cache that cannot
go stale (issue 14, finding 3): a change of the reader's code, a same-size edit of a source file
with its mtime kept, and frames corrupted in place are each rebuilt."""

import doctest
import importlib.util
import json
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from ltsnn.data import create_dataset, make_events, to_frames
from ltsnn.data import cache as cache_module
from ltsnn.data.cache import (FrameJob, cache_key, cached_frames, code_description, compute_frames, stored_frames,
                               verify_cache)
from ltsnn.data.fingerprint import code_files, code_fingerprint
from ltsnn.data.io import Recording, read_atis_bin

SENSOR = (16, 16)
OPTIONS = {"n_time_bins": 3, "bin_by": "duration", "binary": False}
READS = []


def write_events(path: Path, n: int, seed: int) -> None:
    """A tiny event file read by :func:`read_npy_events`: n random events on a 16x16 sensor."""
    rng = np.random.default_rng(seed)
    events = make_events(np.sort(rng.integers(0, 10_000, n)), rng.integers(0, 16, n), rng.integers(0, 16, n),
                         rng.integers(0, 2, n))
    np.save(path, events)


def read_npy_events(path: str) -> Recording:
    READS.append(path)
    return Recording(np.load(path), SENSOR)


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    paths = []
    for i in range(12):
        write_events(root / f"{i:02d}.npy", n=20 + i, seed=i)
        paths.append(str(root / f"{i:02d}.npy"))
    return root, paths


def job_of(paths, **options) -> FrameJob:
    return FrameJob(paths=tuple(paths), windows=(None,) * len(paths), read=read_npy_events, sensor_size=SENSOR,
                    frame_options={**OPTIONS, **options})


def expected_frames(paths, **options) -> np.ndarray:
    return np.stack([to_frames(np.load(p), sensor_size=SENSOR, **{**OPTIONS, **options}) for p in paths])


def build(job, root, cache_dir, **kw):
    return cached_frames(job, cache_dir=cache_dir, dataset="fake", split="train", root=root, **kw)


def test_build_then_hit_without_reading_events(files, tmp_path):
    root, paths = files
    READS.clear()
    first = build(job_of(paths), root, tmp_path / "cache")
    assert not first.hit and len(READS) == len(paths)
    np.testing.assert_array_equal(first.frames, expected_frames(paths))
    assert first.frames.dtype == np.uint16 and isinstance(first.frames, np.memmap)
    READS.clear()
    second = build(job_of(paths), root, tmp_path / "cache")
    assert second.hit and READS == [] and second.path == first.path
    np.testing.assert_array_equal(second.frames, first.frames)
    assert {p.name for p in first.path.parent.iterdir()} == {first.path.name, first.path.with_suffix(".json").name}
    assert verify_cache(first.path) is None


def test_key_follows_files_options_version_and_code(files, monkeypatch):
    root, paths = files
    key = cache_key(job_of(paths), dataset="fake", split="train", root=root)
    assert key == cache_key(job_of(paths), dataset="fake", split="train", root=root)
    assert key != cache_key(job_of(paths), dataset="fake", split="test", root=root)
    assert key != cache_key(job_of(paths), dataset="other", split="train", root=root)
    assert key != cache_key(job_of(paths[:-1]), dataset="fake", split="train", root=root)
    assert key != cache_key(job_of(paths, n_time_bins=4), dataset="fake", split="train", root=root)
    assert key != cache_key(job_of(paths, binary=True), dataset="fake", split="train", root=root)
    os.utime(paths[3], ns=(1, 1))                       # file metadata is checked on open, not part of the key
    assert cache_key(job_of(paths), dataset="fake", split="train", root=root) == key
    monkeypatch.setattr(cache_module, "__version__", "9.9.9")
    versioned = cache_key(job_of(paths), dataset="fake", split="train", root=root)
    assert versioned != key
    monkeypatch.setattr(cache_module, "code_fingerprint", lambda modules, packages: "other code")
    assert cache_key(job_of(paths), dataset="fake", split="train", root=root) != versioned


def test_code_covers_reader_package_frames_and_representation(monkeypatch):
    seen = []
    monkeypatch.setattr(cache_module, "code_fingerprint", lambda *args: seen.append(args) or "f")
    job = FrameJob(paths=("a",), windows=(None,), read=read_atis_bin, sensor_size=SENSOR, frame_options=OPTIONS,
                   representation="voxel_grid")
    assert code_description(job) == {"ltsnn": cache_module.__version__, "numpy": np.__version__, "fingerprint": "f"}
    modules, packages = seen[0]
    assert set(modules) == {"ltsnn.data.cache", "ltsnn.data.io.atis", "ltsnn.data.functional.voxel",
                            "ltsnn.data.representations"} and packages == ("ltsnn.data.io",)
    package = Path(cache_module.__file__).parents[1]                          # the ltsnn folder
    files = {p.relative_to(package.parent).as_posix() for p in code_files(modules, packages)}
    io_files = {f"ltsnn/data/io/{p.name}" for p in (package / "data" / "io").glob("[!_]*.py")}
    assert io_files | {"ltsnn/data/cache.py", "ltsnn/data/events.py", "ltsnn/data/functional/frames.py",
                       "ltsnn/data/functional/resize.py", "ltsnn/data/functional/voxel.py",
                       "ltsnn/data/representations.py"} <= files
    assert not [f for f in files if f.startswith(("ltsnn/data/datasets/", "ltsnn/engine/", "ltsnn/models/"))]


@pytest.mark.parametrize("damage", ["truncate", "append", "foreign_key", "foreign_array", "no_json", "garbage_json"])
def test_damaged_cache_is_rebuilt(files, tmp_path, caplog, damage):
    root, paths = files
    built = build(job_of(paths), root, tmp_path / "cache")
    npy, meta = built.path, built.path.with_suffix(".json")
    reference = np.array(built.frames)
    del built
    if damage == "truncate":
        os.truncate(npy, npy.stat().st_size - 100)
    elif damage == "append":
        with open(npy, "ab") as f:
            f.write(b"\0" * 16)
    elif damage == "foreign_key":
        info = json.loads(meta.read_text())
        meta.write_text(json.dumps({**info, "key": "0" * 64}))
    elif damage == "foreign_array":
        np.save(npy, np.zeros((2, 3), dtype=np.uint16))
    elif damage == "no_json":
        meta.unlink()
    else:
        meta.write_text("{not json")
    READS.clear()
    with caplog.at_level(logging.WARNING, logger="ltsnn.data.cache"):
        again = build(job_of(paths), root, tmp_path / "cache")
    assert not again.hit and len(READS) == len(paths)                          # rebuilt, never used
    assert [r.message for r in caplog.records if "rebuilding" in r.message], caplog.text
    np.testing.assert_array_equal(again.frames, reference)
    assert verify_cache(again.path) is None


def test_verify_detects_changed_bytes(files, tmp_path):
    root, paths = files
    built = build(job_of(paths), root, tmp_path / "cache")
    path = built.path
    del built
    flip_last_byte(path)
    assert "sha256 of the frames" in verify_cache(path)


# ------------------------------------------------------------------------ a cache that cannot go stale

READER = textwrap.dedent("""
    import numpy as np
    from ltsnn.data.io import Recording

    SHIFT = {shift}

    def read(path):
        events = np.load(path)
        events["x"] = (events["x"] + SHIFT) % 16
        return Recording(events, (16, 16))
""")


def load_reader(folder: Path, monkeypatch, *, shift: int):
    """A reader module written in ``folder``, imported as a new process would import it."""
    path = folder / "stale_reader.py"
    path.write_text(READER.format(shift=shift))
    spec = importlib.util.spec_from_file_location("stale_reader", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "stale_reader", module)
    spec.loader.exec_module(module)
    code_fingerprint.cache_clear()                                             # as in a new process
    return module


def test_reader_code_change_rebuilds(files, tmp_path, monkeypatch, caplog):
    root, paths = files
    # A .pyc is validated by the source's size and mtime in seconds: the edit below keeps both.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    reader = load_reader(tmp_path, monkeypatch, shift=0)
    first = build(job_of(paths)._replace(read=reader.read), root, tmp_path / "cache")
    np.testing.assert_array_equal(first.frames, expected_frames(paths))
    reader = load_reader(tmp_path, monkeypatch, shift=1)                      # same name, same version, new code
    with caplog.at_level(logging.WARNING, logger="ltsnn.data.cache"):
        second = build(job_of(paths)._replace(read=reader.read), root, tmp_path / "cache")
    assert not second.hit and second.path != first.path
    np.testing.assert_array_equal(second.frames, np.roll(expected_frames(paths), 1, axis=-1))
    assert f"frame cache {first.path}: made by other code (fingerprint" in caplog.text
    code_fingerprint.cache_clear()                                             # a process with the new code again
    assert build(job_of(paths)._replace(read=reader.read), root, tmp_path / "cache").hit


def edit_keeping_size_and_mtime(path: str) -> None:
    """Move one event one pixel: the file keeps its size, and its mtime is put back."""
    st = os.stat(path)
    events = np.load(path)
    events["x"][0] = (events["x"][0] + 1) % 16
    np.save(path, events)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)


@pytest.mark.parametrize("by", ["content", "stat"])
def test_same_size_edit_with_mtime_kept_rebuilds(files, tmp_path, monkeypatch, caplog, by):
    """``content``: files just written are checked by content; ``stat``: older ones by their ctime."""
    root, paths = files
    if by == "stat":
        monkeypatch.setattr(cache_module, "_RACY_NS", 0)                      # as if the files were old
    build(job_of(paths), root, tmp_path / "cache")
    time.sleep(0.05)                                                           # past a tick of the file clock
    edit_keeping_size_and_mtime(paths[3])
    hashed, real = [], cache_module.file_sha256
    monkeypatch.setattr(cache_module, "file_sha256", lambda path: hashed.append(path) or real(path))
    READS.clear()
    with caplog.at_level(logging.WARNING, logger="ltsnn.data.cache"):
        again = build(job_of(paths), root, tmp_path / "cache")
    assert not again.hit and len(READS) == len(paths)
    assert "source file 03.npy changed since the cache was built (same size, other content); rebuilding" in caplog.text
    if by == "stat":
        assert hashed[0] == paths[3]                                           # files 0..2 passed by stat alone
    np.testing.assert_array_equal(again.frames, expected_frames(paths))


def test_copied_data_set_is_recognised_by_content(files, tmp_path, monkeypatch):
    root, paths = files
    monkeypatch.setattr(cache_module, "_RACY_NS", 0)
    build(job_of(paths), root, tmp_path / "cache")
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)                                               # new inodes and ctimes, same bytes
    copied = [str(copy / Path(p).name) for p in paths]
    READS.clear()
    hit = build(job_of(copied), copy, tmp_path / "cache")
    assert hit.hit and READS == []
    hashed = []
    monkeypatch.setattr(cache_module, "file_sha256", lambda path: hashed.append(path))
    assert build(job_of(copied), copy, tmp_path / "cache").hit and hashed == []   # records refreshed: by stat now


def flip_last_byte(path: Path) -> None:
    with open(path, "r+b") as f:                                               # same size, one byte flipped
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))


def test_corrupted_frames_of_the_right_size_are_rebuilt(files, tmp_path, monkeypatch, caplog):
    root, paths = files
    monkeypatch.setattr(cache_module, "_RACY_NS", 0)
    built = build(job_of(paths), root, tmp_path / "cache")
    reference = np.array(built.frames)
    del built
    hashes = []
    real = cache_module._sha256
    monkeypatch.setattr(cache_module, "_sha256", lambda frames: hashes.append(1) or real(frames))
    assert build(job_of(paths), root, tmp_path / "cache").hit and len(hashes) == 1
    assert build(job_of(paths), root, tmp_path / "cache").hit and len(hashes) == 1   # checked once per process
    time.sleep(0.05)                                                           # past a tick of the file clock
    flip_last_byte(cache_module.cache_paths(tmp_path / "cache", dataset="fake", split="train", key=cache_key(
        job_of(paths), dataset="fake", split="train", root=root))[0])
    READS.clear()
    with caplog.at_level(logging.WARNING, logger="ltsnn.data.cache"):
        again = build(job_of(paths), root, tmp_path / "cache")
    assert not again.hit and len(READS) == len(paths)
    assert "sha256 of the frames is" in caplog.text and "rebuilding it" in caplog.text
    np.testing.assert_array_equal(again.frames, reference)


def test_failure_midway_leaves_nothing(files, tmp_path, monkeypatch):
    root, paths = files
    real = cache_module.file_frames

    def failing(job, i):
        if i == 7:
            raise ValueError("disk on fire")
        return real(job, i)

    monkeypatch.setattr(cache_module, "file_frames", failing)
    with pytest.raises(ValueError, match="disk on fire"):
        build(job_of(paths), root, tmp_path / "cache")
    assert list((tmp_path / "cache" / "fake").iterdir()) == []                # not even the temporary file


KILLED_BUILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import test_cache
    from ltsnn.data.cache import cached_frames

    class SlowLog(list):                            # slows the reader down without changing it (or the key)
        def append(self, item):
            time.sleep(0.3)
            super().append(item)

    test_cache.READS = SlowLog()
    cached_frames(test_cache.job_of({paths!r}), cache_dir={cache!r}, dataset="fake", split="train", root={root!r})
    print("finished", flush=True)
""")


def test_build_killed_midway_leaves_nothing_usable(files, tmp_path):
    root, paths = files
    cache = tmp_path / "cache"
    script = KILLED_BUILD.format(tests=str(Path(__file__).parent), paths=paths, cache=str(cache), root=str(root))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 60
        while not list((cache / "fake").glob(".*.tmp")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert list((cache / "fake").glob(".*.tmp")), proc.stderr.read().decode() if proc.poll() is not None else ""
        time.sleep(0.4)                                                        # it is writing frames now
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert [p.name for p in (cache / "fake").iterdir() if not p.name.startswith(".")] == []   # no .npy, no .json
    READS.clear()
    again = build(job_of(paths), root, cache)                                  # same key as the killed build
    assert not again.hit and len(READS) == len(paths)
    np.testing.assert_array_equal(again.frames, expected_frames(paths))
    assert [p.name for p in (cache / "fake").iterdir() if p.name.startswith(".")] == []     # its temporary removed


def test_parallel_build_equals_serial(files, tmp_path):
    root, paths = files
    serial = compute_frames(job_of(paths))
    parallel = build(job_of(paths), root, tmp_path / "cache", num_workers=2)
    np.testing.assert_array_equal(parallel.frames, serial)


def _killed_worker(*args):
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_is_a_one_line_error_and_caches_nothing(files, tmp_path, monkeypatch):
    root, paths = files
    monkeypatch.setattr(cache_module, "_task_frames", _killed_worker)      # forked workers inherit the patch
    with pytest.raises(ChildProcessError, match="a worker died while reading .* nothing was cached"):
        build(job_of(paths), root, tmp_path / "cache", num_workers=2)
    assert not list((tmp_path / "cache").rglob("*.npy"))


def test_windows_make_samples(files):
    _, paths = files
    events = np.load(paths[0])
    windows = ((0, 5_000), (5_000, 10_001))
    job = job_of(paths[:1])._replace(windows=(windows,))
    frames = compute_frames(job)
    assert frames.shape[0] == 2 and frames.sum() == len(events)
    np.testing.assert_array_equal(frames[1], to_frames(events[events["t"] >= 5_000], sensor_size=SENSOR, **OPTIONS))


def test_an_empty_window_is_an_error_naming_the_file_and_window(files):
    _, paths = files
    job = job_of(paths[:1])._replace(windows=(((0, 5_000), (10**9, 10**9 + 1)),))
    with pytest.raises(ValueError, match=r"window 1 \[1000000000, 1000000001\) µs: no events"):
        compute_frames(job)


def test_counts_that_do_not_fit_raise():
    events = make_events(np.zeros(70_000, dtype=np.int64), np.zeros(70_000, np.int64), np.zeros(70_000, np.int64),
                         np.ones(70_000, np.int64))
    with pytest.raises(ValueError, match=r"sample 9: a frame value is 70000.0; the frames are stored as uint16"):
        stored_frames(events, sensor_size=(2, 2), frame_options={"n_time_bins": 1, "binary": False}, where="sample 9")
    binary = stored_frames(events, sensor_size=(2, 2), frame_options={"n_time_bins": 1, "binary": True}, where="s")
    assert binary.dtype == np.uint8 and binary.sum() == 1
    resized = stored_frames(events, sensor_size=(2, 2), frame_options={"n_time_bins": 1, "size": (1, 1)}, where="s")
    assert resized.dtype == np.float32 and resized.sum() == pytest.approx(0.25)


def write_nmnist_small(folder: Path) -> None:
    """Ten recordings in the nmnist_small layout (two classes)."""
    folder.mkdir()
    lines = ["#sample #class"]
    for i in range(10):
        lines.append(f"{i + 1}\t{i % 2}")
        t = np.arange(i + 2) * 1000
        record = np.stack([np.full_like(t, i), np.full_like(t, i), (t % 2 << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF],
                          axis=1).astype(np.uint8)
        (folder / f"{i + 1}.bs2").write_bytes(record.tobytes())
    (folder / "train1K.txt").write_text("\n".join(lines) + "\n")


def test_dataset_reads_cache_without_event_files(tmp_path, monkeypatch):
    write_nmnist_small(tmp_path / "nm")
    kw = dict(split="train", root=tmp_path / "nm", n_time_bins=2, cache_dir=tmp_path / "cache", binary=False)
    first = create_dataset("nmnist_small", **kw)
    assert not first.from_cache and first.cache_file.parent == tmp_path / "cache" / "nmnist_small"

    def no_reading(*args, **kwargs):
        raise AssertionError("a cache hit must not read event files")

    monkeypatch.setattr(cache_module, "file_frames", no_reading)
    second = create_dataset("nmnist_small", **kw)
    assert second.from_cache and second.cache_file == first.cache_file
    for i in range(len(first)):
        assert np.array_equal(first[i][0].numpy(), second[i][0].numpy()) and first[i][1] == second[i][1]
    copy = pickle.loads(pickle.dumps(second))                                 # as a spawned loader worker gets it
    assert isinstance(copy.frames, np.memmap) and np.array_equal(copy.frames, second.frames)
    assert len(pickle.dumps(second)) < second.frames.nbytes                    # the path travels, not the frames


def test_only_temporaries_of_dead_writers_are_removed(tmp_path):
    from ltsnn.files import atomic_path, remove_dead_temporaries
    target = tmp_path / "frames.npy"
    live = tmp_path / f".frames.npy.{os.getpid()}.abc.tmp"                   # this process: it may be writing
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()
    dead = tmp_path / f".frames.npy.{dead_pid}.abc.tmp"
    live.touch()
    dead.touch()
    assert remove_dead_temporaries(target) == [dead] and live.exists()
    with pytest.raises(RuntimeError, match="stop"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]     # no target, no new temporary


def test_docstring_example_runs():
    result = doctest.testmod(cache_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
