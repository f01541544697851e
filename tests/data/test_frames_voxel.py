"""Voxel grid (Zhu et al. 2019): hand-computed values and a dense float64 reference."""

import numpy as np
import pytest

from ltsnn.data import make_events
from ltsnn.data.functional import to_voxel_grid


def reference_voxel(events, width, height, n_bins):
    """Eq. 2-3 of Zhu et al. 2019 evaluated directly, event by event, in float64 (signed, one channel)."""
    out = np.zeros((n_bins, height, width))
    t = events["t"].astype(np.float64)
    span = t[-1] - t[0] if t[-1] > t[0] else 1.0
    for e, ti in zip(events, t, strict=True):
        t_star = (n_bins - 1) * (ti - t[0]) / span
        for b in range(n_bins):
            out[b, e["y"], e["x"]] += (2 * int(e["p"]) - 1) * max(0.0, 1 - abs(b - t_star))
    return out


def test_voxel_by_hand():
    # t* = 2 * t / 100 = 0, 0.5, 1, 2 for B = 3; the second event splits half and half between bins 0 and 1.
    events = make_events([0, 25, 50, 100], [0, 1, 1, 2], [0, 0, 1, 1], [1, 0, 1, 1])
    got = to_voxel_grid(events, sensor_size=(3, 2), n_time_bins=3)
    expected = np.zeros((3, 1, 2, 3), dtype=np.float32)
    expected[0, 0, 0, 0] = 1.0
    expected[0, 0, 0, 1] = expected[1, 0, 0, 1] = -0.5
    expected[1, 0, 1, 1] = 1.0
    expected[2, 0, 1, 2] = 1.0
    np.testing.assert_array_equal(got, expected)
    two = to_voxel_grid(events, sensor_size=(3, 2), n_time_bins=3, polarity_channels=2)
    assert two.shape == (3, 2, 2, 3) and two[0, 0, 0, 1] == two[1, 0, 0, 1] == 0.5 and two.sum() == 4


def test_voxel_matches_dense_reference_and_conserves_polarity():
    rng = np.random.default_rng(0)
    n = 300
    events = make_events(np.sort(rng.integers(0, 10**6, n)), rng.integers(0, 6, n), rng.integers(0, 5, n),
                         rng.integers(0, 2, n))
    got = to_voxel_grid(events, sensor_size=(6, 5), n_time_bins=7)
    np.testing.assert_allclose(got[:, 0], reference_voxel(events, 6, 5, 7), rtol=0, atol=1e-6)
    # Each event's weights sum to 1, so the grid sums to (#ON - #OFF).
    assert got.sum(dtype=np.float64) == pytest.approx(2 * events["p"].sum() - n, abs=1e-4)


def test_single_bin_and_empty():
    events = make_events([3, 3, 9], [0, 1, 0], [0, 0, 0], [1, 1, 0])
    np.testing.assert_array_equal(to_voxel_grid(events, sensor_size=(2, 1), n_time_bins=1)[0, 0], [[0, 1]])
    same_time = to_voxel_grid(make_events([5, 5], [0, 1], [0, 0], [1, 0]), sensor_size=(2, 1), n_time_bins=3)
    np.testing.assert_array_equal(same_time[:, 0, 0], [[1, -1], [0, 0], [0, 0]])
    empty = to_voxel_grid(make_events([], [], [], []), sensor_size=(2, 1), n_time_bins=3)
    assert empty.shape == (3, 1, 1, 2) and not empty.any()


def test_bad_input_raises():
    events = make_events([0, 1], [0, 2], [0, 0], [1, 0])
    with pytest.raises(ValueError, match="to_voxel_grid: event 1 has x = 2; expected 0 <= x < 2"):
        to_voxel_grid(events, sensor_size=(2, 1), n_time_bins=2)
    with pytest.raises(ValueError, match="n_time_bins is 0"):
        to_voxel_grid(events, sensor_size=(3, 1), n_time_bins=0)
    with pytest.raises(ValueError, match="polarity_channels is 3"):
        to_voxel_grid(events, sensor_size=(3, 1), n_time_bins=2, polarity_channels=3)
