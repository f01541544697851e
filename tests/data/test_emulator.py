"""The emulator's sensor effects (noise, hot pixels, OFF threshold, low-pass, one sensor) and ndigits unchanged."""

import subprocess
import types
from pathlib import Path

import numpy as np
import pytest

from ltsnn.data import simulate_saccades
from ltsnn.data.datasets.ndigits import EMULATOR, EMULATOR_SEED, emulated_digits, load_digits

# The last commit before the sensor effects: its emulator defines the events ndigits must keep.
BEFORE_EFFECTS = "51f0c4a"
REPO = Path(__file__).resolve().parents[2]
DURATION_S = 0.3


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    images, _ = load_digits()
    return images[:16].astype(np.float32) / 16


def static(n: int) -> np.ndarray:
    """n images that do not move (saccade (0, 0) below): every event is noise."""
    return np.full((n, 8, 8), 0.5, dtype=np.float32)


def test_ndigits_events_unchanged_from_before_the_effects():
    try:
        source = subprocess.run(["git", "-C", str(REPO), "show", f"{BEFORE_EFFECTS}:ltsnn/data/simulate.py"],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"not a git checkout with commit {BEFORE_EFFECTS}")
    before = types.ModuleType("simulate_before")
    exec(compile(source, "simulate_before.py", "exec"), before.__dict__)
    images, _ = load_digits()
    old = before.simulate_saccades(images.astype(np.float32) / 16, rng=np.random.default_rng(EMULATOR_SEED),
                                   **EMULATOR)
    new = emulated_digits(EMULATOR_SEED, **EMULATOR)
    assert len(old) == len(new) == 1797
    assert all(np.array_equal(a, b) for a, b in zip(old, new))


def test_static_image_without_noise_gives_no_events():
    events = simulate_saccades(static(4), rng=np.random.default_rng(0), saccade=(0.0, 0.0), cutoff_hz=30.0,
                               off_threshold_scale=0.8, threshold_sigma=0.1)
    assert sum(len(e) for e in events) == 0


@pytest.mark.parametrize("on_fraction", [0.5, 0.9])
def test_background_rate_and_polarity_match_the_settings(on_fraction):
    n, rate = 20, 5.0
    events = simulate_saccades(static(n), rng=np.random.default_rng(1), saccade=(0.0, 0.0), background_rate_hz=rate,
                               background_on_fraction=on_fraction)
    count = sum(len(e) for e in events)
    expected = n * 34 * 34 * DURATION_S * rate                                 # Poisson mean, 3,468
    assert abs(count - expected) < 4 * np.sqrt(expected)
    on = sum(int(e["p"].sum()) for e in events)
    assert abs(on - count * on_fraction) < 4 * np.sqrt(count * on_fraction * (1 - on_fraction))
    every = np.concatenate(events)
    assert every["t"].min() >= 0 and every["t"].max() < 300_000
    assert all(np.all(np.diff(e["t"]) >= 0) for e in events)
    # Spread over the whole sensor and the whole recording, not only where the image is.
    assert len(np.unique(every["y"].astype(int) * 34 + every["x"])) > 0.9 * 34 * 34
    assert np.histogram(every["t"], bins=3, range=(0, 300_000))[0].min() > 0.3 * count


def test_noise_adds_events_and_keeps_the_signal(digits):
    # With sensor_seed the hot pixels are drawn from the sensor's generator, not from rng.
    clean = simulate_saccades(digits, rng=np.random.default_rng(2), sensor_seed=3)
    noisy = simulate_saccades(digits, rng=np.random.default_rng(2), sensor_seed=3, background_rate_hz=2.0,
                              hot_pixel_fraction=0.01)
    for c, n in zip(clean, noisy):
        assert len(n) > len(c)
        # Every signal event is still there: the noise draws come after the signal's.
        kept = np.isin(c.view(np.void), n.view(np.void))
        assert kept.all()


def test_hot_pixels_fire_at_their_rate_on_one_sensor():
    settings = dict(saccade=(0.0, 0.0), hot_pixel_fraction=0.02, hot_pixel_rate_hz=200.0, sensor_seed=7)
    a = simulate_saccades(static(6), rng=np.random.default_rng(3), **settings)
    b = simulate_saccades(static(6), rng=np.random.default_rng(4), **settings)
    pixels = [set(np.unique(e["y"].astype(int) * 34 + e["x"]).tolist()) for e in a + b]
    assert all(p == pixels[0] for p in pixels)                     # the same hot pixels in every recording
    assert 0.005 * 34 * 34 < len(pixels[0]) < 0.04 * 34 * 34        # ~23 of 1,156
    per_pixel = sum(len(e) for e in a) / (6 * len(pixels[0]))
    assert abs(per_pixel - 200.0 * DURATION_S) < 4 * np.sqrt(200.0 * DURATION_S / (6 * len(pixels[0]))) * 2
    other = simulate_saccades(static(1), rng=np.random.default_rng(3), **{**settings, "sensor_seed": 8})
    assert set(np.unique(other[0]["y"].astype(int) * 34 + other[0]["x"]).tolist()) != pixels[0]


def test_sensor_seed_fixes_the_thresholds(digits):
    # Same sensor, same jitter generator: the same events whatever else the rng did before.
    a = simulate_saccades(digits[:2], rng=np.random.default_rng(5), sensor_seed=11)
    b = simulate_saccades(digits[:2], rng=np.random.default_rng(5), sensor_seed=11)
    c = simulate_saccades(digits[:2], rng=np.random.default_rng(5), sensor_seed=12, threshold_sigma=0.05)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_off_threshold_scale_moves_the_on_share(digits):
    def on_share(scale):
        events = simulate_saccades(digits, rng=np.random.default_rng(6), off_threshold_scale=scale)
        every = np.concatenate(events)
        return every["p"].mean(), len(every)
    (low, n_low), (mid, n_mid), (high, n_high) = on_share(0.8), on_share(1.0), on_share(1.25)
    assert low < mid - 0.02 and high > mid + 0.02         # a cheaper OFF event means more OFF events
    assert n_low > n_mid > n_high


def test_low_pass_delays_the_events(digits):
    def timing(cutoff):
        every = np.concatenate(simulate_saccades(digits, rng=np.random.default_rng(7), cutoff_hz=cutoff))
        first = every["t"][every["t"] < 100_000]          # the first saccade
        return first.mean(), len(every)
    t_sharp, n_sharp = timing(np.inf)
    t_slow, n_slow = timing(20.0)                         # τ = 8 ms
    assert 3_000 < t_slow - t_sharp < 15_000
    assert n_slow < n_sharp                               # smoothing loses some crossings


@pytest.mark.parametrize("key, value", [("background_rate_hz", -1.0), ("background_on_fraction", 1.5),
                                        ("hot_pixel_fraction", 2.0), ("hot_pixel_rate_hz", np.inf),
                                        ("cutoff_hz", 0.0), ("off_threshold_scale", 0.0),
                                        ("background_rate_hz", np.nan)])
def test_bad_effect_settings_are_refused(key, value):
    with pytest.raises(ValueError, match=rf"simulate_saccades: {key} is {value}; expected"):
        simulate_saccades(static(1), rng=np.random.default_rng(0), **{key: value})
