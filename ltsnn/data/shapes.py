"""MovingShapes-DVS: a synthetic event detection set with exact boxes (spec detection.md §5.1).

Each sample is a 48 × 64 static grey scene with one or two objects moving at constant velocity:
class 0 "car" is a filled rectangle, class 1 "pedestrian" a filled ellipse, each dark (0.1) or bright
(0.9) independently of its class, so polarity carries no class cue. A DVS emulator records 60 ms;
the label instant is t_L = 60 ms and the ground-truth box is the object's exact box at t_L. The input
is the events of [t_L − 50 ms, t_L) (the first 10 ms are warm-up).

Emulator (the spec's, not :mod:`ltsnn.data.simulate`'s saccade emulator, which has a refractory period
and no noise): the scene is rendered every 1 ms with 4 × 4 supersampling (area coverage, so sub-pixel
motion changes a pixel gradually); L = log(I + 10⁻³); each pixel has a contrast threshold
C ~ N(0.20, 0.03), floored at 0.05, fixed per sample, and a reference L₀ = L(0). At every step a pixel
emits n = ⌊|L − ref| / C⌋ events of sign(L − ref), spread evenly inside the step, and its reference
moves by n·C toward L. Background activity adds 0.5 Hz per pixel, uniform in time, position and polarity.

Sample i of a split is drawn from ``SeedSequence([seed, i])`` alone, so the first n samples of a split do
not depend on its size. Generation takes ≈ 10 ms per sample (one core); the arrays of a split are cached on
disk (:func:`load_or_generate`), keyed by every generator parameter, the seed, the size and :data:`VERSION`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ltsnn.data.fingerprint import code_fingerprint
from ltsnn.data.events import EVENT_DTYPE, make_events
from ltsnn.data.io.dat import write_dat
from ltsnn.files import write_atomic

# Bump when the generator's output changes for the same parameters: old cache files are then ignored.
VERSION = 1
CLASSES = ("car", "pedestrian")
CAR, PEDESTRIAN = 0, 1


@dataclass(frozen=True)
class ShapesParams:
    """The generator's parameters (spec §5.1); every field is part of the cache key."""

    height: int = 48
    width: int = 64
    background: float = 0.5
    car_w: tuple[float, float] = (14.0, 22.0)          # U[low, high] px
    car_h: tuple[float, float] = (7.0, 11.0)
    pedestrian_w: tuple[float, float] = (6.0, 9.0)
    pedestrian_h: tuple[float, float] = (12.0, 20.0)
    intensities: tuple[float, float] = (0.1, 0.9)      # each with probability ½, independent of the class
    speed: tuple[float, float] = (80.0, 240.0)         # px/s
    vertical_factor: float = 0.5                       # the vertical velocity component is scaled by this
    max_overlap: float = 0.2                           # of the smaller box's area, at t_L
    label_us: int = 60_000                             # t_L: simulation start to label instant
    window_us: int = 50_000                            # input events: t ∈ [t_L − window, t_L)
    step_us: int = 1000
    supersample: int = 4
    log_eps: float = 1e-3
    contrast: float = 0.20
    contrast_sigma: float = 0.03
    contrast_min: float = 0.05
    noise_hz: float = 0.5                              # background activity per pixel

    @property
    def sensor_size(self) -> tuple[int, int]:
        """(W, H), the order of :mod:`ltsnn.data` sensor sizes."""
        return self.width, self.height


class Sample(NamedTuple):
    """One generated sample: all events of [0, t_L) and the exact boxes at t_L."""

    events: np.ndarray      # Events [N], sorted by t, t ∈ [0, label_us) µs
    boxes: np.ndarray       # float32 [M, 4] (x_left, y_top, w, h) px at t_L
    labels: np.ndarray      # int64 [M]: 0 car, 1 pedestrian


class MovingObject(NamedTuple):
    """One object of a scene, moving at constant velocity; its box at t_L is (cx ± w/2, cy ± h/2)."""

    cls: int                # CAR (rectangle) or PEDESTRIAN (ellipse)
    cx: float               # centre at t_L, px (continuous: pixel j covers [j, j + 1))
    cy: float
    w: float
    h: float
    vx: float               # px/s
    vy: float
    value: float            # intensity


