"""Spiking neuron modules, their registry, and the spec that tells a model which neuron to build.

Each neuron file registers its classes (``@register_neuron(name)``); importing this package imports every
file, so ``create_neuron(name, **kw)`` and :class:`NeuronSpec` know every neuron whatever was imported
first. A new neuron is one file here (plus its equations in :mod:`ltsnn.functional` and a test), imported
below.
"""

from ltsnn.neurons import dsr, ilif, lif, lmht, qcfs  # noqa: F401  (each registers its neurons)
from ltsnn.neurons.base import SpikingNeuron, check_decay, find_neurons, reset_states, threshold_parameters
from ltsnn.neurons.lif import LIFNeuron
from ltsnn.neurons.registry import NEURONS, create_neuron, list_neurons, register_neuron
from ltsnn.neurons.spec import NeuronSpec

__all__ = ["LIFNeuron", "NEURONS", "NeuronSpec", "SpikingNeuron", "check_decay", "create_neuron", "find_neurons",
           "list_neurons", "register_neuron", "reset_states", "threshold_parameters"]
