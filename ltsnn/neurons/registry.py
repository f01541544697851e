"""Neuron registry: ``create_neuron(name, **kw)`` and ``list_neurons()``."""

from __future__ import annotations

from torch import nn

from ltsnn.registry import Registry

NEURONS = Registry("neuron")
register_neuron = NEURONS.register


def create_neuron(name: str, **kw) -> nn.Module:
    """Build the neuron registered as ``name``; the error lists the known names."""
    return NEURONS.lookup(name)(**kw)


def list_neurons() -> list[str]:
    return sorted(NEURONS)