def generate_sample(params: ShapesParams, *, seed: int, index: int) -> Sample:
    """Sample ``index`` of the split drawn with ``seed`` (a function of (params, seed, index) only)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    objects = _draw_objects(params, rng)
    contrast = np.maximum(rng.normal(params.contrast, params.contrast_sigma, (params.height, params.width)),
                          params.contrast_min)                                     # [H, W] log units
    events = _emulate(objects, contrast, params, rng)
    boxes = np.array([[o.cx - o.w / 2, o.cy - o.h / 2, o.w, o.h] for o in objects], dtype=np.float32)
    labels = np.array([o.cls for o in objects], dtype=np.int64)
    return Sample(events, boxes, labels)


def _draw_objects(params: ShapesParams, rng: np.random.Generator) -> list[MovingObject]:
    n = int(rng.integers(1, 3))
    objects: list[MovingObject] = []
    while len(objects) < n:
        cls = int(rng.integers(0, 2))
        w_range, h_range = ((params.car_w, params.car_h) if cls == CAR else (params.pedestrian_w, params.pedestrian_h))
        w, h = rng.uniform(*w_range), rng.uniform(*h_range)
        value = params.intensities[int(rng.integers(0, 2))]
        speed, angle = rng.uniform(*params.speed), rng.uniform(0, 2 * np.pi)
        cx = rng.uniform(w / 2, params.width - w / 2)                  # the box at t_L lies fully inside
        cy = rng.uniform(h / 2, params.height - h / 2)
        candidate = MovingObject(cls, cx, cy, w, h, speed * np.cos(angle), params.vertical_factor * speed * np.sin(angle),
                            value)
        if all(_overlap(candidate, o) <= params.max_overlap * min(candidate.w * candidate.h, o.w * o.h)
               for o in objects):
            objects.append(candidate)                                   # else: draw the new object again
    return objects


def _overlap(a: MovingObject, b: MovingObject) -> float:
    dx = min(a.cx + a.w / 2, b.cx + b.w / 2) - max(a.cx - a.w / 2, b.cx - b.w / 2)
    dy = min(a.cy + a.h / 2, b.cy + b.h / 2) - max(a.cy - a.h / 2, b.cy - b.h / 2)
    return max(dx, 0.0) * max(dy, 0.0)


def render(objects: list[MovingObject], t_us: int, params: ShapesParams) -> np.ndarray:
    """Intensity [H, W] at time ``t_us``: each object's area coverage (S × S sub-pixel samples) blended over
    the background, later objects over earlier ones."""
    s = params.supersample
    image = np.full((params.height, params.width), params.background)
    dt = (t_us - params.label_us) * 1e-6
    for o in objects:
        cx, cy = o.cx + o.vx * dt, o.cy + o.vy * dt
        x0, x1 = max(int(np.floor(cx - o.w / 2)), 0), min(int(np.ceil(cx + o.w / 2)), params.width)
        y0, y1 = max(int(np.floor(cy - o.h / 2)), 0), min(int(np.ceil(cy + o.h / 2)), params.height)
        if x1 <= x0 or y1 <= y0:
            continue                                                    # outside the sensor at this time
        xs = x0 + (np.arange((x1 - x0) * s) + 0.5) / s                  # sub-pixel centres [(x1-x0)·S]
        ys = y0 + (np.arange((y1 - y0) * s) + 0.5) / s
        u, v = (xs - cx) / (o.w / 2), (ys - cy) / (o.h / 2)             # normalised offsets from the centre
        if o.cls == CAR:
            inside = (np.abs(v)[:, None] <= 1) & (np.abs(u)[None, :] <= 1)
        else:
            inside = v[:, None] ** 2 + u[None, :] ** 2 <= 1
        coverage = inside.reshape(y1 - y0, s, x1 - x0, s).mean(axis=(1, 3))   # [h', S, w', S] -> [h', w']
        patch = image[y0:y1, x0:x1]
        image[y0:y1, x0:x1] = patch + coverage * (o.value - patch)
    return image


def _emulate(objects: list[MovingObject], contrast: np.ndarray, params: ShapesParams,
             rng: np.random.Generator) -> np.ndarray:
    """Events [N] of [0, t_L), sorted by t (stable: pixel order within a timestamp)."""
    ref = np.log(render(objects, 0, params) + params.log_eps)          # [H, W] reference log intensity
    found_t, found_pixel, found_p = [], [], []
    for t_end in range(params.step_us, params.label_us + 1, params.step_us):
        level = np.log(render(objects, t_end, params) + params.log_eps)
        diff = level - ref
        n = np.floor(np.abs(diff) / contrast).astype(np.int64)          # whole thresholds crossed
        pixel = np.flatnonzero(n)
        if pixel.size == 0:
            continue
        count = n.ravel()[pixel]
        rising = diff.ravel()[pixel] > 0
        ref.ravel()[pixel] += np.where(rising, count, -count) * contrast.ravel()[pixel]
        burst = np.repeat(np.arange(pixel.size), count)
        j = np.arange(burst.size) - np.repeat(np.cumsum(count) - count, count)   # index within the burst
        # n events spread evenly inside (t_end − step, t_end]: the j-th at the centre of the j-th n-th.
        found_t.append(t_end - params.step_us + ((2 * j + 1) * params.step_us) // (2 * count[burst]))
        found_pixel.append(pixel[burst])
        found_p.append(rising[burst])
    n_noise = rng.poisson(params.noise_hz * params.height * params.width * params.label_us * 1e-6)
    found_t.append(rng.integers(0, params.label_us, n_noise))
    found_pixel.append(rng.integers(0, params.height * params.width, n_noise))
    found_p.append(rng.integers(0, 2, n_noise).astype(bool))
    t, pixel, p = (np.concatenate(a) for a in (found_t, found_pixel, found_p))
    order = np.argsort(t, kind="stable")
    y, x = np.divmod(pixel[order], params.width)
    return make_events(t[order], x, y, p[order].astype(np.int8))


# ---------------------------------------------------------------------------------------------- a split


class ShapesSplit(NamedTuple):
    """A generated split in flat arrays (what the cache file holds)."""

    events: np.ndarray          # Events of every sample, concatenated
    event_offsets: np.ndarray   # int64 [N + 1]: sample i's events are events[event_offsets[i]:event_offsets[i+1]]
    boxes: np.ndarray           # float32 [M, 4] of every sample, concatenated
    labels: np.ndarray          # int64 [M]
    box_offsets: np.ndarray     # int64 [N + 1]

    def __len__(self) -> int:
        return len(self.event_offsets) - 1

    def sample(self, i: int) -> Sample:
        e0, e1 = self.event_offsets[i], self.event_offsets[i + 1]
        b0, b1 = self.box_offsets[i], self.box_offsets[i + 1]
        return Sample(self.events[e0:e1], self.boxes[b0:b1], self.labels[b0:b1])


def generate_split(params: ShapesParams, *, seed: int, size: int, progress: bool = False) -> ShapesSplit:
    """Samples 0 .. size−1 drawn with ``seed``; ``progress`` shows a bar (needs tqdm): the default training
    split takes about a minute on one core."""
    indices = range(size)
    if progress:
        from tqdm import tqdm                                   # optional dependency: only with progress bars
        indices = tqdm(indices, desc="moving_shapes: generating", unit="sample", dynamic_ncols=True)
    samples = [generate_sample(params, seed=seed, index=i) for i in indices]
    offsets = lambda arrays: np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)  # noqa: E731
    return ShapesSplit(np.concatenate([s.events for s in samples]) if samples else np.empty(0, EVENT_DTYPE),
                       offsets([s.events for s in samples]),
                       np.concatenate([s.boxes for s in samples]) if samples else np.empty((0, 4), np.float32),
                       np.concatenate([s.labels for s in samples]) if samples else np.empty(0, np.int64),
                       offsets([s.boxes for s in samples]))


def cache_key(params: ShapesParams, *, seed: int, size: int) -> str:
    """Hex digest over the generator version and code, every parameter, the seed and the size (the code's
    fingerprint, so that an edit of the generator without a version bump cannot serve old samples)."""
    text = json.dumps({"generator": "moving_shapes", "version": VERSION, "params": dataclasses.asdict(params),
                       "code": code_fingerprint(("ltsnn.data.shapes",)), "seed": seed, "size": size},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def load_or_generate(params: ShapesParams, *, seed: int, size: int, cache_dir: str | Path | None,
                     log=print, progress: bool = False) -> ShapesSplit:
    """The split from ``<cache_dir>/moving_shapes/<key>.npz``, generating and caching it on a miss; with
    ``cache_dir=None``, generated in memory only.

    The file is written atomically (a crash leaves no partial file under the final name), and a file whose
    stored key, array set or sizes do not match is regenerated (``log`` says why) rather than used.
    ``progress`` shows a bar while samples are generated.
    """
    if cache_dir is None:
        return generate_split(params, seed=seed, size=size, progress=progress)
    key = cache_key(params, seed=seed, size=size)
    path = Path(cache_dir) / "moving_shapes" / f"{key[:32]}.npz"
    if path.is_file():
        reason = _check_cached(path, key, size)
        if reason is None:
            with np.load(path) as npz:
                return ShapesSplit(*(npz[f] for f in ShapesSplit._fields))
        log(f"moving_shapes: cache file {path} {reason}; regenerating it")
    split = generate_split(params, seed=seed, size=size, progress=progress)

    def write(f) -> None:
        buf = io.BytesIO()                                  # np.savez seeks: write to memory, then copy
        np.savez(buf, key=np.array(key), **split._asdict())
        f.write(buf.getvalue())

    write_atomic(path, write)
    return split


def _check_cached(path: Path, key: str, size: int) -> str | None:
    """None if the cache file holds this key's split, else what is wrong with it."""
    try:
        with np.load(path) as npz:
            if set(npz.files) != {"key", *ShapesSplit._fields}:
                return f"holds arrays {sorted(npz.files)}, expected key + {list(ShapesSplit._fields)}"
            if str(npz["key"]) != key:
                return "was written for other generator parameters (key mismatch)"
            offsets, box_offsets = npz["event_offsets"], npz["box_offsets"]
            if len(offsets) != size + 1 or offsets[-1] != len(npz["events"]) or box_offsets[-1] != len(npz["labels"]):
                return "has inconsistent sizes"
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:   # truncated, or not an npz
        return f"cannot be read ({type(e).__name__}: {e})"
    return None


