"""NeuronSpec: the one value that says which neurons a model builds and how their thresholds learn."""

from __future__ import annotations

import copy
import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Mapping

from torch import nn

from ltsnn.neurons.registry import NEURONS


@dataclass(frozen=True)
class NeuronSpec:
    """The neurons of a model: every activation site gets ``spec.build(channels=..., first=...)``.

    Attributes:
        name: a registered neuron (:func:`~ltsnn.neurons.list_neurons`): ``"lif"``, ``"lmht"``, ``"qcfs"``, ...
        threshold_grad: ``"fixed"`` (no threshold learns), a gradient mode the neuron accepts (LIF:
            ``"stsg"``, ``"sgp"``, ``"sgp_official"``, ``"penalty_for_all"``, methods §1.3; DSR also
            ``"dsr"``), or ``"auto"``: ``"stsg"`` where the neuron accepts it, else ``"fixed"``.
        learn_first_threshold: the layer built with ``first=True`` (the encoding layer, which sees
            real-valued frames) keeps a fixed threshold unless this is set, as in the LT-SNN code.
        options: the neuron's own keyword options, e.g. ``{"decay": 0.25}`` or ``{"levels": 2}``.

    ``to_dict()`` / ``from_dict()`` give plain Python values, as checkpoints keep them.

    Example:
        >>> spec = NeuronSpec("lif", threshold_grad="stsg", options={"decay": 0.25})
        >>> spec.build(channels=16, first=True).learnable, spec.build(channels=16).learnable
        (False, True)
        >>> NeuronSpec.from_dict(spec.to_dict()) == spec
        True
    """

    name: str = "lif"
    threshold_grad: str = "sgp"
    learn_first_threshold: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for f, kind in (("name", str), ("threshold_grad", str), ("learn_first_threshold", bool),
                        ("options", Mapping)):
            value = getattr(self, f)
            if not isinstance(value, kind):
                raise ValueError(f"NeuronSpec.{f}: expected {kind.__name__}, got {value!r}")
        object.__setattr__(self, "options", dict(self.options))    # its own copy: the spec is a value

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "threshold_grad", "learn_first_threshold", "options"}`` as plain Python values."""
        return {"name": self.name, "threshold_grad": self.threshold_grad,
                "learn_first_threshold": self.learn_first_threshold, "options": copy.deepcopy(self.options)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NeuronSpec:
        """The spec of :meth:`to_dict`'s dict; missing keys take the defaults.

        Raises:
            ValueError: naming an unknown key and listing the valid ones.
        """
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ValueError(f"neuron spec: unknown key(s) {unknown}; valid: {valid}")
        return cls(**d)

    @classmethod
    def coerce(cls, value: NeuronSpec | Mapping[str, Any] | str, *, default: NeuronSpec | None = None) -> NeuronSpec:
        """``value`` as a spec: a spec as it is; a dict (e.g. :meth:`to_dict`'s) or a neuron name, as its
        fields set over ``default`` (the plain :class:`NeuronSpec` if None).

        Example:
            >>> NeuronSpec.coerce("lmht", default=NeuronSpec(threshold_grad="auto")).threshold_grad
            'auto'
        """
        if isinstance(value, NeuronSpec):
            return value
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, Mapping):
            raise ValueError(f"neuron: expected a NeuronSpec, a dict of its fields or a neuron name, got {value!r}")
        return cls.from_dict({**(default or cls()).to_dict(), **value})

    def build(self, *, channels: int, first: bool = False) -> nn.Module:
        """One layer's neuron: ``channels`` is the size of dim 2 of its input ``[T, B, C, ...]`` (given to
        neurons that take ``channels``, e.g. LIF's per-channel thresholds); ``first`` marks the encoding layer.

        Raises:
            ValueError: an unknown neuron or threshold_grad (listing the known ones), or bad options.
        """
        cls = NEURONS.lookup(self.name)
        grad = self.threshold_grad
        if grad == "auto":
            # Why not "sgp": it only reaches V_th through neurons that fired, and layers silent at init (e.g.
            # the VGGs' FC 4096 layers, plain Linear without BN, at θ = 1) would never move their thresholds.
            grad = "stsg" if "stsg" in cls.threshold_grads else "fixed"
        kw = cls.threshold_options(grad, learn=not first or self.learn_first_threshold)
        clash = sorted(set(kw) & set(self.options))
        if clash:
            raise ValueError(f"neuron {self.name!r}: options {clash} are set by threshold_grad and "
                             f"learn_first_threshold, not by options")
        if "channels" in inspect.signature(cls).parameters:
            kw["channels"] = channels
        try:
            return cls(**self.options, **kw)
        except TypeError as e:
            raise ValueError(f"neuron {self.name!r}: bad options {sorted(self.options)}: {e}") from None
