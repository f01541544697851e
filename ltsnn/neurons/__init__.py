"""Spiking neuron modules and their registry.

``create_neuron(name, **kw)`` builds one by name; models take the name and keyword options so the
neuron can be swapped from the config. Registering a name enrols it in the contract tests.
"""

from __future__ import annotations

from torch import nn

from ltsnn.neurons import dsr as _dsr  # noqa: F401  (registers "dsr_if", "dsr_lif")
from ltsnn.neurons import ilif as _ilif  # noqa: F401  (registers "ilif", "ilif_gen1")
from ltsnn.neurons import lmht as _lmht  # noqa: F401  (registers "mht", "lmht", "if_convert")
from ltsnn.neurons.lif import LIFNeuron
from ltsnn.neurons.registry import NEURONS, create_neuron, list_neurons, register_neuron

register_neuron("lif")(LIFNeuron)


def reset_states(model: nn.Module) -> None:
    """Reset every stateful module of ``model`` (the one reset path the engine calls after each batch)."""
    for m in model.modules():
        if m is not model and callable(getattr(m, "reset", None)):
            m.reset()


__all__ = ["LIFNeuron", "NEURONS", "create_neuron", "list_neurons", "register_neuron", "reset_states"]
