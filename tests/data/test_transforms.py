"""Transforms: a contract over every registered name, seeding by (seed, epoch, index), boxes, policies."""

import copy
import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from ltsnn.data import make_events
from ltsnn.data.functional import flip_frames, roll_frames, rotate_frames, shear_frames, to_frames
from ltsnn.data.transforms import (TRANSFORMS, Compose, EventsCrop, EventsDrop, EventsFlip, EventsSpatialJitter,
                                   EventsTimeJitter, FramesCrop, FramesCutout, FramesFlip, FramesResize, FramesRoll,
                                   FramesRotate, NDAAugment, NDAPolicy, TETFlipRoll, ToFrames, create_transform,
                                   rng_for)

SENSOR = (20, 12)     # (W, H)


def make_recording(seed: int, n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(np.sort(rng.integers(0, 50_000, n)), rng.integers(0, SENSOR[0], n),
                       rng.integers(0, SENSOR[1], n), rng.integers(0, 2, n))


EVENTS = make_recording(0)
FRAMES = to_frames(EVENTS, sensor_size=SENSOR, n_time_bins=3, binary=False)       # [3, 2, 12, 20]

# name -> (constructor kwargs, input) for the contract test; every registered transform must appear.
EXAMPLES = {
    "to_frames": (dict(sensor_size=SENSOR, n_time_bins=4, size=(6, 10)), EVENTS),
    "voxel_grid": (dict(sensor_size=SENSOR, n_time_bins=4), EVENTS),
    "ltsnn_colour": (dict(sensor_size=SENSOR, n_time_bins=5, size=(8, 8)), EVENTS),
    "events_flip": (dict(sensor_size=SENSOR), EVENTS),
    "events_drop": (dict(p=0.3), EVENTS),
    "events_time_jitter": (dict(std_us=2000.0), EVENTS),
    "events_spatial_jitter": (dict(sensor_size=SENSOR, std_px=1.5), EVENTS),
    "events_crop": (dict(sensor_size=SENSOR, size=(8, 16)), EVENTS),
    "frames_flip": (dict(), FRAMES),
    "frames_roll": (dict(max_shift=3), FRAMES),
    "frames_rotate": (dict(max_degrees=30.0), FRAMES),
    "frames_shear": (dict(max_degrees=30.0), FRAMES),
    "frames_cutout": (dict(ratio=0.5), FRAMES),
    "frames_crop": (dict(size=(8, 8)), FRAMES),
    "frames_resize": (dict(size=(6, 10)), FRAMES),
    "frame_max_normalise": (dict(), FRAMES),
    "tet_flip_roll": (dict(), FRAMES),
    "nda": (dict(), FRAMES),
    "nda_augment": (dict(n=2, m=1), FRAMES),
}


def test_every_registered_transform_has_an_example():
    assert set(EXAMPLES) == set(TRANSFORMS)
    assert all(TRANSFORMS.describe().values())               # each has a one-line description


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_contract(name):
    kwargs, x = EXAMPLES[name]
    transform = create_transform(name, **kwargs)
    before = x.copy()
    first = transform(x, rng_for(1, 2, 3))
    np.testing.assert_array_equal(x, before)                     # the input is not modified
    np.testing.assert_array_equal(transform(x, rng_for(1, 2, 3)), first)   # same (seed, epoch, index): same output
    assert type(first) is np.ndarray
    with pytest.raises(dataclasses.FrozenInstanceError):
        transform.p = 0.0
    assert copy.deepcopy(transform) == transform


def test_random_transforms_depend_on_the_index():
    for name in ("events_drop", "events_time_jitter", "frames_roll", "frames_rotate", "nda_augment"):
        kwargs, x = EXAMPLES[name]
        transform = create_transform(name, **kwargs)
        outputs = [transform(x, rng_for(0, 0, i)) for i in range(6)]
        assert any(not np.array_equal(outputs[0], o) for o in outputs[1:]), name


def test_rng_for():
    a, b = rng_for(7, 1, 5).random(4), rng_for(7, 1, 5).random(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, rng_for(7, 2, 5).random(4)) and not np.array_equal(a, rng_for(7, 1, 6).random(4))
    np.testing.assert_array_equal(a, np.random.default_rng(np.random.SeedSequence([7, 1, 5])).random(4))
    with pytest.raises(ValueError, match="index is -1"):
        rng_for(0, 0, -1)
    with pytest.raises(ValueError, match="unknown transform 'blur'"):
        create_transform("blur")


class AugmentedEvents(Dataset):
    """Recordings -> augmented frames, each sample's rng from (seed, epoch, index)."""

    def __init__(self, transform, seed, epoch):
        self.recordings = [make_recording(i, 200) for i in range(8)]
        self.transform, self.seed, self.epoch = transform, seed, epoch

    def __len__(self):
        return len(self.recordings)

    def __getitem__(self, index):
        frames = self.transform(self.recordings[index], rng_for(self.seed, self.epoch, index))
        return torch.from_numpy(frames), index


def test_batches_do_not_depend_on_worker_count():
    transform = Compose([EventsDrop(0.2), EventsTimeJitter(500.0), EventsFlip(SENSOR),
                         ToFrames(SENSOR, n_time_bins=4, size=(6, 10)), NDAAugment(n=2, m=2)])
    data = AugmentedEvents(transform, seed=3, epoch=1)
    batches = {}
    for workers in (0, 2):
        loader = DataLoader(data, batch_size=3, num_workers=workers, shuffle=False)
        batches[workers] = [frames for frames, _ in loader]
    assert len(batches[0]) == 3
    for a, b in zip(batches[0], batches[2], strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(batches[0][0][0], batches[0][0][1])      # and samples differ from each other


def test_events_drop_and_jitters():
    events = make_recording(1, 20_000)
    kept = EventsDrop(0.25)(events, rng_for(0, 0, 0))
    assert abs(len(kept) / len(events) - 0.75) < 0.02 and np.isin(kept["t"], events["t"]).all()
    jittered = EventsTimeJitter(1000.0)(events, rng_for(0, 0, 0))
    assert (np.diff(jittered["t"]) >= 0).all() and len(jittered) == len(events)
    assert sorted(jittered["x"].tolist()) == sorted(events["x"].tolist())
    moved = EventsSpatialJitter(SENSOR, 2.0, out_of_bounds="drop")(events, rng_for(0, 0, 0))
    assert 0 < len(events) - len(moved) < 0.3 * len(events)          # some left the 20 x 12 sensor
    assert moved["x"].max() < SENSOR[0] and moved["y"].max() < SENSOR[1]
    clipped = EventsSpatialJitter(SENSOR, 2.0, out_of_bounds="clip")(events, rng_for(0, 0, 0))
    assert len(clipped) == len(events)


def test_time_jitter_offsets_have_the_requested_spread():
    events = make_events(np.arange(0, 10**9, 10**4), np.zeros(10**5, int), np.zeros(10**5, int), np.ones(10**5, int))
    jittered = EventsTimeJitter(300.0)(events, rng_for(0, 0, 0))    # spacing 10 ms >> 300 µs: order unchanged
    assert abs(np.std(jittered["t"] - events["t"]) - 300) < 5


# ----------------------------------------------------------------------------------------------- boxes

BOXES = np.array([[2.0, 1.0, 4.0, 3.0], [14.0, 6.0, 5.0, 5.0]])
LABELS = np.array([3, 7])


def test_box_aware_flip_moves_boxes_with_the_events():
    out = EventsFlip(SENSOR, p=1.0).with_boxes(EVENTS, BOXES, LABELS, rng_for(0, 0, 0))
    np.testing.assert_array_equal(out.boxes, [[14.0, 1.0, 4.0, 3.0], [1.0, 6.0, 5.0, 5.0]])
    frames = FramesFlip(p=1.0).with_boxes(FRAMES, BOXES, LABELS, rng_for(0, 0, 0))
    np.testing.assert_array_equal(frames.boxes, out.boxes)
    np.testing.assert_array_equal(to_frames(out.data, sensor_size=SENSOR, n_time_bins=3, binary=False), frames.data)


def test_compose_with_boxes_crops_resizes_and_tracks_kept():
    # events -> frames at (12, 20) -> centre crop (8, 8) at top 2, left 6 -> resize to (4, 4).
    transform = Compose([ToFrames(SENSOR, n_time_bins=3), FramesCrop((8, 8), position="center"), FramesResize((4, 4))])
    # Box 0 lies inside; box 1 lies left of the crop (removed); box 2 is cut at the crop's right edge x = 14.
    inside = np.array([[7.0, 3.0, 4.0, 2.0], [0.0, 0.0, 3.0, 3.0], [12.0, 5.0, 4.0, 4.0]])
    out = transform.with_boxes(EVENTS, inside, np.array([1, 2, 3]), rng_for(0, 0, 0))
    assert out.kept.tolist() == [0, 2] and out.labels.tolist() == [1, 3]
    np.testing.assert_allclose(out.boxes, [[0.5, 0.5, 2.0, 1.0], [3.0, 1.5, 1.0, 2.0]])
    assert out.data.shape == (3, 2, 4, 4)


def test_events_crop_with_boxes_equals_frames_crop():
    # The same generator state picks the same window; one time bin makes the frames comparable.
    one_bin = to_frames(EVENTS, sensor_size=SENSOR, n_time_bins=1, binary=False)
    for index in range(5):
        ev = EventsCrop(SENSOR, (8, 16)).with_boxes(EVENTS, BOXES, LABELS, rng_for(0, 0, index))
        fr = FramesCrop((8, 16)).with_boxes(one_bin, BOXES, LABELS, rng_for(0, 0, index))
        np.testing.assert_array_equal(to_frames(ev.data, sensor_size=(16, 8), n_time_bins=1, binary=False), fr.data)
        np.testing.assert_array_equal(ev.boxes, fr.boxes)
        np.testing.assert_array_equal(ev.labels, LABELS[ev.kept])


def test_boxes_pass_through_non_moving_and_are_refused_by_wrapping_ones():
    out = Compose([EventsDrop(0.5), EventsTimeJitter(10.0)]).with_boxes(EVENTS, BOXES, LABELS, rng_for(0, 0, 0))
    np.testing.assert_array_equal(out.boxes, BOXES)
    assert FramesCutout(0.5).with_boxes(FRAMES, BOXES, LABELS, rng_for(0, 0, 0)).kept.tolist() == [0, 1]
    for transform in (FramesRoll(), FramesRotate(), NDAPolicy(), TETFlipRoll()):
        with pytest.raises(ValueError, match="is not box-aware"):
            transform.with_boxes(FRAMES, BOXES, LABELS, rng_for(0, 0, 0))


def test_to_frames_with_size_scales_boxes():
    out = ToFrames(SENSOR, n_time_bins=2, size=(6, 5)).with_boxes(EVENTS, BOXES, LABELS, rng_for(0, 0, 0))
    np.testing.assert_allclose(out.boxes, BOXES * [0.25, 0.5, 0.25, 0.5])


# ----------------------------------------------------------------------------------------------- policies

def test_tet_flip_roll_replays_its_draws():
    for index in range(6):
        rng = rng_for(0, 0, index)
        replay = rng_for(0, 0, index)
        flip = replay.random() < 0.5
        shift_y, shift_x = replay.integers(-5, 6, size=2)
        expected = roll_frames(flip_frames(FRAMES, "lr") if flip else FRAMES, shift_y, shift_x)
        np.testing.assert_array_equal(TETFlipRoll()(FRAMES, rng), expected)


def test_nda_policy_applies_exactly_one_of_its_ops():
    seen = set()
    for index in range(30):
        replay = rng_for(0, 0, index)
        op = int(replay.integers(3))
        seen.add(op)
        if op == 0:
            shift_y, shift_x = replay.integers(-5, 6, size=2)
            expected = roll_frames(FRAMES, shift_y, shift_x)
        elif op == 1:
            expected = rotate_frames(FRAMES, replay.uniform(-30, 30))
        else:
            expected = shear_frames(FRAMES, replay.uniform(-30, 30))
        np.testing.assert_array_equal(NDAPolicy()(FRAMES, rng_for(0, 0, index)), expected)
    assert seen == {0, 1, 2}


def test_nda_augment_keeps_values_and_shape():
    binary = (FRAMES > 0).astype(np.float32)
    for index in range(10):
        out = NDAAugment()(binary, rng_for(0, 0, index))
        assert out.shape == binary.shape and set(np.unique(out)) <= {0.0, 1.0}     # nearest + zero fill + roll
        assert out.sum() <= binary.sum()


def test_parameters_are_validated():
    with pytest.raises(ValueError, match="EventsDrop: p is 1.5"):
        EventsDrop(1.5)
    with pytest.raises(ValueError, match="FramesFlip: axis is 'diag'"):
        FramesFlip(axis="diag")
    with pytest.raises(ValueError, match="out_of_bounds is 'wrap'"):
        EventsSpatialJitter(SENSOR, 1.0, out_of_bounds="wrap")
    with pytest.raises(ValueError, match="expected frames"):
        FramesRoll()(EVENTS, rng_for(0, 0, 0))
    with pytest.raises(ValueError, match="expected Events"):
        EventsDrop(0.1)(FRAMES, rng_for(0, 0, 0))
    with pytest.raises(ValueError, match="crop size .* exceeds"):
        FramesCrop((20, 20))(FRAMES, rng_for(0, 0, 0))


def test_transforms_stay_numpy_only():
    import subprocess
    import sys
    code = "import sys, ltsnn.data.transforms; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
