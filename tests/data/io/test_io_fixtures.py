"""Every real recording in ../shared/fixtures reads with its MANIFEST numbers, whole and in chunks."""

import numpy as np
import pytest

from ltsnn.data import to_frames
from ltsnn.data.io import detect_format, iter_events, read_events

FIXTURES = {   # file -> (format read_events must detect, sensor size the header states)
    "nmnist/tonic_sample_nmnist.bin": ("atis", None),
    "ncars/tonic_sample_ncars.dat": ("dat", None),
    "ncars/expelliarmus_NCARS_obj_004397_td.dat": ("dat", None),
    "prophesee_dat/faery_gen4_imx636.dat": ("dat", (1280, 720)),
    "prophesee_raw/expelliarmus_evt2_sparklers_gen3.raw": ("evt2", None),
    "prophesee_raw/expelliarmus_evt2_sample_gen3.raw": ("evt2", None),
    "prophesee_raw/expelliarmus_evt3_pedestrians_gen41.raw": ("evt3", None),
    "prophesee_raw/expelliarmus_evt3_sample_gen41.raw": ("evt3", None),
    "prophesee_raw/faery_evt3_imx636_evk4.raw": ("evt3", (1280, 720)),
    "aedat4/tonic_sample.aedat4": ("aedat4", (320, 240)),
    "aedat4/aermanager_data_sample.aedat4": ("aedat4", (320, 240)),
    "aedat4/faery_davis346.aedat4": ("aedat4", (346, 260)),
    "aedat2/tonic_sample_aedat_header.aedat": ("aedat", (346, 260)),
}


def test_every_non_nmnist_small_fixture_is_listed(manifest):
    listed = {name for name in manifest if not name.startswith("nmnist_small/")}
    assert listed == set(FIXTURES)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_matches_manifest(fixtures_dir, manifest, name):
    row = manifest[name]
    fmt, sensor_size = FIXTURES[name]
    path = fixtures_dir / name
    assert detect_format(path) == fmt
    recording = read_events(path)
    events = recording.events
    assert recording.sensor_size == sensor_size
    assert len(events) == int(row["events"])
    if len(events):
        assert f"[{events['x'].min()}, {events['x'].max()}]" == row["x_range"]
        assert f"[{events['y'].min()}, {events['y'].max()}]" == row["y_range"]
        assert (events["t"][-1] - events["t"][0]) / 1000 == pytest.approx(float(row["span_ms"]), abs=1e-3)
        assert set(np.unique(events["p"])) == {0, 1}
    if sensor_size is not None:    # the frames op validates every event against the stated sensor
        frames = to_frames(events, sensor_size=sensor_size, n_time_bins=2, binary=False)
        assert frames.shape == (2, 2, sensor_size[1], sensor_size[0]) and frames.sum() == len(events)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_chunks_concatenate_to_the_whole_read(fixtures_dir, name):
    path = fixtures_dir / name
    whole = read_events(path).events
    chunk_size = max(1, len(whole) // 7 + 3)        # several chunks, boundaries inside EVT3 state runs
    chunks = list(iter_events(path, chunk_size=chunk_size))
    assert all(len(c) == chunk_size for c in chunks[:-1]) and all(len(c) for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks) if chunks else whole[:0], whole)


def test_small_chunks_carry_evt3_state(fixtures_dir):
    path = fixtures_dir / "prophesee_raw/expelliarmus_evt3_pedestrians_gen41.raw"
    np.testing.assert_array_equal(np.concatenate(list(iter_events(path, chunk_size=13))), read_events(path).events)


def test_faery_evt3_and_dat_pair_decode_to_the_same_events(fixtures_dir):
    raw = read_events(fixtures_dir / "prophesee_raw/faery_evt3_imx636_evk4.raw").events
    dat = read_events(fixtures_dir / "prophesee_dat/faery_gen4_imx636.dat").events
    for field in ("x", "y", "p"):
        np.testing.assert_array_equal(raw[field], dat[field])
    np.testing.assert_array_equal(raw["t"] - dat["t"], np.full(len(raw), 11_194_368))
    assert raw["t"][-1] > 1 << 24          # the 24-bit EVT3 counter wrapped inside this recording