def export_gen1(sample: Sample, folder: str | Path, name: str, params: ShapesParams) -> tuple[Path, Path]:
    """Write one sample as a Gen1-style recording pair (spec §1.2-1.3): ``<name>_td.dat`` (DAT v2, event
    type 0, 8-byte records) and ``<name>_bbox.npy`` (the legacy Gen1 dtype with ts = t_L, track_id = the
    object's index), so that the Gen1 loader, filters and evaluator can be exercised on exact boxes.

    Returns:
        The two paths.
    """
    folder = Path(folder)
    td, bbox = folder / f"{name}_td.dat", folder / f"{name}_bbox.npy"
    write_dat(td, sample.events, sensor_size=params.sensor_size)
    legacy = np.zeros(len(sample.labels), dtype=GEN1_LEGACY_BOX_DTYPE)
    legacy["ts"] = params.label_us
    legacy["x"], legacy["y"], legacy["w"], legacy["h"] = sample.boxes.T
    legacy["class_id"] = sample.labels
    legacy["confidence"] = 1.0
    legacy["track_id"] = np.arange(len(sample.labels))
    write_atomic(bbox, lambda f: np.save(f, legacy))
    return td, bbox


# The Gen1 box dtype as shipped (spec §1.3), packed: 33 bytes per record.
GEN1_LEGACY_BOX_DTYPE = np.dtype([("ts", "<u8"), ("x", "<f4"), ("y", "<f4"), ("w", "<f4"), ("h", "<f4"),
                                  ("class_id", "u1"), ("confidence", "<f4"), ("track_id", "<u4")])
