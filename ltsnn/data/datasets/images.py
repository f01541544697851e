"""A user's own images as events (``images_to_events``) and as static frames (``images_static``).

Layout of ``root``, per split (``train``, ``test``), the first form found::

    <split>-images-idx3-ubyte[.gz]  <split>-labels-idx1-ubyte[.gz]   IDX, as MNIST (test may be t10k-*)
    <split>.npz                     arrays "images" [N, H, W] and "labels" [N]
    <split>_images.npy              <split>_labels.npy
    classes.txt                     optional: one class name per line (else "0", "1", ...)

Images are uint8 (0..255) or float in [0, 1], grayscale; labels integers 0..K-1.

**Events**: each image is recorded by :func:`~ltsnn.data.simulate.simulate_saccades` the way
N-MNIST was (three saccades), on a sensor 6 pixels wider and taller than the image (28x28 -> 34x34),
with the sensor effects calibrated on real N-MNIST (:data:`~ltsnn.data.simulate.NMNIST_SENSOR`).
A split is emulated in chunks of :data:`CHUNK_IMAGES` images; chunk c uses the generator
``default_rng([emulator_seed, split code, c])`` and all chunks one sensor (``sensor_seed =
emulator_seed``), so the events are a function of the split's images, the settings and the seed.
With a ``cache_dir`` each chunk's images are written there (``<data set>/emulator/``) and read by
:func:`read_emulated`, a reader of the frame cache, so the emulation runs once and its frames are
cached (and checked) like any recorded data set's.

**Static**: the image as one channel in [0, 1], repeated over the T time steps (direct encoding,
as the ANN/QCFS and LM-HT papers feed CIFAR images): items (float32 [T, 1, H, W], label).

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> from ltsnn.data import create_dataset
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> images = np.zeros((4, 8, 8), np.uint8); images[:, 2:6, 2:6] = 255
    >>> for split in ("train", "test"):
    ...     np.savez(root / f"{split}.npz", images=images, labels=np.array([0, 1, 0, 1]))
    >>> static = create_dataset("images_static", split="test", root=root, n_time_bins=3)
    >>> tuple(static[0][0].shape), static.classes
    ((3, 1, 8, 8), ('0', '1'))
    >>> events = create_dataset("images_to_events", split="test", root=root, n_time_bins=3)
    >>> tuple(events[0][0].shape), events.input_size
    ((3, 2, 14, 14), (14, 14))
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ltsnn.data.datasets.frames import FrameDataset, file_dataset, frames_from_events, resolve_frame_options
from ltsnn.data.datasets.idx import read_idx
from ltsnn.data.datasets.layout import require_root
from ltsnn.data.datasets.registry import SPLITS, register_dataset
from ltsnn.data.datasets.split import stratified_split
from ltsnn.data.io import Recording
from ltsnn.data.simulate import NMNIST_SENSOR, simulate_saccades
from ltsnn.files import write_atomic

LAYOUT = ("expected per split (train, test) <split>-images-idx3-ubyte[.gz] + <split>-labels-idx1-ubyte[.gz] "
          "(test may be t10k-*), or <split>.npz with arrays 'images' [N, H, W] and 'labels' [N], or "
          "<split>_images.npy + <split>_labels.npy; optional classes.txt")
# Images per emulator call and per chunk file: the emulator's own batch. The frame cache cuts a file's
# samples with one pass over its events per sample, so its cost grows with the chunk's square.
CHUNK_IMAGES = 128
EMULATOR_SEED = 2015
# Motion as N-MNIST's (Orchard et al. 2015): three 100 ms saccades along a triangle, 1 ms steps.
MOTION = {"saccade": (3.0, 5.0), "saccade_us": 100_000, "dt_us": 1000}
MARGIN = 6                 # sensor = image + 6 pixels per axis: room for the +-3 / +5 px motion
_SPLIT_CODE = {"train": 0, "test": 1}


def find_split(folder: Path, split: str) -> tuple[Path, Path] | None:
    """(images file, labels file) of ``split`` in ``folder`` in the first layout form present, or None."""
    names = [split] + (["t10k"] if split == "test" else [])
    for name in names:
        # Each file may be compressed or not on its own.
        pair = [next((p for p in (folder / f"{name}-{kind}-ubyte", folder / f"{name}-{kind}-ubyte.gz") if p.is_file()),
                     None) for kind in ("images-idx3", "labels-idx1")]
        if None not in pair:
            return pair[0], pair[1]
    if (folder / f"{split}.npz").is_file():
        return folder / f"{split}.npz", folder / f"{split}.npz"
    pair = folder / f"{split}_images.npy", folder / f"{split}_labels.npy"
    return pair if pair[0].is_file() and pair[1].is_file() else None


def load_split(dataset: str, folder: Path, split: str, *, missing: str = LAYOUT) -> tuple[np.ndarray, np.ndarray]:
    """(images [N, H, W] uint8 or float32 in [0, 1], labels int64 [N]) of ``split``.

    Raises:
        FileNotFoundError: ending in ``missing`` when no layout form of the split is in ``folder``.
        ValueError: naming the file when a shape, dtype or value is not as the layout says.
    """
    pair = find_split(folder, split)
    if pair is None:
        raise FileNotFoundError(f"{dataset}: no {split} images in {folder}; {missing}")
    images_file, labels_file = pair
    if images_file.suffix == ".npz":
        with np.load(images_file) as npz:
            absent = sorted({"images", "labels"} - set(npz.files))
            if absent:
                raise ValueError(f"{images_file}: no array {absent[0]!r}; {LAYOUT}")
            images, labels = npz["images"], npz["labels"]
    elif images_file.suffix == ".npy":
        images, labels = np.load(images_file), np.load(labels_file)
    else:
        images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim != 3 or 0 in images.shape:
        raise ValueError(f"{images_file}: images of shape {images.shape}; expected [N, H, W] grayscale")
    if images.dtype != np.uint8:
        if images.dtype.kind != "f" or not np.all((images >= 0) & (images <= 1)):
            raise ValueError(f"{images_file}: images are {images.dtype}; expected uint8, or float in [0, 1]")
        images = images.astype(np.float32)
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0):
        raise ValueError(f"{labels_file}: labels {labels.dtype} of shape {labels.shape}; expected {len(images)} "
                         f"integers >= 0, one per image")
    return images, labels.astype(np.int64)


def class_names(dataset: str, folder: Path, labels: Sequence[np.ndarray]) -> tuple[str, ...]:
    """The lines of ``classes.txt`` if present, else "0" .. str(max label); every label must name a class."""
    top = max(int(x.max()) for x in labels if x.size)
    path = folder / "classes.txt"
    if not path.is_file():
        return tuple(str(c) for c in range(top + 1))
    names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if top >= len(names):
        raise ValueError(f"{path}: {len(names)} class names but a label {top}; expected one line per class")
    return names


def subset(labels: np.ndarray, n: int | None, *, seed: int, where: str) -> np.ndarray:
    """Indices of a stratified subset of about ``n`` samples (all when ``n`` is None), sorted.

    Per class, ``stratified_split(labels, test_fraction=n / N, seed)``'s held-out part:
    round(n_c * n / N) samples of each class, drawn with ``seed``.
    """
    if n is None:
        return np.arange(len(labels))
    if not (isinstance(n, int) and 0 < n <= len(labels)):
        raise ValueError(f"{where}: train_subset is {n!r}; expected an int in 1..{len(labels)} (or null: all)")
    if n == len(labels):
        return np.arange(len(labels))
    return stratified_split(labels, test_fraction=n / len(labels), seed=seed)[1]


def emulator_settings(image_shape: tuple[int, int], overrides: Mapping | None = None) -> dict:
    """Keyword arguments of :func:`simulate_saccades` for images [H, W]: N-MNIST's motion and
    calibrated sensor, a sensor ``MARGIN`` pixels larger than the image, then ``overrides``."""
    h, w = image_shape
    settings = {"sensor_size": (w + MARGIN, h + MARGIN), "image_size": (w, h), **MOTION, **NMNIST_SENSOR,
                "sensor_seed": EMULATOR_SEED}
    settings.update(overrides or {})
    return settings


def emulated_dataset(*, dataset: str, split: str, images: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                     settings: Mapping, n_time_bins: int, bin_by: str, frame_options: Mapping,
                     cache_dir: str | os.PathLike | None, num_workers: int, progress: bool) -> FrameDataset:
    """The :class:`FrameDataset` of ``images`` recorded by the emulator with ``settings``, computed in
    memory, or through the frame cache when ``cache_dir`` is given (the same frames either way)."""
    _check_settings(dataset, settings)
    chunks = range(0, len(images), CHUNK_IMAGES)
    seed = settings["sensor_seed"]
    if cache_dir is None:
        representation, options = resolve_frame_options(n_time_bins=n_time_bins, bin_by=bin_by, **frame_options)
        frames = [frames_from_events(_emulate(images[s:s + CHUNK_IMAGES], settings, [seed, _SPLIT_CODE[split], c]),
                                     sensor_size=tuple(settings["sensor_size"]), frame_options=options,
                                     representation=representation) for c, s in enumerate(chunks)]
        return FrameDataset(np.concatenate(frames), labels, classes=classes)
    folder = Path(cache_dir) / dataset / "emulator"
    folder.mkdir(parents=True, exist_ok=True)
    # Named by what they hold, so another subset, setting or image set gets other files (and frames).
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode() + images.tobytes()).hexdigest()[:16]
    paths, windows, span = [], [], 3 * settings["saccade_us"]
    for c, s in enumerate(chunks):
        path = folder / f"{split}-{digest}-{c:04d}.npz"
        chunk = images[s:s + CHUNK_IMAGES]
        if not path.is_file():
            write_atomic(path, lambda f: np.savez_compressed(f, images=chunk, settings=json.dumps(settings),
                                                             entropy=np.array([seed, _SPLIT_CODE[split], c])))
        paths.append(path)
        windows.append(tuple((i * span, (i + 1) * span) for i in range(len(chunk))))
    return file_dataset(dataset=dataset, split=split, root=folder, paths=paths, labels=labels, classes=classes,
                        sensor_size=tuple(settings["sensor_size"]), read=read_emulated, windows=windows,
                        n_time_bins=n_time_bins, bin_by=bin_by, frame_options=frame_options, cache_dir=cache_dir,
                        num_workers=num_workers, progress=progress)


def read_emulated(path: str) -> Recording:
    """A chunk file of :func:`emulated_dataset` as one Recording: image i's events shifted by
    i * 3 * saccade_us, so that each image is one window of the frame cache."""
    with np.load(path) as npz:
        images, settings, entropy = npz["images"], json.loads(str(npz["settings"])), npz["entropy"]
    events = _emulate(images, settings, entropy.tolist())
    span = 3 * settings["saccade_us"]
    for i, e in enumerate(events):
        e["t"] += i * span
    return Recording(np.concatenate(events), tuple(settings["sensor_size"]))


def _emulate(images: np.ndarray, settings: Mapping, entropy: list[int]) -> list[np.ndarray]:
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}      # JSON turned tuples to lists
    return simulate_saccades(images, rng=np.random.default_rng(entropy), **kw)


def _check_settings(dataset: str, settings: Mapping) -> None:
    known = set(inspect.signature(simulate_saccades).parameters) - {"images", "rng"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"{dataset}: emulator option(s) {unknown} unknown; valid: {sorted(known)}")
    if not isinstance(settings.get("sensor_seed"), int):
        raise ValueError(f"{dataset}: emulator sensor_seed is {settings.get('sensor_seed')!r}; expected an int")


class StaticImages(Dataset):
    """Items (image float32 [T, 1, H, W] in [0, 1], the same frame at every step; label int).

    Attributes:
        images: [N, H, W] uint8 or float32 (kept as given; converted per item).
        labels: int64 [N].
        classes, num_classes, in_channels (1), input_size ((H, W)), n_time_bins (T).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, *, classes: Sequence[str], n_time_bins: int):
        if n_time_bins < 1:
            raise ValueError(f"StaticImages: n_time_bins is {n_time_bins}; expected >= 1")
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)
        self.classes = tuple(classes)
        self.num_classes = len(self.classes)
        self.in_channels = 1
        self.input_size = tuple(images.shape[1:])
        self.n_time_bins = n_time_bins

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        image = image.astype(np.float32) / np.float32(255) if image.dtype == np.uint8 else image.astype(np.float32)
        frame = torch.from_numpy(image)[None, None]                                  # [1, 1, H, W]
        return frame.expand(self.n_time_bins, -1, -1, -1).contiguous(), int(self.labels[index])   # [T, 1, H, W]


