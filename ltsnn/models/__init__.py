"""Spiking models: ``create_model(name, ...)``, ``list_models()``.

Every model is a :class:`SpikingModel`: it maps time-major frames ``[T, B, C, H, W]`` to per-step outputs
``[T, B, K]`` and exposes ``forward_features`` / ``forward_head``; its neurons come from one
:class:`~ltsnn.neurons.NeuronSpec`. One file per family, each registering its entries
(``@register_model(name)``) and imported here; a new model is one file, imported below.
"""

from ltsnn.models import mobilenet, resnet, vgg, yolo  # noqa: F401  (each registers its models)
from ltsnn.models import attention, transformer, trevsnn  # noqa: F401  (BICLab's family, issue 15)
from ltsnn.models.base import SpikingModel
from ltsnn.models.registry import MODELS, create_model, list_models, model_neuron, register_model

__all__ = ["MODELS", "SpikingModel", "create_model", "list_models", "model_neuron", "register_model"]
