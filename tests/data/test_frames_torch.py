"""The torch frame builders give the numpy path's frames bit for bit, for every option, on every device."""

import itertools

import numpy as np
import pytest
import torch

from ltsnn.data import make_events
from ltsnn.data.functional import ltsnn_colour_frames, to_frames, to_voxel_grid
from ltsnn.data.torch_frames import (event_tensors, ltsnn_colour_frames_torch, to_frames_torch,
                                     to_voxel_grid_torch)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def random_events(seed, n, width, height, span=5000):
    rng = np.random.default_rng(seed)
    return make_events(np.sort(rng.integers(0, span, n)), rng.integers(0, width, n), rng.integers(0, height, n),
                       rng.integers(0, 2, n))


FRAME_OPTIONS = [
    dict(bin_by=bin_by, binary=binary, polarity_channels=channels, size=size, resize_mode=mode)
    for bin_by, binary, channels, (size, mode) in itertools.product(
        ["duration", "count", "window", "ltsnn"], [True, False], [1, 2],
        [(None, "area"), ((7, 5), "area"), ((48, 48), "bilinear"), ((9, 13), "bilinear"), ((6, 20), "nearest")])
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("options", FRAME_OPTIONS, ids=lambda o: "-".join(str(v) for v in o.values()))
def test_to_frames_torch_equals_numpy(options, device):
    for seed, n, width, height in [(0, 2000, 17, 11), (1, 1, 3, 4), (2, 0, 5, 5)]:
        events = random_events(seed, n, width, height)
        kwargs = dict(options, sensor_size=(width, height), n_time_bins=4)
        if options["bin_by"] == "window":
            kwargs.update(window_us=900, n_time_bins=[None, 3][seed % 2])
        if options["bin_by"] == "ltsnn" and n < 2:
            continue                                   # the LT-SNN rule needs a span of at least T - 1 µs
        expected = to_frames(events, **kwargs)
        got = to_frames_torch(*event_tensors(events, device), **kwargs)
        assert got.device.type == device and got.dtype == torch.float32
        np.testing.assert_array_equal(got.cpu().numpy(), expected)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bin_by", ["duration", "count", "window", "ltsnn"])
def test_to_frames_torch_equals_numpy_on_a_time_range(bin_by, device):
    rng = np.random.default_rng(5)
    for n in (2000, 1, 0):
        events = random_events(7, n, 17, 11, span=5000)
        events = events[rng.permutation(n)]                     # any order: the range fixes the bins
        kwargs = dict(sensor_size=(17, 11), n_time_bins=4, bin_by=bin_by, t_range=(-300, 5000), binary=False)
        if bin_by == "window":
            kwargs.update(window_us=900, n_time_bins=None)
        if bin_by == "ltsnn" and n < 2:
            continue
        expected = to_frames(events, **kwargs)
        assert expected.sum() == n
        got = to_frames_torch(*event_tensors(events, device), **kwargs)
        np.testing.assert_array_equal(got.cpu().numpy(), expected)
    with pytest.raises(ValueError, match=r"to_frames_torch: event 0 has t = 5000 µs; expected -300 <= t < 5000"):
        to_frames_torch(*event_tensors(make_events([5000], [0], [0], [1]), device), **kwargs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channels", [1, 2])
def test_voxel_grid_torch_equals_numpy(channels, device):
    for seed, n in [(0, 3000), (1, 1), (2, 0)]:
        events = random_events(seed, n, 13, 7, span=10**9)        # a long span: large integer numerators
        expected = to_voxel_grid(events, sensor_size=(13, 7), n_time_bins=5, polarity_channels=channels)
        got = to_voxel_grid_torch(*event_tensors(events, device), sensor_size=(13, 7), n_time_bins=5,
                                  polarity_channels=channels)
        np.testing.assert_array_equal(got.cpu().numpy(), expected)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("binning, size", list(itertools.product(["ltsnn", "duration"], [None, (48, 48), (5, 7)])))
def test_colour_frames_torch_equals_numpy(binning, size, device):
    events = random_events(3, 4000, 20, 16)
    expected = ltsnn_colour_frames(events, sensor_size=(20, 16), n_time_bins=6, binning=binning, size=size)
    got = ltsnn_colour_frames_torch(*event_tensors(events, device), sensor_size=(20, 16), n_time_bins=6,
                                    binning=binning, size=size)
    np.testing.assert_array_equal(got.cpu().numpy(), expected)


@pytest.mark.parametrize("field, value, match", [
    ("x", 17, r"to_frames_torch: event 5 has x = 17; expected 0 <= x < 17"),
    ("p", 2, r"event 5 has p = 2; expected 0 <= p < 2"),
    ("t", 0, r"event 5 has t = 0 µs, earlier than event 4"),
])
def test_torch_rejects_bad_events_like_numpy(field, value, match):
    events = random_events(0, 10, 17, 11)
    events["t"] += 1
    events[field][5] = value
    with pytest.raises(ValueError, match=match.replace("to_frames_torch", "to_frames")):
        to_frames(events, sensor_size=(17, 11), n_time_bins=2)
    with pytest.raises(ValueError, match=match):
        to_frames_torch(*event_tensors(events), sensor_size=(17, 11), n_time_bins=2)


def test_torch_rejects_mismatched_columns():
    t, x, y, p = event_tensors(random_events(0, 10, 17, 11))
    with pytest.raises(ValueError, match="column 'x' has shape"):
        to_frames_torch(t, x[:5], y, p, sensor_size=(17, 11), n_time_bins=2)
    with pytest.raises(ValueError, match="column 'y' has dtype torch.float32; expected integers"):
        to_frames_torch(t, x, y.float(), p, sensor_size=(17, 11), n_time_bins=2)


def test_too_many_cells_raise_before_allocating():
    events = random_events(0, 10, 17, 11)
    match = r"frames \[T, C, H, W\] = \[1, 1, 65535, 65535\] have 4,294,836,225 cells"
    with pytest.raises(ValueError, match=match.replace("frames", "to_frames: frames")):
        to_frames(events, sensor_size=(65535, 65535), n_time_bins=1, polarity_channels=1)
    with pytest.raises(ValueError, match=match):
        to_frames_torch(*event_tensors(events), sensor_size=(65535, 65535), n_time_bins=1, polarity_channels=1)


@pytest.mark.parametrize("name, sensor", [("nmnist/tonic_sample_nmnist.bin", (34, 34)),
                                          ("aedat4/aermanager_data_sample.aedat4", (320, 240))])
def test_real_recordings_torch_equals_numpy(fixtures_dir, name, sensor):
    from ltsnn.data.io import read_events
    events = read_events(fixtures_dir / name).events
    tensors = event_tensors(events)
    for options in (dict(bin_by="count", binary=False), dict(bin_by="duration", size=(48, 48), resize_mode="bilinear"),
                    dict(bin_by="window", window_us=50_000, n_time_bins=None, binary=False, polarity_channels=1)):
        kwargs = dict(sensor_size=sensor, n_time_bins=10) | options
        expected = to_frames(events, **kwargs)
        assert expected.sum() > 0
        np.testing.assert_array_equal(to_frames_torch(*tensors, **kwargs).numpy(), expected)
    np.testing.assert_array_equal(
        to_voxel_grid_torch(*tensors, sensor_size=sensor, n_time_bins=5).numpy(),
        to_voxel_grid(events, sensor_size=sensor, n_time_bins=5))