def load_image_dataset(dataset: str, folder: Path, split: str, *, train_subset: int | None, seed: int,
                       missing: str = LAYOUT, classes: Sequence[str] | None = None
                       ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(images, labels, class names) of ``split`` in ``folder``, the training split cut to ``train_subset``."""
    if split not in SPLITS:
        raise ValueError(f"{dataset}: unknown split {split!r}; expected one of {list(SPLITS)}")
    images, labels = load_split(dataset, folder, split, missing=missing)
    if classes is None:
        other = find_split(folder, "test" if split == "train" else "train")
        other_labels = [load_split(dataset, folder, "test" if split == "train" else "train")[1]] if other else []
        classes = class_names(dataset, folder, [labels, *other_labels])
    elif labels.size and labels.max() >= len(classes):
        raise ValueError(f"{dataset}: a {split} label is {labels.max()}; expected < {len(classes)} ({len(classes)} classes)")
    if split == "train":
        keep = subset(labels, train_subset, seed=seed, where=dataset)
        images, labels = images[keep], labels[keep]
    return images, labels, tuple(classes)


@register_dataset("images_to_events")
def images_to_events(*, split: str, root: str | os.PathLike | None, n_time_bins: int, bin_by: str, seed: int,
                     cache_dir: str | os.PathLike | None = None, num_workers: int = 0, progress: bool = False,
                     train_subset: int | None = None, emulator: dict | None = None,
                     **frame_options) -> FrameDataset:
    """Your images (IDX / .npz / .npy in root) recorded by the saccade emulator, N-MNIST style."""
    folder = require_root("images_to_events", root, LAYOUT)
    images, labels, classes = load_image_dataset("images_to_events", folder, split, train_subset=train_subset,
                                                 seed=seed)
    return emulated_dataset(dataset="images_to_events", split=split, images=images, labels=labels, classes=classes,
                            settings=emulator_settings(images.shape[1:], emulator), n_time_bins=n_time_bins,
                            bin_by=bin_by, frame_options=frame_options, cache_dir=cache_dir,
                            num_workers=num_workers, progress=progress)


@register_dataset("images_static")
def images_static(*, split: str, root: str | os.PathLike | None, n_time_bins: int, bin_by: str, seed: int,
                  train_subset: int | None = None) -> StaticImages:
    """Your images (IDX / .npz / .npy in root) as static frames repeated over T (direct encoding)."""
    folder = require_root("images_static", root, LAYOUT)
    images, labels, classes = load_image_dataset("images_static", folder, split, train_subset=train_subset,
                                                 seed=seed)
    return StaticImages(images, labels, classes=classes, n_time_bins=n_time_bins)
