"""Transforms: frozen dataclasses around :mod:`ltsnn.data.functional`, called as ``transform(x, rng)``.

Every transform, random or not, is called with an explicit ``np.random.Generator``; use
:func:`rng_for` (seed, epoch, index) so that a sample's augmentation depends only on those three
numbers, not on the worker that loads it or the order it is loaded in. Transforms hold no state
and draw nothing from a global RNG. Inputs are Events (structured arrays t, x, y, p) or frames
(float [T, C, H, W]); each transform names which it takes.

Detection: ``transform.with_boxes(x, boxes, labels, rng)`` returns a :class:`Boxed` (data, boxes,
labels, kept). Boxes are float [N, 4] (x_left, y_top, w, h) in pixels and labels [N]; ``kept``
indexes the input boxes that survive. Box-aware transforms (flips, crops, resizes, the frame
builders when they resize) move the boxes with the pixels; transforms that do not move pixels
(drop, jitter, cutout, normalisation) pass boxes through; transforms that move pixels in ways
boxes cannot follow (roll wraps around, rotate, shear, and the policies built on them) raise.

Register a new transform with ``@TRANSFORMS.register("name")``; :func:`create_transform` builds one
by name, and the contract tests run over every registered name.

Foreign transforms: wherever a transform is expected (:class:`Compose`, ``AugmentedFrames``, a detection
set's ``set_augment``), a plain one-argument callable is accepted too, such as a Tonic or torchvision-style
transform; :func:`as_transform` wraps it. It is called as ``fn(x.copy())``, without the generator: the copy
keeps a callable that writes into its input (several of Tonic's do) off the stored data, and its random
draws come from wherever it takes them (Tonic's: numpy's global generator), so they are not tied to
(seed, epoch, index) as ours are. It refuses boxes unless declared ``moves_pixels=False``. Events go
through Tonic's transforms as they are (Tonic reads fields by name); those that move events by a signed
offset (``SpatialJitter``) need signed coordinates: convert with :func:`to_tonic_events` first, and back
with :func:`from_tonic_events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, NamedTuple

import numpy as np

from ltsnn.data.events import make_events
from ltsnn.data.functional import augment, boxes as box_ops, event_ops
from ltsnn.data.functional.colour import ltsnn_colour_frames
from ltsnn.data.functional.frames import frame_max_normalise, to_frames
from ltsnn.data.functional.resize import RESIZE_MODES, resize_frames
from ltsnn.data.functional.voxel import to_voxel_grid
from ltsnn.registry import Registry

TRANSFORMS = Registry("transform")


def rng_for(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator for sample ``index`` in ``epoch`` of a run seeded ``seed`` (all ints >= 0).

    Built from ``np.random.SeedSequence([seed, epoch, index])``: independent streams per sample,
    the same whichever worker draws them.
    """
    for name, value in (("seed", seed), ("epoch", epoch), ("index", index)):
        if not (isinstance(value, (int, np.integer)) and value >= 0):
            raise ValueError(f"rng_for: {name} is {value!r}; expected an int >= 0")
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), int(index)]))


class Boxed(NamedTuple):
    """A transformed detection sample: data, boxes float [M, 4] (x_left, y_top, w, h) px, labels [M],
    and kept int64 [M], the indices of these boxes in the input."""
    data: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    kept: np.ndarray


