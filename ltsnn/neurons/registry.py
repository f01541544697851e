"""Neuron registry: ``create_neuron(name, **kw)`` and ``list_neurons()``.

Each neuron file registers its classes with ``@register_neuron(name)``; importing :mod:`ltsnn.neurons`
imports every file. A registered class is what a model can put at an activation site: a
:class:`~ltsnn.neurons.base.SpikingNeuron`, or QCFS, the ANN activation that conversion replaces. Besides
its keyword options it exposes ``threshold_grads`` and ``threshold_options`` (see :class:`NeuronSpec`).
"""

from __future__ import annotations

from torch import nn

from ltsnn.registry import Registry

NEURONS = Registry("neuron")
register_neuron = NEURONS.register


def create_neuron(name: str, **kw) -> nn.Module:
    """Build the neuron registered as ``name`` with its keyword options; the error lists the known names.

    Example:
        >>> from ltsnn.neurons import create_neuron
        >>> create_neuron("lif", learn_threshold=False).learnable
        False
    """
    return NEURONS.lookup(name)(**kw)


def list_neurons() -> list[str]:
    """The registered neuron names, sorted."""
    return sorted(NEURONS)
