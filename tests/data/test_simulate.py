from importlib import resources

import numpy as np
import pytest

from ltsnn.data import EVENT_DTYPE, simulate_saccades
from ltsnn.data.simulate import _axis_plan, _saccade_path, _upsample_matrix


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """Twelve UCI digits as float32 in [0, 1], [12, 8, 8]."""
    with resources.files("ltsnn.data").joinpath("assets/digits.npz").open("rb") as f, np.load(f) as npz:
        return npz["images"][:12].astype(np.float32) / 16


@pytest.fixture(scope="module")
def recorded(digits) -> list[np.ndarray]:
    return simulate_saccades(digits, rng=np.random.default_rng(0), image_size=(20, 20))


def test_layout_and_ordering(recorded):
    assert len(recorded) == 12
    for events in recorded:
        assert events.dtype == EVENT_DTYPE
        assert len(events) > 500
        assert np.all(np.diff(events["t"]) >= 0)
        assert events["x"].max() < 34 and events["y"].max() < 34
        assert set(np.unique(events["p"])) == {0, 1}
        assert 0.3 < events["p"].mean() < 0.7


def test_deterministic_given_rng(digits, recorded):
    again = simulate_saccades(digits, rng=np.random.default_rng(0), image_size=(20, 20))
    assert all(np.array_equal(a, b) for a, b in zip(recorded, again))
    other = simulate_saccades(digits, rng=np.random.default_rng(1), image_size=(20, 20))
    assert not all(np.array_equal(a, b) for a, b in zip(recorded, other))


def test_three_saccades_span_300_ms(recorded):
    t = np.concatenate([e["t"] for e in recorded])
    assert t.min() >= 0 and t.max() < 300_000
    assert t.min() < 10_000 and t.max() > 290_000
    # The motion stops at each corner (t = 100, 200 ms), so the event rate dips there and peaks
    # mid-saccade (t = 50, 150, 250 ms).
    counts = np.histogram(t, bins=np.arange(0, 300_001, 10_000))[0]      # 10 ms bins
    for corner, middles in ((10, (5, 14)), (20, (15, 24))):
        assert counts[corner - 1] + counts[corner] < 0.3 * min(counts[middles[0]], counts[middles[1]])
    assert min(counts[4], counts[14], counts[24]) > 0.04 * len(t)      # uniform would be 1/30


def test_static_image_gives_no_events(digits):
    events = simulate_saccades(digits[:3], rng=np.random.default_rng(0), saccade=(0.0, 0.0))
    assert sum(len(e) for e in events) == 0


def test_motion_direction_and_axes():
    # Horizontal stripes (constant along x) wider than the sensor: horizontal motion changes no
    # pixel, vertical motion does.
    stripes = np.zeros((1, 8, 8), dtype=np.float32)
    stripes[0, ::2, :] = 1.0
    horizontal = simulate_saccades(stripes, rng=np.random.default_rng(0), image_size=(60, 60), saccade=(3.0, 0.0))
    vertical = simulate_saccades(stripes, rng=np.random.default_rng(0), image_size=(60, 60), saccade=(0.0, 3.0))
    assert len(horizontal[0]) == 0
    assert len(vertical[0]) > 1000


def test_sensor_size_is_width_height(digits):
    (events,) = simulate_saccades(digits[:1], rng=np.random.default_rng(0), sensor_size=(60, 34), image_size=(20, 20))
    # The digit is centred: x around 30 on a 60-wide sensor, y around 17 on a 34-high one.
    assert abs(events["x"].mean() - 29.5) < 4 and abs(events["y"].mean() - 16.5) < 4
    assert events["x"].max() < 60 and events["x"].min() > 15


