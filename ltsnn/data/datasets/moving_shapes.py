"""MovingShapes-DVS: the built-in synthetic detection set (detection spec §5.1), as a registered data set.

The generator is :mod:`ltsnn.data.shapes`; items are detection items (:mod:`ltsnn.data.datasets.detection`):
the events of [t_L − 50 ms, t_L) binned into T frames, with the exact boxes at the label instant t_L.

Example:
    >>> ds = moving_shapes(split="test", root=None, n_time_bins=4, bin_by="duration", seed=0, test_size=2)
    >>> frames, target = ds[0]
    >>> tuple(frames.shape), target["t_us"], ds.classes
    ((4, 2, 48, 64), 60000, ('car', 'pedestrian'))
"""

from __future__ import annotations

import numpy as np

from ltsnn.data import shapes as synthetic
from ltsnn.data.datasets.detection import DetectionFrameDataset
from ltsnn.data.datasets.registry import register_dataset
from ltsnn.data.functional import to_frames

# The split seeds of spec §5.1 (data seed 0); data seed s shifts both by 100·s.
SHAPES_SPLIT_SEEDS = {"train": 11, "test": 22}
SHAPES_SIZES = {"train": 2000, "test": 400}


def shapes_frames(sample: synthetic.Sample, params: synthetic.ShapesParams, *, n_time_bins: int, bin_by: str,
                  binary: bool) -> np.ndarray:
    """The input frames [T, 2, H, W] of one sample: its events of [t_L − window, t_L), binned by equal
    durations of that window (``bin_by="duration"``: the bins are the same for every sample, see
    :func:`~ltsnn.data.functional.to_frames`' ``t_range``) or equal event counts (``"count"``)."""
    t_range = (params.label_us - params.window_us, params.label_us)
    e = sample.events
    window = e[(e["t"] >= t_range[0]) & (e["t"] < t_range[1])]
    return to_frames(window, sensor_size=params.sensor_size, n_time_bins=n_time_bins, bin_by=bin_by, binary=binary,
                     t_range=t_range)


@register_dataset("moving_shapes")
def moving_shapes(*, split: str, root: str | None, n_time_bins: int, bin_by: str, seed: int,
                  cache_dir: str | None = None, binary: bool = True, train_size: int = SHAPES_SIZES["train"],
                  test_size: int = SHAPES_SIZES["test"], progress: bool = False) -> DetectionFrameDataset:
    """MovingShapes-DVS: synthetic moving rectangles (car) and ellipses (pedestrian), exact boxes, 48x64.

    Generated on first use and kept in ``<cache_dir>/moving_shapes/`` (in memory only if ``cache_dir`` is None);
    ``root`` is unused. Data seed s draws the splits with seeds 11 + 100 s (train) and 22 + 100 s (test).
    ``progress`` shows a bar while samples are generated.
    """
    params = synthetic.ShapesParams()
    size = train_size if split == "train" else test_size
    if size < 1:
        raise ValueError(f"moving_shapes: {split}_size is {size}; expected >= 1")
    data = synthetic.load_or_generate(params, seed=SHAPES_SPLIT_SEEDS[split] + 100 * seed, size=size,
                                      cache_dir=cache_dir, progress=progress)
    samples = [data.sample(i) for i in range(size)]
    frames = np.stack([shapes_frames(s, params, n_time_bins=n_time_bins, bin_by=bin_by, binary=binary)
                       for s in samples]).astype(np.uint8 if binary else np.uint16)
    return DetectionFrameDataset(frames, [s.boxes for s in samples], [s.labels for s in samples],
                                 classes=synthetic.CLASSES, sensor_size=params.sensor_size,
                                 times_us=[params.label_us] * size, recordings=range(size))
