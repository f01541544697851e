import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltsnn.data import make_events, to_frames
from ltsnn.data.functional import frames as frames_module
from ltsnn.data.functional.frames import frame_max_normalise

# sensor (W, H) = (3, 2); columns t, x, y, p
EVENTS = make_events(t=[0, 10, 50, 60, 70, 100], x=[0, 2, 1, 1, 0, 2], y=[0, 1, 0, 0, 1, 1], p=[1, 0, 1, 1, 0, 1])


def frames_of(bins_and_pixels):
    """Expected counts [2, 2, H=2, W=3] from {(bin, p, y, x): count}."""
    out = np.zeros((2, 2, 2, 3), dtype=np.float32)
    for index, count in bins_and_pixels.items():
        out[index] = count
    return out


def test_duration_bins_by_hand():
    # span 100 µs, 2 bins of 50 µs: t = 50 opens bin 1; the last event (t = 100) is in bin 1.
    expected = frames_of({(0, 1, 0, 0): 1, (0, 0, 1, 2): 1, (1, 1, 0, 1): 2, (1, 0, 1, 0): 1, (1, 1, 1, 2): 1})
    got = to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=2, binary=False)
    assert got.dtype == np.float32 and got.shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=2), np.minimum(expected, 1))


def test_count_bins_by_hand():
    # 6 events into 2 bins: 3 each, whatever their times.
    expected = frames_of({(0, 1, 0, 0): 1, (0, 0, 1, 2): 1, (0, 1, 0, 1): 1, (1, 1, 0, 1): 1, (1, 0, 1, 0): 1, (1, 1, 1, 2): 1})
    got = to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=2, bin_by="count", binary=False)
    np.testing.assert_array_equal(got, expected)


def test_last_event_in_last_duration_bin():
    # 4 bins of 25 µs: t = 0, 10 -> bin 0; 50, 60, 70 -> bin 2; t = 100 -> bin 3, not a fifth bin.
    got = to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=4, binary=False)
    assert got.sum(axis=(1, 2, 3)).tolist() == [2, 0, 3, 1]


def test_count_bins_near_equal():
    got = to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=4, bin_by="count", binary=False)
    assert got.sum(axis=(1, 2, 3)).tolist() == [2, 1, 2, 1]


def test_empty_and_single_time():
    empty = to_frames(make_events([], [], [], []), sensor_size=(3, 2), n_time_bins=5)
    assert empty.shape == (5, 2, 2, 3) and empty.dtype == np.float32 and not empty.any()
    same_time = make_events([7, 7], [0, 1], [0, 0], [1, 0])
    got = to_frames(same_time, sensor_size=(3, 2), n_time_bins=3, binary=False)
    assert got.sum(axis=(1, 2, 3)).tolist() == [2, 0, 0]


@pytest.mark.parametrize("field, value, match", [
    ("x", 3, r"event 4 has x = 3; expected 0 <= x < 3"),
    ("y", 2, r"event 4 has y = 2; expected 0 <= y < 2"),
    ("p", -1, r"event 4 has p = -1; expected 0 <= p < 2"),
    ("p", 2, r"event 4 has p = 2"),
])
def test_bad_events_raise(field, value, match):
    events = EVENTS.copy()
    events[field][4] = value
    with pytest.raises(ValueError, match=match):
        to_frames(events, sensor_size=(3, 2), n_time_bins=2)


def test_decreasing_time_raises():
    events = EVENTS.copy()
    events["t"][3] = 40
    with pytest.raises(ValueError, match=r"event 3 has t = 40 µs, earlier than event 2"):
        to_frames(events, sensor_size=(3, 2), n_time_bins=2)


def test_bad_options_raise():
    with pytest.raises(ValueError, match=r"bin_by 'time'; expected one of \['duration', 'count', 'window', 'ltsnn'\]"):
        to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=2, bin_by="time")
    with pytest.raises(ValueError, match="n_time_bins is 0"):
        to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=0)
    with pytest.raises(ValueError, match="lack field"):
        to_frames(np.zeros(3, dtype=[("t", "<i8"), ("x", "<u2")]), sensor_size=(3, 2), n_time_bins=2)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 60), t_bins=st.integers(1, 7), bin_by=st.sampled_from(["duration", "count"]), seed=st.integers(0, 2**16))
