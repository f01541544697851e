"""Event data: the Events layout, readers, the DVS emulator, frames and data sets.

``import ltsnn.data`` stays numpy-only; :func:`create_dataset` and :func:`list_datasets` import
torch (through :mod:`ltsnn.data.datasets`) on first use.
"""

from ltsnn.data.events import EVENT_DTYPE, make_events
from ltsnn.data.functional import to_frames
from ltsnn.data.simulate import simulate_saccades

_TORCH_NAMES = ("create_dataset", "list_datasets")


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        from ltsnn.data import datasets
        return getattr(datasets, name)
    raise AttributeError(f"module 'ltsnn.data' has no attribute {name!r}")


__all__ = ["EVENT_DTYPE", "make_events", "to_frames", "simulate_saccades", *_TORCH_NAMES]
