"""DVS emulator: static grayscale images -> events, by moving the image in three saccades.

N-MNIST (Orchard et al., "Converting static image datasets to spiking neuromorphic datasets using
saccades", Front. Neurosci. 2015) was recorded by pointing an ATIS sensor at a monitor showing each
MNIST digit and moving the sensor along a triangle in three ~100 ms saccades. This module does the
same in software:

1. Each image [H, W] is upsampled (bilinear, half-pixel centres, edges clamped) to ``image_size``
   and placed on a black field of ``sensor_size``, centred on the path of the motion.
2. The image moves along the triangle (0, 0) -> (+dx, +dy) -> (-dx, +dy) -> (0, 0) pixels, one
   saccade per edge. Within a saccade the position follows a cosine ease, (1 - cos πτ)/2 of the
   way at τ ∈ [0, 1], so the motion stops at each corner as a pan-tilt unit does (and the event
   rate dips there, as it does in N-MNIST). Shifts are subpixel: the upsampled image is sampled
   bilinearly at the shifted position, with black outside it.
3. Time advances in steps of ``dt_us``. At step k each pixel sees the log intensity
   L = log(I + log_eps), I ∈ [0, 1]; the offset keeps black finite and models the monitor's black
   level. A pixel remembers the L at which it last fired (initially its L at t = 0, so a static
   image gives no events). It emits n = floor(|L - L_ref| / C_pixel) events (ON if L rose, else
   OFF), spaced by ``refractory_us`` and starting at a uniformly jittered time within the step
   (and not before its refractory period has ended); each event moves L_ref by C_pixel toward L.
   Events that would fall past the step are not emitted: the rest of the change carries over to
   the next step, as a real pixel reports it once its refractory period is over.
4. C_pixel ~ Normal(contrast_threshold, threshold_sigma), drawn once per sensor, floored at
   ``_MIN_THRESHOLD``; an OFF event needs ``off_threshold_scale`` * C_pixel.

Sensor effects that real recordings have, each off by default (the defaults reproduce the
emulator as it was before they existed, event for event):

- **finite bandwidth** (``cutoff_hz``): the pixel sees its log intensity through a first-order
  low-pass, L_f += (1 - exp(-2π f_c dt)) (L - L_f), so events lag the motion and fast changes
  are smoothed;
- **background activity** (``background_rate_hz``): every pixel fires spontaneous events, Poisson
  in time, ON with probability ``background_on_fraction``;
- **hot pixels** (``hot_pixel_fraction``): that share of the pixels, chosen once per sensor, fire
  Poisson at ``hot_pixel_rate_hz`` (same ON share).

Noise and hot-pixel events are added to the signal events: they neither move L_ref nor respect
the refractory period (at a few Hz per pixel the overlap is negligible). The sensor's fixed
pattern (thresholds, then hot pixels) is drawn from ``rng``, or from ``sensor_seed`` so that
several calls record with one sensor.

Example:
    >>> import numpy as np
    >>> from ltsnn.data import simulate_saccades
    >>> square = np.zeros((1, 8, 8), dtype=np.float32); square[0, 2:6, 2:6] = 1
    >>> (clean,) = simulate_saccades(square, rng=np.random.default_rng(0))
    >>> (noisy,) = simulate_saccades(square, rng=np.random.default_rng(0), background_rate_hz=5.0)
    >>> len(clean) > 100, len(noisy) - len(clean) > 0.5 * 34 * 34 * 5.0 * 0.3
    (True, True)
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from ltsnn.data.events import make_events

# Images emulated together: the per-step arrays of this many 34x34 sensors (~0.6 MB of float32)
# stay in cache, and chunks run in parallel threads. Each chunk draws its jitter from its own
# generator, so the output depends on this constant (fixed) and not on how the work is scheduled.
_CHUNK = 128
# Lower bound of a pixel's contrast threshold (log units): a Gaussian draw near zero would make
# a pixel fire on every step.
_MIN_THRESHOLD = 0.01

# Sensor settings fitted so that emulated digits match 1,000 real N-MNIST recordings (ATIS) in events
# per sample, ON share and share of isolated (noise) events: bench/emulator_calibration.py, docs/datasets.md.
NMNIST_SENSOR: dict = {"contrast_threshold": 0.21, "threshold_sigma": 0.03, "off_threshold_scale": 0.91,
                       "refractory_us": 1000, "log_eps": 0.3, "cutoff_hz": 100.0, "background_rate_hz": 0.55,
                       "background_on_fraction": 0.9, "hot_pixel_fraction": 0.005, "hot_pixel_rate_hz": 10.0}


def simulate_saccades(images: np.ndarray, *, rng: np.random.Generator, sensor_size: tuple[int, int] = (34, 34),
                      image_size: tuple[int, int] = (28, 28), saccade: tuple[float, float] = (3.0, 5.0),
                      saccade_us: int = 100_000, dt_us: int = 1000, contrast_threshold: float = 0.2,
                      threshold_sigma: float = 0.03, refractory_us: int = 1000, log_eps: float = 0.3,
                      off_threshold_scale: float = 1.0, cutoff_hz: float = math.inf,
                      background_rate_hz: float = 0.0, background_on_fraction: float = 0.5,
                      hot_pixel_fraction: float = 0.0, hot_pixel_rate_hz: float = 100.0,
                      sensor_seed: int | None = None) -> list[np.ndarray]:
    """Turn grayscale images into event recordings made by three simulated saccades.

    Args:
        images: [N, H, W] grayscale, float in [0, 1] or uint8 (0..255 maps to [0, 1]).
        rng: source of all randomness (thresholds, timestamp jitter, noise): the output is a
            function of the images, the parameters and the generator's state.
        sensor_size: (W, H) of the sensor in pixels.
        image_size: (W, H) in pixels that each image is upsampled to before it is placed.
        saccade: (dx, dy) in pixels: the triangle's corners are (0, 0), (+dx, +dy), (-dx, +dy).
        saccade_us: duration of one saccade in µs; the recording lasts 3 * saccade_us.
        dt_us: simulation time step in µs.
        contrast_threshold: nominal contrast threshold C, in log-intensity units.
        threshold_sigma: standard deviation of the per-pixel threshold around C.
        refractory_us: minimum time between two events of one pixel, in µs.
        log_eps: offset added to the intensity before the log.
        off_threshold_scale: an OFF event needs this times the pixel's threshold (1: symmetric).
        cutoff_hz: -3 dB frequency of the pixel's first-order low-pass on log intensity, in Hz
            (inf: none). Useful below ~1 / (2π dt_us).
        background_rate_hz: background-activity events per pixel per second, ON and OFF together.
        background_on_fraction: probability that a background or hot-pixel event is ON.
        hot_pixel_fraction: share of the pixels that are hot, in [0, 1].
        hot_pixel_rate_hz: events per second of each hot pixel.
        sensor_seed: seed of the sensor's fixed pattern (thresholds, hot pixels), so that several
            calls record with one sensor; None draws it from ``rng`` (one sensor per call).

    Returns:
        One Events array (:data:`~ltsnn.data.events.EVENT_DTYPE`) per image, sorted by time,
        with t in [0, 3 * saccade_us) µs, x < W and y < H of ``sensor_size``.
    """
    images = _as_unit_float(images)
    for name, value in (("sensor_size", sensor_size), ("image_size", image_size)):
        if len(value) != 2 or min(value) < 1:
            raise ValueError(f"simulate_saccades: {name} is {value}; expected (W, H) with positive ints")
    for name, value in (("saccade_us", saccade_us), ("dt_us", dt_us), ("refractory_us", refractory_us)):
        if not (isinstance(value, (int, np.integer)) and value > 0):
            raise ValueError(f"simulate_saccades: {name} is {value!r}; expected a positive int (µs)")
    for name, value in (("contrast_threshold", contrast_threshold), ("log_eps", log_eps)):
        if not value > 0:
            raise ValueError(f"simulate_saccades: {name} is {value}; expected a positive value")
    _check_effects(threshold_sigma=threshold_sigma, off_threshold_scale=off_threshold_scale, cutoff_hz=cutoff_hz,
                   background_rate_hz=background_rate_hz, background_on_fraction=background_on_fraction,
                   hot_pixel_fraction=hot_pixel_fraction, hot_pixel_rate_hz=hot_pixel_rate_hz)

    times_us, path = _saccade_path(saccade, saccade_us=saccade_us, dt_us=dt_us)   # [K+1], [K+1, 2] (dx, dy)
    pattern = rng if sensor_seed is None else np.random.default_rng(sensor_seed)
    threshold = np.maximum(contrast_threshold + threshold_sigma * pattern.standard_normal(sensor_size[::-1]),
                           _MIN_THRESHOLD).astype(np.float32)                       # [Hs, Ws]
    # Drawn after the thresholds and only when asked for, so the thresholds of a given seed stay as they were.
    hot = np.flatnonzero(pattern.random(sensor_size[0] * sensor_size[1]) < hot_pixel_fraction) \
        if hot_pixel_fraction > 0 else np.empty(0, dtype=np.int64)                  # flat y * Ws + x
    n_chunks = -(-len(images) // _CHUNK)
    seeds = rng.integers(0, np.iinfo(np.int64).max, size=n_chunks)
    noise = _Noise(duration_us=3 * saccade_us, sensor_size=sensor_size, background_rate_hz=background_rate_hz,
                   on_fraction=background_on_fraction, hot=hot, hot_rate_hz=hot_pixel_rate_hz)
    # Per step: the share of the gap to the new log intensity that the low-pass closes (1: no filter).
    smoothing = float(-np.expm1(-2 * np.pi * cutoff_hz * dt_us * 1e-6)) if math.isfinite(cutoff_hz) else 1.0

    def run(c: int) -> list[np.ndarray]:
        chunk_rng = np.random.default_rng(seeds[c])
        events = _simulate_chunk(images[c * _CHUNK:(c + 1) * _CHUNK], sensor_size=sensor_size, image_size=image_size,
                                 path=path, times_us=times_us, threshold=threshold, refractory_us=refractory_us,
                                 log_eps=log_eps, off_threshold_scale=off_threshold_scale, smoothing=smoothing,
                                 rng=chunk_rng)
        # The noise draws come after the signal's, so the signal events of a seed do not depend on it.
        return [noise.add(e, chunk_rng) for e in events] if noise.active else events

    # numpy releases the GIL inside its loops, so threads share the dense per-step work.
    with ThreadPoolExecutor(max_workers=min(n_chunks, os.cpu_count() or 1)) as pool:
        events = [e for chunk in pool.map(run, range(n_chunks)) for e in chunk]
    return events


def _check_effects(*, threshold_sigma: float, off_threshold_scale: float, cutoff_hz: float,
                   background_rate_hz: float, background_on_fraction: float, hot_pixel_fraction: float,
                   hot_pixel_rate_hz: float) -> None:
    checks = (("threshold_sigma", threshold_sigma, threshold_sigma >= 0, ">= 0"),
              ("off_threshold_scale", off_threshold_scale, off_threshold_scale > 0, "> 0"),
              ("cutoff_hz", cutoff_hz, cutoff_hz > 0, "> 0 Hz (inf: no low-pass)"),
              ("background_rate_hz", background_rate_hz, 0 <= background_rate_hz < math.inf, "a finite rate >= 0 Hz"),
              ("background_on_fraction", background_on_fraction, 0 <= background_on_fraction <= 1, "in [0, 1]"),
              ("hot_pixel_fraction", hot_pixel_fraction, 0 <= hot_pixel_fraction <= 1, "in [0, 1]"),
              ("hot_pixel_rate_hz", hot_pixel_rate_hz, 0 <= hot_pixel_rate_hz < math.inf, "a finite rate >= 0 Hz"))
    for name, value, ok, expected in checks:
        if not ok:                                                   # also catches NaN
            raise ValueError(f"simulate_saccades: {name} is {value}; expected {expected}")


class _Noise(NamedTuple):
    """Background activity of every pixel and the hot pixels' events, added to a recording."""

    duration_us: int
    sensor_size: tuple[int, int]
    background_rate_hz: float
    on_fraction: float
    hot: np.ndarray          # flat indices y * W + x of the hot pixels
    hot_rate_hz: float

    @property
    def active(self) -> bool:
        return self.background_rate_hz > 0 or (self.hot.size > 0 and self.hot_rate_hz > 0)

    def add(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``events`` with Poisson noise events merged in, sorted by time (the signal first at equal t)."""
        w, h = self.sensor_size
        seconds = self.duration_us * 1e-6
        n_background = rng.poisson(self.background_rate_hz * seconds * w * h)
        n_hot = rng.poisson(self.hot_rate_hz * seconds, size=self.hot.size)
        pixel = np.concatenate([rng.integers(0, w * h, size=n_background), np.repeat(self.hot, n_hot)])
        t = rng.integers(0, self.duration_us, size=pixel.size)
        p = rng.random(pixel.size) < self.on_fraction
        y, x = np.divmod(pixel, w)
        merged = np.concatenate([events, make_events(t, x, y, p)])
        return merged[np.argsort(merged["t"], kind="stable")]


def _as_unit_float(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or 0 in images.shape:
        raise ValueError(f"simulate_saccades: images has shape {images.shape}; expected [N, H, W] with N, H, W > 0")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255)
    if images.dtype.kind != "f":
        raise ValueError(f"simulate_saccades: images has dtype {images.dtype}; expected uint8 or float in [0, 1]")
    bad = np.flatnonzero(~((images >= 0) & (images <= 1)))   # the negation also catches NaN
    if bad.size:
        index = np.unravel_index(bad[0], images.shape)
        raise ValueError(f"simulate_saccades: images{list(map(int, index))} is {images[index]}; expected a value in [0, 1]")
    return images.astype(np.float32)


def _saccade_path(saccade: tuple[float, float], *, saccade_us: int, dt_us: int) -> tuple[np.ndarray, np.ndarray]:
    """Step times [K+1] (int64 µs, 0 .. 3 * saccade_us) and the image shift (dx, dy) at each [K+1, 2]."""
    dx, dy = saccade
    corners = np.array([(0.0, 0.0), (dx, dy), (-dx, dy), (0.0, 0.0)])
    duration = 3 * saccade_us
    times = np.minimum(np.arange(-(-duration // dt_us) + 1, dtype=np.int64) * dt_us, duration)
    segment = np.minimum(times // saccade_us, 2)
    tau = (times - segment * saccade_us) / saccade_us
    ease = (1 - np.cos(np.pi * tau)) / 2
    path = corners[segment] + ease[:, None] * (corners[segment + 1] - corners[segment])
    return times, path


def _upsample_matrix(n_up: int, n_in: int) -> np.ndarray:
    """Bilinear resize n_in -> n_up pixels as a matrix [n_up, n_in] (half-pixel centres, edges clamped,
    as torch's ``interpolate(..., align_corners=False)``)."""
    src = np.clip((np.arange(n_up) + 0.5) * n_in / n_up - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    matrix = np.zeros((n_up, n_in))
    matrix[np.arange(n_up), lo] += 1 - (src - lo)
    matrix[np.arange(n_up), np.minimum(lo + 1, n_in - 1)] += src - lo
    return matrix


class _AxisPlan(NamedTuple):
    """How one sensor axis samples the moving image (see :func:`_axis_plan`)."""

    first: int            # first sensor pixel of the window the image can reach
    size: int             # pixels in that window
    place: slice          # where the image's pixels go on the canvas ...
    crop: slice           # ... and which of them (an image larger than the sensor is cropped)
    length: int           # canvas length
    starts: np.ndarray    # [K] int: canvas index that window pixel 0 samples on its left at step k
    fractions: np.ndarray  # [K] float32: weight of that left sample


def _axis_plan(shift: np.ndarray, *, n_out: int, n_up: int) -> _AxisPlan:
    """Plan the bilinear sampling of one axis for shifts [K] in pixels.

    The image (n_up pixels, black outside) sits at q_k = offset + shift[k], the offset centring the
    range of the shifts in the sensor. With q_k = a_k + f_k (a_k integer, f_k in [0, 1)), sensor
    pixel i sees ``f_k * image[i - a_k - 1] + (1 - f_k) * image[i - a_k]``, which is black unless
    a_k <= i <= a_k + n_up: pixels outside that window for every k never change and never fire,
    so only the window is simulated. Its pixel i' reads a zero-padded canvas at
    ``starts[k] + i'`` (left) and ``starts[k] + i' + 1`` (right).
    """
    q = (n_out - n_up) / 2 - (shift.min() + shift.max()) / 2 + shift
    a = np.floor(q).astype(int)
    first = max(int(a.min()), 0)
    size = min(int(a.max()) + n_up, n_out - 1) - first + 1
    margin = int(a.max()) + 1 - first                 # canvas index of image pixel 0
    length = first + size - int(a.min()) + margin     # one past the right sample of the last pixel
    lo, hi = max(0, -margin), min(n_up, length - margin)
    return _AxisPlan(first, size, slice(lo + margin, hi + margin), slice(lo, hi), length,
                     first - a - 1 + margin, (q - a).astype(np.float32))


def _simulate_chunk(images: np.ndarray, *, sensor_size: tuple[int, int], image_size: tuple[int, int],
                    path: np.ndarray, times_us: np.ndarray, threshold: np.ndarray, refractory_us: int,
                    log_eps: float, off_threshold_scale: float, smoothing: float,
                    rng: np.random.Generator) -> list[np.ndarray]:
    """Emulate images [B, H, W] (float32 in [0, 1]); the sensor arrays are laid out [h, B, w] over the
    window (h, w) of pixels that the image can reach. ``smoothing`` < 1 low-passes the log intensity."""
    b = len(images)
    plan_y = _axis_plan(path[:, 1], n_out=sensor_size[1], n_up=image_size[1])
    plan_x = _axis_plan(path[:, 0], n_out=sensor_size[0], n_up=image_size[0])
    h, w = plan_y.size, plan_x.size
    # einsum, not matmul: OpenBLAS threads spin on these tiny products and run ~100x slower on
    # a busy 2-core machine.
    upsampled = np.einsum("yh,bhw,xw->ybx", _upsample_matrix(image_size[1], images.shape[1]), images,
                          _upsample_matrix(image_size[0], images.shape[2]))                 # [h_up, B, w_up]
    canvas = np.zeros((plan_y.length, b, plan_x.length), dtype=np.float32)
    canvas[plan_y.place, :, plan_x.place] = upsampled[plan_y.crop, :, plan_x.crop]
    row_pass = np.empty((plan_y.length, b, w), dtype=np.float32)
    intensity = np.empty((h, b, w), dtype=np.float32)

    def sample(k: int) -> np.ndarray:
        """Intensity [h*B*w] at step k: f * left + (1 - f) * right = right + f * (left - right)."""
        sx, sy = plan_x.starts[k], plan_y.starts[k]
        np.subtract(canvas[:, :, sx:sx + w], canvas[:, :, sx + 1:sx + 1 + w], out=row_pass)
        np.multiply(row_pass, plan_x.fractions[k], out=row_pass)
        np.add(row_pass, canvas[:, :, sx + 1:sx + 1 + w], out=row_pass)
        np.subtract(row_pass[sy:sy + h], row_pass[sy + 1:sy + 1 + h], out=intensity)
        np.multiply(intensity, plan_y.fractions[k], out=intensity)
        return np.add(intensity, row_pass[sy + 1:sy + 1 + h], out=intensity).ravel()

    # Compare in linear intensity, not log: |log(I + eps) - L_ref| >= C  <=>  I >= upper or
    # I <= lower, so the log is taken only at pixels that fire.
    eps = np.float32(log_eps)
    window = threshold[plan_y.first:plan_y.first + h, plan_x.first:plan_x.first + w]
    threshold_pix = np.broadcast_to(window[:, None, :], (h, b, w)).ravel()                # [h*B*w]
    # An OFF crossing needs the scaled threshold; scale 1 keeps the very same array (and results).
    threshold_off = threshold_pix if off_threshold_scale == 1 else threshold_pix * np.float32(off_threshold_scale)
    log_ref = np.log(sample(0) + eps)
    log_seen = log_ref.copy() if smoothing < 1 else None      # the low-passed log intensity, from rest
    upper = np.exp(log_ref + threshold_pix) - eps
    lower = np.exp(log_ref - threshold_off) - eps
    ready_us = np.full(log_ref.size, np.iinfo(np.int64).min // 2)   # when each pixel may fire again
    above = np.empty(log_ref.size, dtype=bool)
    below = np.empty(log_ref.size, dtype=bool)
    found_t, found_pixel, found_p = [], [], []
    for k in range(1, len(times_us)):
        t_start, t_end = int(times_us[k - 1]), int(times_us[k])
        level = sample(k)
        if log_seen is not None:
            # The filter runs on log intensity; mapping it back to linear keeps one comparison below.
            log_seen += np.float32(smoothing) * (np.log(level + eps) - log_seen)
            level = np.exp(log_seen, out=level)
            level -= eps
        np.greater_equal(level, upper, out=above)
        np.less_equal(level, lower, out=below)
        pixel = np.flatnonzero(np.logical_or(above, below, out=above))
        if pixel.size == 0:
            continue
        ref = log_ref[pixel]
        change = np.log(level[pixel] + eps) - ref
        thr = threshold_pix[pixel] if threshold_off is threshold_pix else \
            np.where(change > 0, threshold_pix[pixel], threshold_off[pixel])
        n = (np.abs(change) / thr).astype(np.int64)                       # whole thresholds crossed
        first = np.maximum(t_start + (rng.random(pixel.size) * (t_end - t_start)).astype(np.int64), ready_us[pixel])
        # Events stay inside [t_start, t_end); the rest of the change waits for a later step.
        n = np.minimum(n, np.maximum((t_end - 1 - first) // refractory_us + 1, 0))
        fired = np.flatnonzero(n)
        pixel, n, first, ref, thr, rising = pixel[fired], n[fired], first[fired], ref[fired], thr[fired], change[fired] > 0
        ref += np.where(rising, n, -n) * thr
        log_ref[pixel] = ref
        if threshold_off is threshold_pix:
            upper[pixel] = np.exp(ref + thr) - eps
            lower[pixel] = np.exp(ref - thr) - eps
        else:
            upper[pixel] = np.exp(ref + threshold_pix[pixel]) - eps
            lower[pixel] = np.exp(ref - threshold_off[pixel]) - eps
        ready_us[pixel] = first + n * refractory_us
        # One row per event: the j-th event of a burst comes j refractory periods after the first.
        burst = np.repeat(np.arange(pixel.size), n)
        t = first[burst] + (np.arange(burst.size) - np.repeat(np.cumsum(n) - n, n)) * refractory_us
        # Steps come in time order, so sorting within the step suffices; a 16-bit key gets numpy's
        # radix sort.
        order = np.argsort((t - t_start).astype(np.uint16 if t_end - t_start <= 65536 else np.int64), kind="stable")
        found_t.append(t[order])
        found_pixel.append(pixel[burst][order])
        found_p.append(rising[burst][order])
    if not found_t:
        return [make_events([], [], [], []) for _ in range(b)]
    t, pixel, p = np.concatenate(found_t), np.concatenate(found_pixel), np.concatenate(found_p)
    y, image, x = np.unravel_index(pixel, (h, b, w))
    order = np.argsort(image.astype(np.uint16), kind="stable")  # group by image, keeping time order (radix)
    bounds = np.cumsum(np.bincount(image, minlength=b))[:-1]
    return [make_events(t_i, x_i + plan_x.first, y_i + plan_y.first, p_i)
            for t_i, x_i, y_i, p_i in zip(*(np.split(a[order], bounds) for a in (t, x, y, p)))]
