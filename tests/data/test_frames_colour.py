"""The LT-SNN colour-presence preset against a direct re-statement of that code's rules."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ltsnn.data import make_events
from ltsnn.data.functional import ltsnn_colour_frames, resize_frames


def reference_colour(events, width, height, n_bins, binning):
    """Event by event in file order: bin by the LT-SNN rule (or equal spans), paint red (ON) / green (OFF)."""
    t = events["t"].astype(np.int64)
    span = int(t[-1] - t[0])
    frames = np.zeros((n_bins, 3, height, width), dtype=np.float32)
    for e in events:
        if binning == "ltsnn":
            k = min((int(e["t"]) - int(t[0])) // (span // (n_bins - 1)), n_bins - 1)
        else:
            k = min((int(e["t"]) - int(t[0])) * n_bins // span, n_bins - 1)
        frames[k, :, e["y"], e["x"]] = (255, 0, 0) if e["p"] == 1 else (0, 255, 0)   # the later event overwrites
    return frames


def test_by_hand_last_event_wins_and_last_bin_quirk():
    # span 100, T = 3: dt = 50; bins [0, 50), [50, 100), {100}. Pixel (0, 0) gets ON then OFF in bin 0: green.
    events = make_events([0, 10, 60, 99, 100], [0, 0, 1, 1, 1], [0, 0, 0, 0, 1], [1, 0, 1, 1, 1])
    got = ltsnn_colour_frames(events, sensor_size=(2, 2), n_time_bins=3, size=None)
    expected = np.zeros((3, 3, 2, 2), dtype=np.float32)
    expected[0, 1, 0, 0] = 255            # green: the OFF event came last
    expected[1, 0, 0, 1] = 255            # red: two ON events, presence only
    expected[2, 0, 1, 1] = 255            # the final event alone in the last bin
    np.testing.assert_array_equal(got, expected)
    # The fixed binning (3 equal spans of 33.3 µs) moves t = 60 and 99 to bins 1 and 2.
    fixed = ltsnn_colour_frames(events, sensor_size=(2, 2), n_time_bins=3, binning="duration", size=None)
    assert fixed[1, 0, 0, 1] == 255 and fixed[2, 0, 0, 1] == 255 and fixed[2, 0, 1, 1] == 255


@pytest.mark.parametrize("binning", ["ltsnn", "duration"])
def test_matches_reference_and_torch_resize(binning):
    rng = np.random.default_rng(0)
    n = 5000
    events = make_events(np.sort(rng.integers(0, 300_000, n)), rng.integers(0, 128, n), rng.integers(0, 128, n),
                         rng.integers(0, 2, n))
    expected = reference_colour(events, 128, 128, 30, binning)
    full = ltsnn_colour_frames(events, sensor_size=(128, 128), n_time_bins=30, binning=binning, size=None)
    np.testing.assert_array_equal(full, expected)
    assert set(np.unique(full)) <= {0.0, 255.0} and not full[:, 2].any()
    # torchvision's tensor Resize on uint8: bilinear in float, no antialias, rounded half to even.
    resized = ltsnn_colour_frames(events, sensor_size=(128, 128), n_time_bins=30, binning=binning)
    reference = torch.round(F.interpolate(torch.from_numpy(expected).double(), size=(48, 48), mode="bilinear",
                                          align_corners=False, antialias=False)).float().numpy()
    assert resized.shape == (30, 3, 48, 48)
    # They agree except where the exact bilinear value is a tie k + 0.5: we round the exact value half
    # to even, torch rounds its float approximation (just above or below the tie).
    exact = resize_frames(expected, (48, 48), mode="bilinear")
    differ = resized != reference
    assert differ.mean() < 1e-4
    np.testing.assert_array_equal(exact[differ] % 1, 0.5)
    np.testing.assert_array_equal(np.abs(resized - reference)[differ], 1)


def test_ltsnn_binning_puts_little_in_the_last_bin():
    # With the T - 1 divisor the last bin holds only events at t >= t_0 + (T - 1) * dt.
    rng = np.random.default_rng(1)
    events = make_events(np.sort(np.r_[0, rng.integers(0, 1_000_000, 998), 1_000_000]), rng.integers(0, 8, 1000),
                         rng.integers(0, 8, 1000), np.ones(1000, dtype=int))
    quirk = ltsnn_colour_frames(events, sensor_size=(8, 8), n_time_bins=10, size=None)
    assert quirk[-1].sum() == 255                # just the final event's pixel
    fixed = ltsnn_colour_frames(events, sensor_size=(8, 8), n_time_bins=10, binning="duration", size=None)
    assert fixed[-1].sum() > 30 * 255


def test_bad_options_raise():
    events = make_events([0, 1], [0, 1], [0, 0], [1, 0])
    with pytest.raises(ValueError, match="unknown binning 'count'"):
        ltsnn_colour_frames(events, sensor_size=(2, 1), n_time_bins=2, binning="count")
    with pytest.raises(ValueError, match="span = 1 µs"):
        ltsnn_colour_frames(events, sensor_size=(2, 1), n_time_bins=3)