class Transform:
    """Base of all transforms. Subclasses are frozen dataclasses and implement ``__call__(x, rng)``.

    ``moves_pixels`` False: boxes pass through unchanged. Box-aware subclasses override
    :meth:`with_boxes`; the others, with ``moves_pixels`` True, refuse boxes.
    """

    moves_pixels: ClassVar[bool] = True

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def with_boxes(self, x: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Boxed:
        """Apply to ``x`` and move ``boxes`` [N, 4] (x_left, y_top, w, h) px with it; see the module docstring."""
        if self.moves_pixels:
            raise ValueError(f"{type(self).__name__} is not box-aware: it moves pixels in a way boxes cannot follow; "
                             f"use it for classification only")
        boxes = box_ops.as_boxes(boxes, type(self).__name__)
        return Boxed(self(x, rng), boxes, np.asarray(labels), np.arange(len(boxes)))


def create_transform(name: str, **kwargs) -> Transform:
    """The transform registered as ``name``, built with ``kwargs``; a ValueError listing the names otherwise."""
    return TRANSFORMS.lookup(name)(**kwargs)


@dataclass(frozen=True)
class PlainCallable(Transform):
    """A one-argument callable (a Tonic transform, a function) used as a Transform: ``fn(x.copy())``,
    the generator unused. ``moves_pixels=False`` declares that it leaves pixels in place, so boxes pass
    through; otherwise :meth:`with_boxes` refuses them. Built by :func:`as_transform`.

    >>> upside_down = as_transform(np.flipud, moves_pixels=False)
    >>> upside_down(np.arange(3), rng_for(0, 0, 0)).tolist(), upside_down.moves_pixels
    ([2, 1, 0], False)
    """

    fn: Callable[[np.ndarray], np.ndarray]
    moves_pixels: bool = True

    def __call__(self, x, rng):
        return self.fn(x.copy())                                # a foreign transform may write into its input


# What a data set takes where a transform is expected: ours, or a plain one-argument callable (see as_transform).
TransformLike = Transform | Callable[[np.ndarray], np.ndarray]


def as_transform(fn: TransformLike, *, moves_pixels: bool = True) -> Transform:
    """``fn`` as a :class:`Transform`: a Transform as it is, any other callable wrapped in :class:`PlainCallable`.

    >>> double = as_transform(lambda frames: 2 * frames)
    >>> double(np.ones((1, 1, 2, 2)), rng_for(0, 0, 0)).sum()
    np.float64(8.0)
    >>> as_transform(3)
    Traceback (most recent call last):
    ValueError: as_transform: 3 is not callable; expected a Transform or a one-argument callable

    Raises:
        ValueError: ``fn`` is not callable.
    """
    if isinstance(fn, Transform):
        return fn
    if not callable(fn):
        raise ValueError(f"as_transform: {fn!r} is not callable; expected a Transform or a one-argument callable")
    return PlainCallable(fn, moves_pixels=moves_pixels)


# Tonic's own event layout: the same fields, in its order, all int64 (signed, so offsets cannot wrap).
TONIC_EVENT_DTYPE = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])


def to_tonic_events(events: np.ndarray) -> np.ndarray:
    """Events -> Tonic's layout (:data:`TONIC_EVENT_DTYPE`: x, y, t, p, int64), the same values and order.

    >>> to_tonic_events(make_events([5, 9], [1, 2], [3, 4], [1, 0]))[["x", "t"]].tolist()
    [(1, 5), (2, 9)]
    """
    events = _events(events, "to_tonic_events")
    out = np.empty(len(events), dtype=TONIC_EVENT_DTYPE)
    for name in TONIC_EVENT_DTYPE.names:
        out[name] = events[name]
    return out


def from_tonic_events(events: np.ndarray) -> np.ndarray:
    """Tonic's layout (any integer dtypes) -> Events; values that do not fit (a negative x, p = -1) raise.

    >>> from_tonic_events(to_tonic_events(make_events([5], [1], [3], [1]))).dtype.names
    ('t', 'x', 'y', 'p')
    """
    events = _events(events, "from_tonic_events")
    return make_events(events["t"], events["x"], events["y"], events["p"])


def _frames(x: np.ndarray, caller: str) -> np.ndarray:
    if x.dtype.names is not None or x.ndim < 2:
        raise ValueError(f"{caller}: input has dtype {x.dtype} and shape {x.shape}; expected frames [..., H, W]")
    return x


def _events(x: np.ndarray, caller: str) -> np.ndarray:
    if x.dtype.names is None or not {"t", "x", "y", "p"} <= set(x.dtype.names):
        raise ValueError(f"{caller}: input has dtype {x.dtype}; expected Events (a structured array with t, x, y, p)")
    return x


def _check(condition: bool, caller: str, message: str) -> None:
    if not condition:
        raise ValueError(f"{caller}: {message}")


