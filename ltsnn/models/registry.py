"""Model registry: ``create_model(name, ...)`` and ``list_models()``.

Each model file registers its entries with ``@register_model(name)`` on a class or a function whose
keyword arguments are the model's options; importing :mod:`ltsnn.models` imports every file.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping

from torch import nn

from ltsnn.neurons import NeuronSpec
from ltsnn.registry import Registry

MODELS = Registry("model")
register_model = MODELS.register


def _parameters(name: str) -> Mapping[str, inspect.Parameter]:
    return inspect.signature(MODELS.lookup(name)).parameters


def model_neuron(name: str, neuron: NeuronSpec | Mapping[str, Any] | str | None = None) -> NeuronSpec:
    """The neuron spec ``create_model(name, neuron=neuron)`` builds the model with: ``neuron`` as a spec, a
    dict or name setting fields over the model's default, or the default itself when None.

    Example:
        >>> model_neuron("resnet20", {"name": "lmht"})
        NeuronSpec(name='lmht', threshold_grad='auto', learn_first_threshold=False, options={})
    """
    param = _parameters(name).get("neuron")
    if param is None:
        raise ValueError(f"model {name!r} has no neurons to choose")
    default = param.default if isinstance(param.default, NeuronSpec) else NeuronSpec()
    return default if neuron is None else NeuronSpec.coerce(neuron, default=default)


def create_model(name: str, *, neuron: NeuronSpec | Mapping[str, Any] | str | None = None, **options) -> nn.Module:
    """Build the model registered as ``name``.

    Args:
        name: a registered model (:func:`list_models`).
        neuron: the neurons: a :class:`~ltsnn.neurons.NeuronSpec`, its ``to_dict()`` (missing fields, or a bare
            neuron name, take the model's default spec), or None for the model's default.
        **options: the model's own options: ``in_channels``, ``num_classes``, ``input_size`` (each with the
            model's default when left out) and what the model adds (``dropout``, ``time_input``, ...).

    Raises:
        ValueError: an unknown name, option, neuron or neuron option, listing the valid ones.

    Example:
        >>> model = create_model("vgg_tiny", in_channels=2, num_classes=10, input_size=34,
        ...                      neuron={"threshold_grad": "stsg"}, dropout=0.0)
        >>> model.in_channels, model.input_size
        (2, (34, 34))
    """
    params = _parameters(name)
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            raise ValueError(f"model {name!r} got unknown option(s) {unknown}; valid: {sorted(params)}")
    if neuron is not None or "neuron" in params:
        options["neuron"] = model_neuron(name, neuron)
    return MODELS[name](**options)


def list_models() -> dict[str, str]:
    """Name -> one-line description of every registered model."""
    return MODELS.describe()