def test_uint8_input_matches_float(digits):
    as_uint8 = np.round(digits * 255).astype(np.uint8)
    a = simulate_saccades(as_uint8[:2], rng=np.random.default_rng(3))
    b = simulate_saccades(as_uint8[:2].astype(np.float32) / np.float32(255), rng=np.random.default_rng(3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_higher_threshold_fewer_events(digits):
    low = simulate_saccades(digits[:4], rng=np.random.default_rng(0), contrast_threshold=0.15)
    high = simulate_saccades(digits[:4], rng=np.random.default_rng(0), contrast_threshold=0.3)
    assert sum(map(len, high)) < 0.7 * sum(map(len, low))


def test_refractory_period_is_respected(recorded):
    for events in recorded[:4]:
        pixel = events["y"].astype(np.int64) * 34 + events["x"]
        order = np.lexsort((events["t"], pixel))
        same_pixel = pixel[order][1:] == pixel[order][:-1]
        assert np.diff(events["t"][order])[same_pixel].min() >= 1000


@pytest.mark.parametrize("n_out, n_up", [(34, 20), (34, 28), (34, 40), (10, 20)])
def test_sampling_matches_direct_bilinear(n_out, n_up):
    """The windowed canvas slices equal a direct bilinear sample of the shifted upsampled image."""
    _, path = _saccade_path((3.0, 5.0), saccade_us=100_000, dt_us=1000)
    signal = _upsample_matrix(n_up, 8) @ np.random.default_rng(0).random(8)         # [n_up]
    for axis in (0, 1):
        shift = path[:, axis]
        plan = _axis_plan(shift, n_out=n_out, n_up=n_up)
        canvas = np.zeros(plan.length)
        canvas[plan.place] = signal[plan.crop]
        q = (n_out - n_up) / 2 - (shift.min() + shift.max()) / 2 + shift
        for k in range(0, len(shift), 13):
            u = np.arange(n_out) - q[k]                       # where each sensor pixel looks
            padded = np.concatenate([[0.0], signal, [0.0]])
            i0 = np.floor(u).astype(int)
            inside = (i0 >= -1) & (i0 < n_up)
            direct = np.where(inside, (1 - (u - i0)) * padded[np.clip(i0 + 1, 0, n_up + 1)]
                              + (u - i0) * padded[np.clip(i0 + 2, 0, n_up + 1)], 0.0)
            s, f = plan.starts[k], plan.fractions[k]
            fast = np.zeros(n_out)
            fast[plan.first:plan.first + plan.size] = f * canvas[s:s + plan.size] + (1 - f) * canvas[s + 1:s + 1 + plan.size]
            np.testing.assert_allclose(fast, direct, atol=1e-6)


def test_upsample_matches_torch_bilinear():
    torch = pytest.importorskip("torch")
    image = np.random.default_rng(0).random((8, 8))
    ours = _upsample_matrix(20, 8) @ image @ _upsample_matrix(20, 8).T
    theirs = torch.nn.functional.interpolate(torch.tensor(image)[None, None], size=(20, 20), mode="bilinear",
                                             align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


@pytest.mark.parametrize("images, kw, match", [
    (np.full((1, 4, 4), 1.5), {}, r"images\[0, 0, 0\] is 1.5"),
    (np.zeros((4, 4)), {}, r"shape \(4, 4\); expected \[N, H, W\]"),
    (np.zeros((1, 4, 4), dtype=np.int32), {}, "dtype int32"),
    (np.zeros((1, 4, 4)), {"dt_us": 0.5}, "dt_us is 0.5"),
    (np.zeros((1, 4, 4)), {"contrast_threshold": 0.0}, "contrast_threshold is 0.0"),
])
def test_bad_arguments_raise(images, kw, match):
    with pytest.raises(ValueError, match=match):
        simulate_saccades(images, rng=np.random.default_rng(0), **kw)


def test_polarity_follows_brightness():
    # A white square moving right (first saccade: +x) brightens pixels at its leading (right)
    # edge, which give ON events, and darkens those at its trailing (left) edge: OFF events.
    square = np.zeros((1, 8, 8), dtype=np.float32)
    square[0, 2:6, 2:6] = 1.0
    (events,) = simulate_saccades(square, rng=np.random.default_rng(0), saccade=(3.0, 0.0))
    first = events[events["t"] < 100_000]
    on, off = first[first["p"] == 1], first[first["p"] == 0]
    assert len(on) > 50 and len(off) > 50
    assert on["x"].mean() > off["x"].mean() + 5
