"""Which Prophesee box labels count: inside the frame, and large (and late) enough (detection spec §1.5, §4).

The same rules clean the Gen1 / 1 Mpx training labels (:mod:`ltsnn.data.datasets.gen1`) and select
the ground truth and predictions that the evaluation scores (:mod:`ltsnn.tasks.detection.evaluate`),
so they are written once, here. Boxes are structured arrays of :data:`ltsnn.data.io.BOX_DTYPE`
(fields t µs, x, y, w, h px, class_id, ...).

Example:
    >>> import numpy as np
    >>> from ltsnn.data.io import BOX_DTYPE
    >>> boxes = np.zeros(3, dtype=BOX_DTYPE)
    >>> boxes["t"] = [100_000, 600_000, 600_000]
    >>> boxes["w"], boxes["h"] = [40, 40, 12], [30, 30, 8]
    >>> box_filter_preset("psee_rvt", "gen1").keep(boxes).tolist()     # skip 0.5 s; diagonal >= 30, sides >= 10
    [False, True, False]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltsnn.data.functional.boxes import clip_boxes


@dataclass(frozen=True)
class BoxFilter:
    """Keep a box iff t > ``skip_us`` (no time condition if None), w² + h² ≥ ``min_diag``² and
    w, h ≥ ``min_side``. Sizes in pixels of the evaluated frame, times in µs; ``name`` labels reports.
    """

    min_diag: float
    min_side: float
    skip_us: int | None
    name: str = "custom"

    def keep(self, boxes: np.ndarray) -> np.ndarray:
        """Boolean mask [M] over a structured box array with fields t, w, h."""
        w, h = boxes["w"].astype(np.float64), boxes["h"].astype(np.float64)
        mask = (w * w + h * h >= self.min_diag ** 2) & (w >= self.min_side) & (h >= self.min_side)
        if self.skip_us is not None:
            mask &= boxes["t"] > self.skip_us
        return mask


# (min_diag, min_side, skip_us) per (preset, sensor), spec §1.5.
FILTER_PRESETS: dict[tuple[str, str], tuple[float, float, int | None]] = {
    ("psee_rvt", "gen1"): (30, 10, 500_000),       # RVT's reading of Perot et al.: the one to use
    ("psee_rvt", "gen4"): (60, 20, 500_000),
    ("psee_script", "gen1"): (30, 20, 100_000),    # PSEE's psee_evaluator.py as written
    ("psee_script", "gen4"): (60, 10, 100_000),
    ("cordone", "gen1"): (30, 20, None),
    ("none", "gen1"): (0, 0, None),
    ("none", "gen4"): (0, 0, None),
}


def box_filter_preset(name: str, sensor: str = "gen1", *, downsample: int = 1) -> BoxFilter:
    """A published filter. ``sensor``: ``gen1`` (304 × 240) or ``gen4`` (1 Mpx); ``downsample``: the factor by
    which the evaluated frame is smaller than the sensor (RVT evaluates 1 Mpx at /2 and halves the sizes)."""
    if (name, sensor) not in FILTER_PRESETS:
        raise ValueError(f"unknown box filter preset ({name!r}, {sensor!r}); expected one of "
                         f"{sorted(FILTER_PRESETS)}")
    if downsample < 1:
        raise ValueError(f"downsample must be >= 1, got {downsample}")
    d, s, skip = FILTER_PRESETS[(name, sensor)]
    return BoxFilter(d / downsample, s / downsample, skip, name=name if downsample == 1 else f"{name}/{downsample}")


def crop_to_frame(boxes: np.ndarray, *, height: int, width: int) -> np.ndarray:
    """The boxes with their corners clipped to the frame (:func:`~ltsnn.data.functional.clip_boxes`, RVT's
    crop), without those left with zero width or height; the other fields and the order are kept.

    Args:
        boxes: a :data:`~ltsnn.data.io.BOX_DTYPE` array [N].
        height, width: the frame in pixels.

    Returns:
        A new array [M], M <= N.
    """
    out = boxes.copy()
    xywh = np.stack([out["x"], out["y"], out["w"], out["h"]], axis=1).astype(np.float64)    # [N, 4]
    out["x"], out["y"], out["w"], out["h"] = clip_boxes(xywh, height=height, width=width).T
    return out[(out["w"] > 0) & (out["h"] > 0)]
