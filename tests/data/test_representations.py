"""The representation vocabulary: every registered entry honours its contract, and the cache key follows it."""

import dataclasses

import numpy as np
import pytest

from ltsnn.data import cache as cache_module, make_events
from ltsnn.data.cache import FrameJob, cache_key
from ltsnn.data.io import Recording
from ltsnn.data.representations import REPRESENTATIONS, Representation

SENSOR = (9, 7)


def events(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return make_events(np.sort(rng.integers(0, 10_000, n)), rng.integers(0, SENSOR[0], n),
                       rng.integers(0, SENSOR[1], n), rng.integers(0, 2, n))


@pytest.mark.parametrize("name", sorted(REPRESENTATIONS))
def test_contract(name):
    entry = REPRESENTATIONS.lookup(name)
    assert isinstance(entry, Representation) and entry.name == name and entry.version >= 1
    assert "sensor_size" not in entry.option_names and "t_range" not in entry.option_names
    assert "n_time_bins" in entry.option_names and "n_time_bins" not in entry.dataset_options
    options = entry.resolve(n_time_bins=3, bin_by="duration")
    assert list(options) == sorted(entry.option_names)                   # every option, defaults filled in
    frames = entry(events(), sensor_size=SENSOR, **options)
    assert frames.dtype == np.float32 and frames.ndim == 4 and len(frames) == 3
    stored = frames.astype(entry.storage_dtype(options))
    np.testing.assert_array_equal(stored, frames)                        # the storage dtype holds the values exactly
    key = entry.key(options)
    assert key == entry.key({"n_time_bins": 3, **({entry.binning: "duration"} if entry.binning else {})})
    assert key["name"] == name and key["version"] == entry.version and key != entry.key({**options, "n_time_bins": 4})
    with pytest.raises(ValueError, match=rf"unknown option\(s\) \['colour'\] for representation '{name}'"):
        entry.resolve(n_time_bins=3, bin_by="duration", colour=True)


def test_storage_dtypes():
    frames = REPRESENTATIONS.lookup("frames")
    assert frames.storage_dtype({"n_time_bins": 2}) == np.uint8
    assert frames.storage_dtype({"n_time_bins": 2, "binary": False}) == np.uint16
    assert frames.storage_dtype({"n_time_bins": 2, "size": (3, 3)}) == np.float32
    assert frames.storage_dtype({"n_time_bins": 2, "size": (3, 3), "resize_mode": "nearest"}) == np.uint8
    assert REPRESENTATIONS.lookup("ltsnn_colour").storage_dtype({"n_time_bins": 2}) == np.uint8
    assert REPRESENTATIONS.lookup("voxel_grid").storage_dtype({"n_time_bins": 2}) == np.float32


def test_binning_takes_the_data_sets_bin_by():
    assert REPRESENTATIONS.lookup("ltsnn_colour").resolve(n_time_bins=4, bin_by="ltsnn")["binning"] == "ltsnn"
    with pytest.raises(ValueError, match="representation 'voxel_grid' has a single time rule; bin_by is 'count'"):
        REPRESENTATIONS.lookup("voxel_grid").resolve(n_time_bins=4, bin_by="count")


def test_cache_key_is_built_from_the_representation(tmp_path, monkeypatch):
    path = tmp_path / "a.npy"
    np.save(path, events())
    job = FrameJob(paths=(str(path),), windows=(None,), read=Recording, sensor_size=SENSOR,
                   frame_options={"n_time_bins": 3})
    key = cache_key(job, dataset="fake", split="train", root=tmp_path)
    explicit = job._replace(frame_options=REPRESENTATIONS.lookup("frames").options({"n_time_bins": 3}))
    assert cache_key(explicit, dataset="fake", split="train", root=tmp_path) == key   # defaults are part of the key
    assert cache_key(job._replace(representation="voxel_grid"), dataset="fake", split="train", root=tmp_path) != key
    bumped = dataclasses.replace(REPRESENTATIONS["frames"], version=REPRESENTATIONS["frames"].version + 1)
    monkeypatch.setitem(cache_module.REPRESENTATIONS, "frames", bumped)
    assert cache_key(job, dataset="fake", split="train", root=tmp_path) != key         # a new version: a new key