def _scaled(boxes: np.ndarray, *, before: tuple[int, int], after: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of a (H, W) image resized to (H', W'), and all indices kept."""
    scaled = box_ops.scale_boxes(boxes, from_size=before, to_size=after)
    return scaled, np.arange(len(scaled))


# ----------------------------------------------------------------------------------------------- #
# Compose


@dataclass(frozen=True)
class Compose(Transform):
    """Apply ``transforms`` in order, each with the same generator (their draws follow one another);
    a plain one-argument callable among them is wrapped by :func:`as_transform`."""

    transforms: tuple[Transform, ...]

    def __post_init__(self):
        for t in self.transforms:
            _check(callable(t), "Compose", f"{t!r} is not callable; expected a Transform or a one-argument callable")
        object.__setattr__(self, "transforms", tuple(as_transform(t) for t in self.transforms))

    def __call__(self, x, rng):
        for t in self.transforms:
            x = t(x, rng)
        return x

    def with_boxes(self, x, boxes, labels, rng) -> Boxed:
        boxes = box_ops.as_boxes(boxes, "Compose")
        labels, kept = np.asarray(labels), np.arange(len(boxes))
        for t in self.transforms:
            x, boxes, labels, step_kept = t.with_boxes(x, boxes, labels, rng)
            kept = kept[step_kept]
        return Boxed(x, boxes, labels, kept)


# ----------------------------------------------------------------------------------------------- #
# Events -> frames


@TRANSFORMS.register("to_frames")
@dataclass(frozen=True)
class ToFrames(Transform):
    """Events -> float32 frames [T, C, H, W] (binary or counts; see :func:`ltsnn.data.functional.to_frames`)."""

    sensor_size: tuple[int, int]
    n_time_bins: int | None
    bin_by: str = "duration"
    binary: bool = True
    window_us: int | None = None
    polarity_channels: int = 2
    size: tuple[int, int] | None = None
    resize_mode: str = "area"

    def __call__(self, x, rng):
        return to_frames(_events(x, "ToFrames"), sensor_size=self.sensor_size, n_time_bins=self.n_time_bins,
                         bin_by=self.bin_by, binary=self.binary, window_us=self.window_us,
                         polarity_channels=self.polarity_channels, size=self.size, resize_mode=self.resize_mode)

    def with_boxes(self, x, boxes, labels, rng) -> Boxed:
        frames = self(x, rng)
        width, height = self.sensor_size
        moved, kept = _scaled(boxes, before=(height, width), after=frames.shape[-2:])
        return Boxed(frames, moved, np.asarray(labels), kept)


@TRANSFORMS.register("voxel_grid")
@dataclass(frozen=True)
class VoxelGrid(Transform):
    """Events -> float32 voxel grid [B, C, H, W], bilinear in time (Zhu et al. 2019)."""

    moves_pixels: ClassVar[bool] = False
    sensor_size: tuple[int, int]
    n_time_bins: int
    polarity_channels: int = 1

    def __call__(self, x, rng):
        return to_voxel_grid(_events(x, "VoxelGrid"), sensor_size=self.sensor_size, n_time_bins=self.n_time_bins,
                             polarity_channels=self.polarity_channels)


@TRANSFORMS.register("ltsnn_colour")
@dataclass(frozen=True)
class LTSNNColourFrames(Transform):
    """Events -> the LT-SNN code's colour-presence frames [T, 3, H', W'] in [0, 255] (methods.md §1.8)."""

    sensor_size: tuple[int, int]
    n_time_bins: int
    binning: str = "ltsnn"
    size: tuple[int, int] | None = (48, 48)

    def __call__(self, x, rng):
        return ltsnn_colour_frames(_events(x, "LTSNNColourFrames"), sensor_size=self.sensor_size,
                                   n_time_bins=self.n_time_bins, binning=self.binning, size=self.size)

    def with_boxes(self, x, boxes, labels, rng) -> Boxed:
        frames = self(x, rng)
        width, height = self.sensor_size
        moved, kept = _scaled(boxes, before=(height, width), after=frames.shape[-2:])
        return Boxed(frames, moved, np.asarray(labels), kept)


# ----------------------------------------------------------------------------------------------- #
# Events augmentation


@TRANSFORMS.register("events_flip")
@dataclass(frozen=True)
class EventsFlip(Transform):
    """With probability ``p``, mirror events (``"lr"``: x -> W - 1 - x; ``"ud"``: y -> H - 1 - y). Box-aware."""

    sensor_size: tuple[int, int]
    axis: str = "lr"
    p: float = 0.5

    def __post_init__(self):
        _check(self.axis in ("lr", "ud"), "EventsFlip", f"axis is {self.axis!r}; expected 'lr' or 'ud'")
        _check(0 <= self.p <= 1, "EventsFlip", f"p is {self.p!r}; expected a probability in [0, 1]")

    def __call__(self, x, rng):
        return self.with_boxes(x, np.zeros((0, 4)), np.zeros(0), rng).data

    def with_boxes(self, x, boxes, labels, rng) -> Boxed:
        events, boxes = _events(x, "EventsFlip"), box_ops.as_boxes(boxes, "EventsFlip")
        if rng.random() < self.p:
            events = event_ops.flip_events(events, sensor_size=self.sensor_size, axis=self.axis)
            boxes = box_ops.flip_boxes(boxes, size=self.sensor_size[::-1], axis=self.axis)
        return Boxed(events, boxes, np.asarray(labels), np.arange(len(boxes)))


@TRANSFORMS.register("events_drop")
@dataclass(frozen=True)
class EventsDrop(Transform):
    """Remove each event independently with probability ``p`` (event drop augmentation); order kept."""

    moves_pixels: ClassVar[bool] = False
    p: float

    def __post_init__(self):
        _check(0 <= self.p <= 1, "EventsDrop", f"p is {self.p!r}; expected a probability in [0, 1]")

    def __call__(self, x, rng):
        events = _events(x, "EventsDrop")
        return events[rng.random(len(events)) >= self.p]


@TRANSFORMS.register("events_time_jitter")
@dataclass(frozen=True)
class EventsTimeJitter(Transform):
    """Add Gaussian noise (std ``std_us`` µs, rounded to whole µs) to each t, then re-sort stably by t.

    Events may swap places (the output is sorted again; ties keep file order) and may move before
    the first event or below t = 0: nothing is clipped.
    """

    moves_pixels: ClassVar[bool] = False
    std_us: float

    def __post_init__(self):
        _check(self.std_us >= 0, "EventsTimeJitter", f"std_us is {self.std_us!r}; expected >= 0")

    def __call__(self, x, rng):
        events = _events(x, "EventsTimeJitter")
        offsets = np.rint(rng.normal(0.0, self.std_us, len(events))).astype(np.int64)
        return event_ops.shift_times(events, offsets)


@TRANSFORMS.register("events_spatial_jitter")
@dataclass(frozen=True)
class EventsSpatialJitter(Transform):
    """Move each event by rounded Gaussian offsets (std ``std_px`` pixels) in x and y.

    ``out_of_bounds``: ``"drop"`` removes events that leave the sensor, ``"clip"`` puts them on the
    border. Boxes are kept as they are: the jitter is noise around positions, not a scene motion.
    """

    moves_pixels: ClassVar[bool] = False
    sensor_size: tuple[int, int]
    std_px: float
    out_of_bounds: str = "drop"

    def __post_init__(self):
        _check(self.std_px >= 0, "EventsSpatialJitter", f"std_px is {self.std_px!r}; expected >= 0")
        _check(self.out_of_bounds in event_ops.OUT_OF_BOUNDS, "EventsSpatialJitter",
               f"out_of_bounds is {self.out_of_bounds!r}; expected one of {list(event_ops.OUT_OF_BOUNDS)}")

    def __call__(self, x, rng):
        events = _events(x, "EventsSpatialJitter")
        dx = np.rint(rng.normal(0.0, self.std_px, len(events))).astype(np.int64)
        dy = np.rint(rng.normal(0.0, self.std_px, len(events))).astype(np.int64)
        return event_ops.shift_pixels(events, dx, dy, sensor_size=self.sensor_size, out_of_bounds=self.out_of_bounds)


def _crop_origin(full: tuple[int, int], crop: tuple[int, int], position: str, rng: np.random.Generator,
                 caller: str) -> tuple[int, int]:
    """(top, left) of a crop of (h, w) inside (H, W): uniform over all positions, or centred (rounded down)."""
    _check(crop[0] <= full[0] and crop[1] <= full[1], caller, f"crop size (H, W) = {crop} exceeds the input's {full}")
    if position == "center":
        return (full[0] - crop[0]) // 2, (full[1] - crop[1]) // 2
    return int(rng.integers(0, full[0] - crop[0] + 1)), int(rng.integers(0, full[1] - crop[1] + 1))


@TRANSFORMS.register("events_crop")
@dataclass(frozen=True)
class EventsCrop(Transform):
    """Keep the events inside a (H', W') window, in window coordinates; ``position`` "random" or "center".
    Box-aware: boxes are cut to the window and those left smaller than ``min_box_size`` px are removed."""

    sensor_size: tuple[int, int]
    size: tuple[int, int]
    position: str = "random"
    min_box_size: float = 1.0

    def __post_init__(self):
        _check(self.position in ("random", "center"), "EventsCrop",
               f"position is {self.position!r}; expected 'random' or 'center'")

    def __call__(self, x, rng):
        return self.with_boxes(x, np.zeros((0, 4)), np.zeros(0), rng).data

    def with_boxes(self, x, boxes, labels, rng) -> Boxed:
        events = _events(x, "EventsCrop")
        top, left = _crop_origin(self.sensor_size[::-1], self.size, self.position, rng, "EventsCrop")
        cropped = event_ops.crop_events(events, top=top, left=left, height=self.size[0], width=self.size[1])
        moved, kept = box_ops.crop_boxes(boxes, top=top, left=left, height=self.size[0], width=self.size[1],
                                         min_size=self.min_box_size)
        return Boxed(cropped, moved, np.asarray(labels)[kept], kept)


# ----------------------------------------------------------------------------------------------- #
# Frames augmentation


@TRANSFORMS.register("frames_flip")
@dataclass(frozen=True)
class FramesFlip(Transform):
    """With probability ``p``, mirror all frames (``"lr"``: columns, ``"ud"``: rows). Box-aware."""

    axis: str = "lr"
    p: float = 0.5

    def __post_init__(self):
        _check(self.axis in augment.FLIP_AXES, "FramesFlip", f"axis is {self.axis!r}; expected 'lr' or 'ud'")
        _check(0 <= self.p <= 1, "FramesFlip", f"p is {self.p!r}; expected a probability in [0, 1]")

    def __call__(self, x, rng):
        return self.with_boxes(x, np.zeros((0, 4)), np.zeros(0), rng).data

    def with_boxes(self, x, boxes, labels, rng) -> Boxed:
        frames, boxes = _frames(x, "FramesFlip"), box_ops.as_boxes(boxes, "FramesFlip")
        if rng.random() < self.p:
            frames = augment.flip_frames(frames, self.axis)
            boxes = box_ops.flip_boxes(boxes, size=frames.shape[-2:], axis=self.axis)
        return Boxed(frames, boxes, np.asarray(labels), np.arange(len(boxes)))


@TRANSFORMS.register("frames_roll")
@dataclass(frozen=True)
class FramesRoll(Transform):
    """Circular shift (torch.roll) by integers drawn uniformly from [-max_shift, max_shift] for rows, then columns.
    Not box-aware (pixels wrap around)."""

    max_shift: int = 5

    def __post_init__(self):
        _check(self.max_shift >= 0, "FramesRoll", f"max_shift is {self.max_shift!r}; expected >= 0")

    def __call__(self, x, rng):
        shift_y, shift_x = rng.integers(-self.max_shift, self.max_shift + 1, size=2)
        return augment.roll_frames(_frames(x, "FramesRoll"), shift_y, shift_x)


@TRANSFORMS.register("frames_rotate")
@dataclass(frozen=True)
class FramesRotate(Transform):
    """Rotate about the centre by an angle uniform in [-max_degrees, max_degrees] (counter-clockwise positive),
    zero fill, nearest by default (binary frames stay binary). Not box-aware."""

    max_degrees: float = 30.0
    interpolation: str = "nearest"

    def __post_init__(self):
        _check(self.interpolation in augment.INTERPOLATIONS, "FramesRotate",
               f"interpolation is {self.interpolation!r}; expected one of {list(augment.INTERPOLATIONS)}")

    def __call__(self, x, rng):
        angle = rng.uniform(-self.max_degrees, self.max_degrees)
        return augment.rotate_frames(_frames(x, "FramesRotate"), angle, interpolation=self.interpolation)


@TRANSFORMS.register("frames_shear")
@dataclass(frozen=True)
class FramesShear(Transform):
    """Shear along x by an angle uniform in [-max_degrees, max_degrees] (torchvision's RandomAffine(shear=...)
    convention), zero fill, nearest by default. Not box-aware."""

    max_degrees: float = 30.0
    interpolation: str = "nearest"

    def __post_init__(self):
        _check(0 <= self.max_degrees < 90, "FramesShear", f"max_degrees is {self.max_degrees!r}; expected in [0, 90)")
        _check(self.interpolation in augment.INTERPOLATIONS, "FramesShear",
               f"interpolation is {self.interpolation!r}; expected one of {list(augment.INTERPOLATIONS)}")

    def __call__(self, x, rng):
        angle = rng.uniform(-self.max_degrees, self.max_degrees)
        return augment.shear_frames(_frames(x, "FramesShear"), angle, interpolation=self.interpolation)


@TRANSFORMS.register("frames_cutout")
@dataclass(frozen=True)
class FramesCutout(Transform):
    """Zero a rectangle in every frame (LM-HT / NDA ``Cutout``): centre (y, x) uniform over the pixels,
    half-sides int(ratio * H) // 2 and int(ratio * W) // 2, cut at the image border. Boxes pass through."""

    moves_pixels: ClassVar[bool] = False
    ratio: float

    def __post_init__(self):
        _check(0 <= self.ratio <= 1, "FramesCutout", f"ratio is {self.ratio!r}; expected in [0, 1]")

    def __call__(self, x, rng):
        frames = _frames(x, "FramesCutout")
        height, width = frames.shape[-2:]
        half_h, half_w = int(self.ratio * height) // 2, int(self.ratio * width) // 2
        cy, cx = int(rng.integers(height)), int(rng.integers(width))
        return augment.cutout_frames(frames, cy - half_h, cx - half_w, 2 * half_h, 2 * half_w)


@TRANSFORMS.register("frames_crop")
@dataclass(frozen=True)
class FramesCrop(Transform):
    """A (H', W') window of every frame; ``position`` "random" or "center". Box-aware: boxes are cut to the
    window and those left smaller than ``min_box_size`` px are removed (see :class:`Boxed`)."""

    size: tuple[int, int]
    position: str = "random"
    min_box_size: float = 1.0

    def __post_init__(self):
        _check(self.position in ("random", "center"), "FramesCrop",
               f"position is {self.position!r}; expected 'random' or 'center'")

    def __call__(self, x, rng):
        return self.with_boxes(x, np.zeros((0, 4)), np.zeros(0), rng).data

    def with_boxes(self, x, boxes, labels, rng) -> Boxed:
        frames = _frames(x, "FramesCrop")
        top, left = _crop_origin(frames.shape[-2:], self.size, self.position, rng, "FramesCrop")
        cropped = augment.crop_frames(frames, top, left, self.size[0], self.size[1])
        moved, kept = box_ops.crop_boxes(boxes, top=top, left=left, height=self.size[0], width=self.size[1],
                                         min_size=self.min_box_size)
        return Boxed(cropped, moved, np.asarray(labels)[kept], kept)


@TRANSFORMS.register("frames_resize")
@dataclass(frozen=True)
class FramesResize(Transform):
    """Resize frames to (H', W') (``"area"``, ``"bilinear"`` or ``"nearest"``, as torch's interpolate). Box-aware."""

    size: tuple[int, int]
    mode: str = "area"

    def __post_init__(self):
        _check(self.mode in RESIZE_MODES, "FramesResize", f"mode is {self.mode!r}; expected one of {list(RESIZE_MODES)}")

    def __call__(self, x, rng):
        return resize_frames(_frames(x, "FramesResize"), self.size, mode=self.mode)

    def with_boxes(self, x, boxes, labels, rng) -> Boxed:
        frames = self(x, rng)
        moved, kept = _scaled(boxes, before=x.shape[-2:], after=self.size)
        return Boxed(frames, moved, np.asarray(labels), kept)


@TRANSFORMS.register("frame_max_normalise")
@dataclass(frozen=True)
class FrameMaxNormalise(Transform):
    """Divide each time step's frame by its own maximum (TET's DVS-CIFAR10 preprocessing, methods.md §4.4)."""

    moves_pixels: ClassVar[bool] = False

    def __call__(self, x, rng):
        return frame_max_normalise(_frames(x, "FrameMaxNormalise"))


# ----------------------------------------------------------------------------------------------- #
# Policies (methods.md §4.4-4.5): presets over the frame ops, same transform for all T frames.


@TRANSFORMS.register("tet_flip_roll")
@dataclass(frozen=True)
class TETFlipRoll(Transform):
    """TET's DVS-CIFAR10 training augmentation: horizontal flip with probability 1/2, then a roll by
    integers uniform in [-max_shift, max_shift] on rows and columns. Not box-aware."""

    max_shift: int = 5

    def __call__(self, x, rng):
        frames = _frames(x, "TETFlipRoll")
        if rng.random() < 0.5:
            frames = augment.flip_frames(frames, "lr")
        return FramesRoll(self.max_shift)(frames, rng)


@TRANSFORMS.register("nda")
@dataclass(frozen=True)
class NDAPolicy(Transform):
    """NDA as released (``NDA_SNN/functions/data_loaders.py``): one op drawn uniformly from {roll by up to
    ``max_shift`` px, rotate by up to ``max_rotate``°, shear-x by up to ``max_shear``°}. DVS-CIFAR10: (5, 30, 30);
    N-Caltech101: (3, 15, 15). Apply after the 48x48 nearest resize, as that code does. Not box-aware."""

    max_shift: int = 5
    max_rotate: float = 30.0
    max_shear: float = 30.0

    def __call__(self, x, rng):
        ops = (FramesRoll(self.max_shift), FramesRotate(self.max_rotate), FramesShear(self.max_shear))
        return ops[int(rng.integers(len(ops)))](_frames(x, "NDAPolicy"), rng)


@TRANSFORMS.register("nda_augment")
@dataclass(frozen=True)
class NDAAugment(Transform):
    """The fuller NDA policy (LM-HT ``dataprocess.py::Augment``): horizontal flip with probability 1/2, then ``m``
    ops drawn with replacement from {roll by up to 2n + 1 px, rotate by up to 15n°, cutout with ratio n / 6}.
    That code runs m = 2, n = 3 (defaults); its comment gives m = 1, n = 2 for DVS-CIFAR10. Not box-aware."""

    n: int = 3
    m: int = 2

    def __post_init__(self):
        _check(self.n >= 0 and self.m >= 0, "NDAAugment", f"(n, m) is {(self.n, self.m)!r}; expected ints >= 0")
        _check(self.n <= 6, "NDAAugment", f"n is {self.n}; expected <= 6 (the cutout ratio n / 6 must be <= 1)")

    def __call__(self, x, rng):
        frames = _frames(x, "NDAAugment")
        if rng.random() < 0.5:
            frames = augment.flip_frames(frames, "lr")
        ops = (FramesRoll(2 * self.n + 1), FramesRotate(15.0 * self.n), FramesCutout(self.n / 6))
        for choice in rng.integers(len(ops), size=self.m):
            frames = ops[int(choice)](frames, rng)
        return frames
