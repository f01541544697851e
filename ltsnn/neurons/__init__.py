"""Spiking neuron modules and their registry.

``create_neuron(name, **kw)`` builds one by name; models take the name and keyword options so the
neuron can be swapped from the config. Registering a name enrols it in the contract tests.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from ltsnn.neurons.lif import LIFNeuron

NEURONS: dict[str, Callable[..., nn.Module]] = {}


def register_neuron(name: str):
    def wrap(cls):
        if name in NEURONS:
            raise ValueError(f"neuron {name!r} is already registered")
        NEURONS[name] = cls
        return cls
    return wrap


register_neuron("lif")(LIFNeuron)
from ltsnn.neurons import dsr as _dsr  # noqa: E402,F401  (registers "dsr_if", "dsr_lif")


def create_neuron(name: str, **kw) -> nn.Module:
    """Build the neuron registered as ``name``; the error lists the known names."""
    if name not in NEURONS:
        raise ValueError(f"unknown neuron {name!r}; expected one of {sorted(NEURONS)}")
    return NEURONS[name](**kw)


def list_neurons() -> list[str]:
    return sorted(NEURONS)


def reset_states(model: nn.Module) -> None:
    """Reset every stateful module of ``model`` (the one reset path the engine calls after each batch)."""
    for m in model.modules():
        if m is not model and callable(getattr(m, "reset", None)):
            m.reset()


__all__ = ["LIFNeuron", "NEURONS", "create_neuron", "list_neurons", "register_neuron", "reset_states"]
