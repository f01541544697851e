"""N-Digits: the 1,797 UCI handwritten digits turned into events by the saccade emulator.

A built-in stand-in for N-MNIST that needs no download: each 8x8 digit of the UCI "Optical
Recognition of Handwritten Digits" set (Alpaydin & Kaynak 1998, CC BY 4.0; see
``ltsnn/data/assets/DIGITS_LICENSE.md``) is upsampled to 20x20 (the size of an MNIST digit's box
inside its 28x28 frame, since the UCI digits fill their 8x8 frame) and recorded by
:func:`~ltsnn.data.simulate.simulate_saccades` on a 34x34 sensor with :data:`EMULATOR` and the
fixed seed :data:`EMULATOR_SEED`, so every user gets the same events. The split is
:func:`~ltsnn.data.datasets.split.stratified_split` with 20% of each class for test; seed 0 gives
1,438 train / 359 test samples.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

from ltsnn.data.datasets.frames import FrameDataset, frames_from_events, resolve_frame_options
from ltsnn.data.datasets.registry import register_dataset
from ltsnn.data.datasets.split import stratified_split
from ltsnn.data.simulate import simulate_saccades

EMULATOR = {
    "sensor_size": (34, 34), "image_size": (20, 20), "saccade": (3.0, 5.0), "saccade_us": 100_000, "dt_us": 1000,
    "contrast_threshold": 0.2, "threshold_sigma": 0.03, "refractory_us": 1000, "log_eps": 0.3,
}
EMULATOR_SEED = 2015
TEST_FRACTION = 0.2
CLASSES = tuple(str(d) for d in range(10))


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The packaged UCI digits: images uint8 [1797, 8, 8] with values 0..16, labels uint8 [1797]."""
    with resources.files("ltsnn.data").joinpath("assets/digits.npz").open("rb") as f, np.load(f) as npz:
        return npz["images"], npz["labels"]


@functools.lru_cache(maxsize=2)
def emulated_digits(seed: int, **emulator) -> tuple[np.ndarray, ...]:
    """Events of all 1,797 digits for these emulator settings, emulated once per process.

    Train and test (and every n_time_bins) share them, so a process emulates only once. The
    arrays are read-only because every caller shares them.
    """
    images, _ = load_digits()
    events = simulate_saccades(images.astype(np.float32) / 16, rng=np.random.default_rng(seed), **emulator)
    for e in events:
        e.flags.writeable = False
    return tuple(events)


@register_dataset("ndigits")
def ndigits(*, split: str, root: str | None, n_time_bins: int, bin_by: str, seed: int,
            **frame_options) -> FrameDataset:
    """N-Digits: UCI 8x8 digits recorded by the built-in saccade emulator, 34x34, 10 classes."""
    _, labels = load_digits()       # root is unused: the data ship with the package
    train, test = stratified_split(labels, test_fraction=TEST_FRACTION, seed=seed)
    index = train if split == "train" else test
    events = emulated_digits(EMULATOR_SEED, **EMULATOR)
    representation, options = resolve_frame_options(n_time_bins=n_time_bins, bin_by=bin_by, **frame_options)
    frames = frames_from_events([events[i] for i in index], sensor_size=EMULATOR["sensor_size"], frame_options=options,
                                representation=representation)
    return FrameDataset(frames, labels[index], classes=CLASSES)