def test_counts_conserve_events(n, t_bins, bin_by, seed):
    rng = np.random.default_rng(seed)
    events = make_events(np.sort(rng.integers(0, 1000, n)), rng.integers(0, 5, n), rng.integers(0, 4, n), rng.integers(0, 2, n))
    got = to_frames(events, sensor_size=(5, 4), n_time_bins=t_bins, bin_by=bin_by, binary=False)
    assert got.sum() == n
    # Per pixel and polarity, the bins add up to that pixel's events.
    per_pixel = np.zeros((2, 4, 5))
    np.add.at(per_pixel, (events["p"], events["y"], events["x"]), 1)
    np.testing.assert_array_equal(got.sum(axis=0), per_pixel)


def test_window_bins_by_hand():
    # windows of 40 µs from t_0 = 0: [0, 40) holds t = 0, 10; [40, 80) holds 50, 60, 70; [80, 120) holds 100.
    got = to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=None, bin_by="window", window_us=40, binary=False)
    assert got.shape == (3, 2, 2, 3) and got.sum(axis=(1, 2, 3)).tolist() == [2, 3, 1]
    # A given T covers [t_0, t_0 + T * w) only: with T = 2 the event at t = 100 is in no frame.
    two = to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=2, bin_by="window", window_us=40, binary=False)
    np.testing.assert_array_equal(two, got[:2])
    # A window that ends exactly at the last event leaves it to a window of its own.
    assert to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=None, bin_by="window", window_us=50).shape[0] == 3
    empty = to_frames(make_events([], [], [], []), sensor_size=(3, 2), n_time_bins=None, bin_by="window", window_us=5)
    assert empty.shape == (0, 2, 2, 3)


def test_ltsnn_bins_by_hand():
    # span 100 µs, T = 3: dt = 100 // 2 = 50; bins [0, 50), [50, 100), and bin 2 = {t >= 100}: the last event only.
    got = to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=3, bin_by="ltsnn", binary=False)
    assert got.sum(axis=(1, 2, 3)).tolist() == [2, 3, 1]
    # T = 4: dt = 33, bins start at 0, 33, 66, 99: t = 0, 10 | 50, 60 | 70 | 100.
    got = to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=4, bin_by="ltsnn", binary=False)
    assert got.sum(axis=(1, 2, 3)).tolist() == [2, 2, 1, 1]
    with pytest.raises(ValueError, match="bin_by 'ltsnn' needs n_time_bins >= 2"):
        to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=1, bin_by="ltsnn")
    with pytest.raises(ValueError, match="span = 0 µs"):
        to_frames(make_events([5, 5], [0, 1], [0, 0], [1, 1]), sensor_size=(3, 2), n_time_bins=3, bin_by="ltsnn")


def test_merged_polarity_is_the_channel_sum():
    two = to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=2, binary=False)
    one = to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=2, binary=False, polarity_channels=1)
    assert one.shape == (2, 1, 2, 3)
    np.testing.assert_array_equal(one[:, 0], two.sum(axis=1))
    np.testing.assert_array_equal(to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=2, polarity_channels=1),
                                  np.minimum(one, 1))


def test_resize_after_binarising():
    # Area resize of the binary frames to (1, 1): the mean presence over the 6 pixels of each channel.
    got = to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=2, size=(1, 1), resize_mode="area")
    binary = to_frames(EVENTS, sensor_size=(3, 2), n_time_bins=2)
    np.testing.assert_allclose(got[..., 0, 0], binary.mean(axis=(2, 3)), rtol=1e-7)


@pytest.mark.parametrize("kwargs, match", [
    (dict(bin_by="window"), "window_us is None; bin_by 'window' needs an int >= 1"),
    (dict(bin_by="duration", window_us=10), "window_us is for bin_by 'window'"),
    (dict(n_time_bins=None), "only bin_by 'window' derives it"),
    (dict(polarity_channels=3), "polarity_channels is 3"),
    (dict(size=(0, 4)), "size is"),
    (dict(resize_mode="cubic"), "unknown resize_mode 'cubic'"),
])
def test_more_bad_options_raise(kwargs, match):
    options = dict(sensor_size=(3, 2), n_time_bins=2) | kwargs
    with pytest.raises(ValueError, match=match):
        to_frames(EVENTS, **options)


