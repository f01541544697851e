"""Tonic interop: our Events go through Tonic's transforms unchanged, and a plain one-argument callable (a Tonic
transform) is accepted wherever a transform is. Tonic is GPL: it is imported here, in the tests, never by ltsnn."""

import doctest

import numpy as np
import pytest
import torch

import ltsnn.data.transforms as transforms_module
from ltsnn.data.datasets import AugmentedFrames, DetectionFrameDataset
from ltsnn.data.events import EVENT_DTYPE
from ltsnn.data.io.atis import read_atis_bin
from ltsnn.data.transforms import (Compose, EventsDrop, ToFrames, as_transform, from_tonic_events, rng_for,
                                   to_tonic_events)

tonic = pytest.importorskip("tonic")
T = tonic.transforms

SENSOR = (34, 34, 2)                                            # N-MNIST, Tonic's (W, H, P)


@pytest.fixture(scope="module")
def recording(fixtures_dir):
    """One N-MNIST file read by our reader and by Tonic's, in each library's own layout."""
    path = fixtures_dir / "nmnist_small" / "1.bs2"
    ours = read_atis_bin(path).events
    theirs = tonic.io.read_mnist_file(str(path), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    return ours, theirs


def same_events(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(a[n].astype(np.int64), b[n].astype(np.int64)) for n in "txyp")


def test_the_readers_agree(recording):
    ours, theirs = recording
    assert ours.dtype == EVENT_DTYPE and len(ours) == 4681
    assert same_events(ours, theirs)


@pytest.mark.parametrize("make", [
    lambda: T.Denoise(filter_time=10_000),
    lambda: T.RefractoryPeriod(delta=1_000),
    lambda: T.CenterCrop(sensor_size=SENSOR, size=(20, 20)),
    lambda: T.DropEvent(p=0.3),                                 # random: numpy's global generator, reseeded below
    lambda: T.RandomFlipLR(sensor_size=SENSOR, p=1.0),
    lambda: T.TimeJitter(std=100, clip_negative=True, sort_timestamps=True),
], ids=["Denoise", "RefractoryPeriod", "CenterCrop", "DropEvent", "RandomFlipLR", "TimeJitter"])
def test_event_transforms_give_what_they_give_on_tonics_layout(recording, make):
    ours, theirs = recording
    np.random.seed(0)
    out_ours = make()(ours.copy())
    np.random.seed(0)
    out_theirs = make()(theirs.copy())
    assert out_ours.dtype == EVENT_DTYPE                        # still our Events: our ops take it as it is
    assert same_events(out_ours, out_theirs)
    assert 0 < len(out_ours) <= len(ours)


@pytest.mark.parametrize("make", [lambda: T.ToFrame(sensor_size=SENSOR, n_time_bins=5),
                                  lambda: T.ToVoxelGrid(sensor_size=SENSOR, n_time_bins=4)],
                         ids=["ToFrame", "ToVoxelGrid"])
def test_dense_representations_are_equal(recording, make):
    ours, theirs = recording
    a, b = make()(ours), make()(theirs)
    assert a.shape == b.shape and a.any()
    np.testing.assert_array_equal(a, b)


def test_tonic_frames_are_our_count_frames(recording):
    """Tonic's ToFrame (n_time_bins) and our count frames bin the same way, (OFF, ON) channels and T equal spans,
    but for one event: Tonic's last window is half-open, so the recording's last event is in no frame, where ours
    puts it in bin T - 1 (docs/datasets.md)."""
    ours, _ = recording
    tonic_frames = T.ToFrame(sensor_size=SENSOR, n_time_bins=5)(ours)             # [T, P, H, W] int16
    our_frames = ToFrames((34, 34), n_time_bins=5, binary=False)(ours, rng_for(0, 0, 0))
    last = ours[-1]
    assert (ours["t"] == last["t"]).sum() == 1
    tonic_frames[4, last["p"], last["y"], last["x"]] += 1
    np.testing.assert_array_equal(tonic_frames, our_frames)


def test_signed_offsets_need_tonics_layout(recording):
    """SpatialJitter adds signed offsets: on uint16 x a step below 0 would wrap, so convert first and back."""
    ours, theirs = recording
    jitter = T.SpatialJitter(sensor_size=SENSOR, var_x=4, var_y=4, clip_outliers=True)
    np.random.seed(1)
    moved = jitter(to_tonic_events(ours))
    np.random.seed(1)
    expected = jitter(theirs.copy())
    assert same_events(moved, expected)
    back = from_tonic_events(moved)
    assert back.dtype == EVENT_DTYPE and same_events(back, moved)
    assert same_events(from_tonic_events(to_tonic_events(ours)), ours)


def test_from_tonic_events_refuses_what_does_not_fit():
    events = np.zeros(2, dtype=transforms_module.TONIC_EVENT_DTYPE)
    events["x"] = [3, -1]
    with pytest.raises(ValueError, match="'x' at index 1 is -1"):
        from_tonic_events(events)


def test_compose_mixes_tonic_and_ours(recording):
    ours, _ = recording
    pipeline = Compose([T.Denoise(filter_time=10_000), EventsDrop(0.0),
                        ToFrames((34, 34), n_time_bins=4, binary=False)])
    frames = pipeline(ours, rng_for(0, 0, 0))
    assert frames.shape == (4, 2, 34, 34) and frames.sum() == len(T.Denoise(filter_time=10_000)(ours)) < len(ours)
    with pytest.raises(ValueError, match="Compose: 3 is not callable"):
        Compose([EventsDrop(0.1), 3])


class Frames(torch.utils.data.Dataset):
    classes, num_classes, in_channels, input_size = ("a", "b"), 2, 2, (6, 6)

    def __init__(self):
        self.frames = torch.ones(4, 3, 2, 6, 6)                 # [N, T, C, H, W]

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        return self.frames[i], i % 2


def test_a_data_set_takes_a_tonic_transform():
    data = Frames()
    augmented = AugmentedFrames(data, T.DropPixel(coordinates=[(1, 4)]), seed=0)    # (x, y); writes into its input
    frames, label = augmented[3]
    assert frames.shape == (3, 2, 6, 6) and frames.dtype == torch.float32 and label == 1
    assert frames[..., 4, 1].eq(0).all() and frames.sum() == 3 * 2 * 35
    assert data.frames.eq(1).all()                              # it wrote into a copy, not into the data set


def test_a_detection_set_takes_a_plain_callable_and_refuses_its_boxes_unless_declared():
    frames = np.ones((2, 3, 2, 8, 8), dtype=np.float32)
    boxes, labels = [np.array([[1.0, 1.0, 3.0, 3.0]])] * 2, [np.array([0])] * 2
    data = DetectionFrameDataset(frames, boxes, labels, classes=["car"], sensor_size=(8, 8), times_us=[0, 1],
                                 recordings=[0, 0])
    data.set_augment(T.DropPixel(coordinates=[(0, 0)]), seed=0)
    with pytest.raises(ValueError, match="PlainCallable is not box-aware"):
        data[0]
    data.set_augment(as_transform(T.DropPixel(coordinates=[(0, 0)]), moves_pixels=False), seed=0)
    x, target = data[0]
    assert x[..., 0, 0].eq(0).all() and x.sum() == 3 * 2 * 63
    assert target["boxes"].tolist() == [[1.0, 1.0, 3.0, 3.0]]


def test_transforms_docstring_examples_run():
    result = doctest.testmod(transforms_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0
