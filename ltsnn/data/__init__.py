"""Event data: the Events layout, readers, the DVS emulator, representations, frames and data sets.

``import ltsnn.data`` stays numpy-only; :func:`create_dataset` and :func:`list_datasets` import
torch and register every data set (:mod:`ltsnn.data.datasets`) on first use, so they work in a
fresh interpreter whatever was imported before.

Example:
    >>> from ltsnn.data import list_datasets, make_events, to_frames
    >>> events = make_events([0, 10, 20], [0, 1, 1], [0, 0, 1], [1, 0, 1])
    >>> to_frames(events, sensor_size=(2, 2), n_time_bins=2).shape
    (2, 2, 2, 2)
    >>> "moving_shapes" in list_datasets() and "gen1" in list_datasets()
    True
"""

from ltsnn.data.events import EVENT_DTYPE, make_events
from ltsnn.data.functional import to_frames
from ltsnn.data.representations import REPRESENTATIONS
from ltsnn.data.simulate import simulate_saccades

_TORCH_NAMES = ("create_dataset", "list_datasets")


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        from ltsnn.data import datasets
        return getattr(datasets, name)
    raise AttributeError(f"module 'ltsnn.data' has no attribute {name!r}")


__all__ = ["EVENT_DTYPE", "REPRESENTATIONS", "make_events", "to_frames", "simulate_saccades", *_TORCH_NAMES]