def test_frame_max_normalise():
    frames = np.array([[[[0, 2], [4, 1]]], [[[0, 0], [0, 0]]]], dtype=np.float32)    # [T=2, C=1, 2, 2]
    got = frame_max_normalise(frames)
    np.testing.assert_array_equal(got, [[[[0, 0.5], [1, 0.25]]], [[[0, 0], [0, 0]]]])


def test_real_recording_counts(fixtures_dir, manifest):
    from ltsnn.data.io import read_events
    events = read_events(fixtures_dir / "nmnist/tonic_sample_nmnist.bin").events
    assert len(events) == int(manifest["nmnist/tonic_sample_nmnist.bin"]["events"])
    for bin_by in ("duration", "count", "ltsnn"):
        got = to_frames(events, sensor_size=(34, 34), n_time_bins=10, bin_by=bin_by, binary=False)
        assert got.sum() == len(events)
    # 10 ms windows over the ~310 ms recording: every event in one of 32 frames.
    got = to_frames(events, sensor_size=(34, 34), n_time_bins=None, bin_by="window", window_us=10_000, binary=False)
    span = int(events["t"][-1] - events["t"][0])
    assert got.shape[0] == span // 10_000 + 1 and got.sum() == len(events)


@pytest.mark.parametrize("field, index, value, match", [
    ("t", 4, 5, r"event 4 has t = 5 µs, earlier than event 3 \(t = 30\)"),     # first event of the 2nd chunk
    ("t", 5, 35, r"event 5 has t = 35 µs, earlier than event 4 \(t = 40\)"),
    ("x", 6, 9, r"event 6 has x = 9; expected 0 <= x < 5"),
])
def test_errors_name_the_event_across_chunks(monkeypatch, field, index, value, match):
    events = make_events(np.arange(10) * 10, np.arange(10) % 5, np.zeros(10, int), np.ones(10, int))
    whole = to_frames(events, sensor_size=(5, 1), n_time_bins=2, binary=False)
    monkeypatch.setattr(frames_module, "CHUNK_EVENTS", 4)                     # chunks of 4, 4 and 2 events
    np.testing.assert_array_equal(to_frames(events, sensor_size=(5, 1), n_time_bins=2, binary=False), whole)
    events[field][index] = value
    with pytest.raises(ValueError, match=match):
        to_frames(events, sensor_size=(5, 1), n_time_bins=2)


def test_a_time_range_fixes_the_bins_by_the_clock():
    # Range [0, 1000), T = 4: bins of 250 µs whatever the events' own span; without it, their span [600, 900].
    events = make_events([600, 700, 900], [0, 1, 2], [0, 0, 0], [1, 1, 1])
    ranged = to_frames(events, sensor_size=(3, 1), n_time_bins=4, t_range=(0, 1000))
    assert ranged[:, 1].sum(axis=(1, 2)).tolist() == [0, 0, 2, 1]
    assert to_frames(events, sensor_size=(3, 1), n_time_bins=4)[:, 1].sum(axis=(1, 2)).tolist() == [1, 1, 0, 1]
    shuffled = events[[2, 0, 1]]                                         # any order within the range
    np.testing.assert_array_equal(to_frames(shuffled, sensor_size=(3, 1), n_time_bins=4, t_range=(0, 1000)), ranged)
    windows = to_frames(events, sensor_size=(3, 1), n_time_bins=None, bin_by="window", window_us=300, t_range=(0, 1000))
    assert windows[:, 1].sum(axis=(1, 2)).tolist() == [0, 0, 2, 1]       # ceil(1000 / 300) = 4 windows from t = 0
    assert to_frames(events[:0], sensor_size=(3, 1), n_time_bins=4, t_range=(0, 1000)).shape == (4, 2, 1, 3)
    with pytest.raises(ValueError, match=r"to_frames: event 2 has t = 900 µs; expected 0 <= t < 900 \(t_range\)"):
        to_frames(events, sensor_size=(3, 1), n_time_bins=4, t_range=(0, 900))
    with pytest.raises(ValueError, match=r"to_frames: t_range is \(5, 5\); expected \(t_start, t_end\)"):
        to_frames(events, sensor_size=(3, 1), n_time_bins=4, t_range=(5, 5))
