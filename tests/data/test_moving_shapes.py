"""MovingShapes-DVS (spec detection.md §5.1): generator, emulator oracles, window frames, cache, Gen1 export."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ltsnn.data import shapes as synthetic
from ltsnn.data.datasets.detection import collate_detection
from ltsnn.data.datasets.moving_shapes import moving_shapes, shapes_frames
from ltsnn.data.functional import to_frames
from ltsnn.data.shapes import CAR, PEDESTRIAN, MovingObject, ShapesParams, generate_sample, render
from ltsnn.data.transforms import create_transform

P = ShapesParams()


def test_samples_are_a_function_of_seed_and_index_only():
    a = synthetic.generate_split(P, seed=11, size=5)
    b = synthetic.generate_split(P, seed=11, size=3)
    for i in range(3):
        for x, y in zip(a.sample(i), b.sample(i)):
            np.testing.assert_array_equal(x, y)
    c = generate_sample(P, seed=12, index=0)
    assert not np.array_equal(c.boxes, a.sample(0).boxes)


def test_boxes_are_exact_inside_the_frame_and_follow_the_class_sizes():
    for i in range(40):
        s = generate_sample(P, seed=3, index=i)
        assert 1 <= len(s.labels) <= 2
        x, y, w, h = s.boxes.T.astype(np.float64)
        assert (x >= 0).all() and (y >= 0).all() and (x + w <= P.width + 1e-4).all() and (y + h <= P.height + 1e-4).all()
        for k, bw, bh in zip(s.labels, w, h):
            (wl, wh), (hl, hh) = (P.car_w, P.car_h) if k == CAR else (P.pedestrian_w, P.pedestrian_h)
            assert wl <= bw <= wh and hl <= bh <= hh
        t = s.events["t"]
        assert (np.diff(t) >= 0).all() and t.min() >= 0 and t.max() < P.label_us


def test_render_area_coverage_is_exact_for_a_half_pixel_edge():
    # A car whose left edge is at x = 10.5: column 10 is half covered (2 of its 4 sub-pixel columns).
    car = MovingObject(CAR, cx=10.5 + 8, cy=20.0, w=16.0, h=8.0, vx=0.0, vy=0.0, value=0.9)
    image = render([car], P.label_us, P)
    assert image[20, 10] == pytest.approx(0.5 + 0.5 * (0.9 - 0.5))
    assert image[20, 11] == pytest.approx(0.9) and image[20, 9] == pytest.approx(0.5)
    assert image[16, 15] == pytest.approx(0.9) and image[15, 15] == pytest.approx(0.5)   # rows 16..23 covered
    ped = MovingObject(PEDESTRIAN, cx=32.0, cy=24.0, w=8.0, h=16.0, vx=0.0, vy=0.0, value=0.1)
    image = render([ped], P.label_us, P)
    assert image[24, 32] == pytest.approx(0.1) and image[16, 28] == pytest.approx(0.5)    # centre vs box corner


def test_emulator_oracles():
    quiet = dataclasses.replace(P, noise_hz=0.0, contrast_sigma=0.0)
    rng = np.random.default_rng(0)
    contrast = np.full((P.height, P.width), 0.2)
    still = MovingObject(CAR, cx=30.0, cy=20.0, w=16.0, h=8.0, vx=0.0, vy=0.0, value=0.9)
    assert len(synthetic._emulate([still], contrast, quiet, rng)) == 0                     # static scene: silence
    # A bright car moving right at 200 px/s: ON events only ahead of it, OFF only behind it; each pixel it fully
    # covers ends with floor(log(0.901 / 0.501) / 0.2) = 2 net ON events.
    moving = MovingObject(CAR, cx=40.0, cy=24.0, w=16.0, h=8.0, vx=200.0, vy=0.0, value=0.9)
    events = synthetic._emulate([moving], contrast, quiet, rng)
    left_at_t0, left_at_tl = 40 - 8 - 200 * 0.06, 40 - 8
    on, off = events[events["p"] == 1], events[events["p"] == 0]
    assert (off["x"] < left_at_tl + 1).all() and (on["x"] >= left_at_t0 + 16 - 1).all()
    pixel = (events["x"] == 45) & (events["y"] == 24)            # covered at t_L, background at t = 0
    assert int(pixel.sum()) == int(np.floor(np.log(0.901 / 0.501) / 0.2))
    in_step = events["t"] % 1000
    assert set(np.unique(in_step[pixel])) <= {250, 750, 500}      # 1 or 2 events in a step: evenly spread


def test_event_statistics_match_the_spec():
    # §5.1: ≈ 1.6 k events per sample in the window, ≈ 1.9 % of binary input entries are 1; noise 0.5 Hz/pixel.
    counts, density = [], []
    for i in range(60):
        s = generate_sample(P, seed=11, index=i)
        counts.append(int((s.events["t"] >= P.label_us - P.window_us).sum()))
        density.append(shapes_frames(s, P, n_time_bins=4, bin_by="duration", binary=True).mean())
    assert 1000 < np.mean(counts) < 2500
    assert 0.01 < np.mean(density) < 0.03
    quiet_scene = dataclasses.replace(P, intensities=(0.5, 0.5))   # objects invisible: noise only
    noise = [len(generate_sample(quiet_scene, seed=1, index=i).events) for i in range(40)]
    expected = P.noise_hz * P.height * P.width * P.label_us * 1e-6   # 92.2 per sample
    assert abs(np.mean(noise) - expected) < 4 * np.sqrt(expected / 40)


def test_frames_of_a_time_range_bin_by_the_range_not_by_the_events():
    events = np.zeros(3, dtype=synthetic.EVENT_DTYPE)
    events["t"] = [10_000, 22_499, 59_999]
    events["x"], events["y"], events["p"] = [1, 2, 3], [0, 1, 2], [1, 0, 1]
    f = to_frames(events, t_range=(10_000, 60_000), n_time_bins=4, sensor_size=(4, 3))
    assert f.shape == (4, 2, 3, 4) and f.sum() == 3
    assert f[0, 1, 0, 1] == 1 and f[0, 0, 1, 2] == 1 and f[3, 1, 2, 3] == 1
    with pytest.raises(ValueError, match="event 0 has t = 9999"):
        events["t"][0] = 9999
        to_frames(events, t_range=(10_000, 60_000), n_time_bins=4, sensor_size=(4, 3))


def test_cache_is_reused_checked_and_rebuilt(tmp_path, monkeypatch):
    first = synthetic.load_or_generate(P, seed=5, size=4, cache_dir=tmp_path)
    files = list((tmp_path / "moving_shapes").iterdir())
    assert len(files) == 1

    def fail(*a, **k):
        raise AssertionError("regenerated although cached")

    monkeypatch.setattr(synthetic, "generate_split", fail)
    again = synthetic.load_or_generate(P, seed=5, size=4, cache_dir=tmp_path)
    np.testing.assert_array_equal(first.events, again.events)
    monkeypatch.undo()
    files[0].write_bytes(files[0].read_bytes()[:1000])               # truncated
    messages = []
    rebuilt = synthetic.load_or_generate(P, seed=5, size=4, cache_dir=tmp_path, log=messages.append)
    assert "cannot be read" in messages[0]
    np.testing.assert_array_equal(first.boxes, rebuilt.boxes)
    assert synthetic.cache_key(P, seed=5, size=4) != synthetic.cache_key(dataclasses.replace(P, noise_hz=1.0),
                                                                          seed=5, size=4)


def test_dataset_items_and_collate(tmp_path):
    ds = moving_shapes(split="test", root=None, n_time_bins=4, bin_by="duration", seed=0, test_size=6,
                       cache_dir=str(tmp_path))
    assert len(ds) == 6 and ds.task == "detection" and ds.input_size == (48, 64) and ds.classes == ("car", "pedestrian")
    frames, target = ds[2]
    split = synthetic.load_or_generate(P, seed=22, size=6, cache_dir=tmp_path)
    np.testing.assert_array_equal(target["boxes"].numpy(), split.sample(2).boxes)
    assert target["t_us"] == P.label_us and target["recording"] == 2
    batch, targets = collate_detection([ds[0], ds[1]])
    assert batch.shape == (2, 4, 2, 48, 64) and isinstance(targets, list) and len(targets) == 2
    assert torch.equal(batch[1], ds[1][0])


def test_box_aware_augmentation_moves_boxes_with_the_frames(tmp_path):
    kw = dict(root=None, n_time_bins=4, bin_by="duration", seed=0, train_size=12, cache_dir=str(tmp_path))
    plain = moving_shapes(split="train", **kw)
    flipped = moving_shapes(split="train", **kw)
    flipped.set_augment(create_transform("frames_flip", p=1.0), seed=0)
    frames, target = flipped[3]
    frames0, target0 = plain[3]
    assert torch.equal(frames, frames0.flip(-1))
    x, y, w, h = target0["boxes"].unbind(1)
    torch.testing.assert_close(target["boxes"], torch.stack([64 - x - w, y, w, h], dim=1))
    half = moving_shapes(split="train", **kw)
    half.set_augment(create_transform("frames_flip", p=0.5), seed=0)
    draws = []
    for epoch in (0, 1, 0):
        half.set_epoch(epoch)
        draws.append([bool(torch.equal(half[i][0], plain[i][0])) for i in range(12)])
    assert draws[0] == draws[2] and draws[0] != draws[1]            # a function of (seed, epoch, index)


def test_generation_shows_a_progress_bar(capsys):
    from ltsnn.data import create_dataset
    create_dataset("moving_shapes", split="test", n_time_bins=2, test_size=3, progress=True)
    err = capsys.readouterr().err
    assert "moving_shapes: generating" in err and "3/3" in err
