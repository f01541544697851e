"""Event representations: the one vocabulary of how a recording becomes frames [T, C, H, W].

Each entry of :data:`REPRESENTATIONS` names an events -> frames function of
:mod:`ltsnn.data.functional` together with what the rest of ``ltsnn.data`` needs to know about it:
the options a data set may pass to it (every keyword of the function but the per-sample
``sensor_size`` and ``t_range``), the dtype that holds its values exactly until an item is read, a
version to bump when its output changes, and which keyword takes a data set's ``bin_by``. Data sets
accept ``representation=<name>`` and the options of that entry, and the frame cache key is built
from the entry (:meth:`Representation.key`): its name, version and every option with the defaults
filled in, so that changing a default changes the key; and from a fingerprint of its function's
source (:func:`ltsnn.data.cache.code_description`), so that changing the code changes it too.

Register a new representation with :func:`register_representation`; the contract tests run over
every registered name.

Example:
    >>> from ltsnn.data.events import make_events
    >>> frames = REPRESENTATIONS.lookup("frames")
    >>> options = frames.resolve(n_time_bins=2, bin_by="count", binary=False)
    >>> options["binary"], options["resize_mode"], frames.storage_dtype(options).name
    (False, 'area', 'uint16')
    >>> events = make_events([0, 5, 9], [0, 1, 1], [0, 0, 0], [1, 1, 0])
    >>> frames(events, sensor_size=(2, 1), **options).shape
    (2, 2, 1, 2)
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ltsnn.data.functional.colour import ltsnn_colour_frames
from ltsnn.data.functional.frames import to_frames
from ltsnn.data.functional.voxel import to_voxel_grid
from ltsnn.registry import Registry

REPRESENTATIONS = Registry("representation")
# Keywords that describe one sample, set by the data set for each recording: never options.
PER_SAMPLE = ("sensor_size", "t_range")


@dataclass(frozen=True)
class Representation:
    """One registered representation (see the module docstring).

    Attributes:
        name: its registered name.
        function: ``function(events, *, sensor_size, **options)`` -> float32 [T, C, H, W].
        storage: resolved options -> the dtype that holds every value of the frames exactly.
        version: bump when the frames change for the same options without a change of the source of
            ltsnn (an edit of the code already makes cached frames be rebuilt).
        binning: the function's keyword that takes a data set's ``bin_by``; None for a function with
            a single time rule, which accepts only ``bin_by="duration"`` (the default).
    """

    name: str
    function: Callable[..., np.ndarray]
    storage: Callable[[Mapping[str, Any]], np.dtype]
    version: int
    binning: str | None = "bin_by"

    def __call__(self, events: np.ndarray, *, sensor_size: tuple[int, int], **options) -> np.ndarray:
        return self.function(events, sensor_size=sensor_size, **options)

    @property
    def option_names(self) -> tuple[str, ...]:
        """Every keyword option of the function (``n_time_bins`` and the binning included), in signature order."""
        params = inspect.signature(self.function).parameters
        return tuple(n for n, p in params.items() if p.kind is p.KEYWORD_ONLY and n not in PER_SAMPLE)

    @property
    def dataset_options(self) -> tuple[str, ...]:
        """The options a data set passes through from its caller: all but ``n_time_bins`` and the binning,
        which every data set takes as its own arguments."""
        return tuple(n for n in self.option_names if n not in ("n_time_bins", self.binning))

    def options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every option of the function, ``given`` over its defaults, sorted by name.

        Raises:
            ValueError: listing the valid names for an unknown option, or naming a required one that is missing.
        """
        valid = self.option_names
        unknown = sorted(set(given) - set(valid))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for representation {self.name!r}; valid: {list(valid)}")
        params = inspect.signature(self.function).parameters
        resolved = {n: params[n].default for n in valid if params[n].default is not inspect.Parameter.empty}
        resolved.update(given)
        missing = [n for n in valid if n not in resolved]
        if missing:
            raise ValueError(f"representation {self.name!r} needs option(s) {missing}")
        return dict(sorted(resolved.items()))

    def resolve(self, *, n_time_bins: int | None, bin_by: str, **options) -> dict[str, Any]:
        """The options of a data set's frames: its ``n_time_bins`` and ``bin_by`` (under the name of
        :attr:`binning`) with the data set options ``options``, defaults filled in (:meth:`options`).

        Raises:
            ValueError: for an option the data set may not pass (listing those it may), or a ``bin_by``
                other than ``"duration"`` for a representation without a choice of binning.
        """
        unknown = sorted(set(options) - set(self.dataset_options))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for representation {self.name!r}; valid: "
                             f"{list(self.dataset_options)}")
        if self.binning is None:
            if bin_by != "duration":
                raise ValueError(f"representation {self.name!r} has a single time rule; bin_by is {bin_by!r}, "
                                 f"expected 'duration' (the default)")
            return self.options({"n_time_bins": n_time_bins, **options})
        return self.options({"n_time_bins": n_time_bins, self.binning: bin_by, **options})

    def storage_dtype(self, options: Mapping[str, Any]) -> np.dtype:
        """The dtype that holds these frames exactly (``options`` as given to the function; defaults filled in)."""
        return np.dtype(self.storage(self.options(options)))

    def key(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """What identifies frames made with ``options``: name, version and every option (defaults filled in),
        as JSON-ready values (tuples become lists)."""
        resolved = {n: list(v) if isinstance(v, tuple) else v for n, v in self.options(options).items()}
        return {"name": self.name, "version": self.version, "options": resolved}


def register_representation(name: str, function: Callable[..., np.ndarray], *,
                            storage: Callable[[Mapping[str, Any]], np.dtype], version: int,
                            binning: str | None = "bin_by") -> Representation:
    """Enrol ``function`` as representation ``name`` (see :class:`Representation` for the arguments)."""
    return REPRESENTATIONS.register(name)(Representation(name, function, storage, version, binning))


def _frames_storage(options: Mapping[str, Any]) -> np.dtype:
    # Presence fits uint8 and counts uint16 (a larger count raises when stored, nothing is clipped);
    # only a resize that averages ("area", "bilinear") makes fractions.
    if options["size"] is not None and options["resize_mode"] != "nearest":
        return np.dtype(np.float32)
    return np.dtype(np.uint8 if options["binary"] else np.uint16)


register_representation("frames", to_frames, storage=_frames_storage, version=1)
# The LT-SNN code's red/green presence frames (methods.md §1.8): integers 0..255, also after its rounded resize.
register_representation("ltsnn_colour", ltsnn_colour_frames, storage=lambda options: np.dtype(np.uint8), version=1,
                        binning="binning")
# Signed fractions (Zhu et al. 2019): float32 as computed.
register_representation("voxel_grid", to_voxel_grid, storage=lambda options: np.dtype(np.float32), version=1,
                        binning=None)
