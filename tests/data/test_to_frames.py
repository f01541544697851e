import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltsnn.data import make_events, to_frames

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
    with pytest.raises(ValueError, match=r"bin_by 'time'; expected one of \['duration', 'count'\]"):
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
