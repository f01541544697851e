"""MobileNet-Light of LT-SNN Table 3, a :class:`~ltsnn.models.vgg.SpikingVGG` of depthwise-separable blocks.

``32C3-64DW-64DW-AP2-128DW-128DW-AP2-256DW-AP2-FC256-FC10``: each ``DW`` is a depthwise-separable block
(Howard et al. 2017: depthwise 3×3 → BN → neuron → pointwise 1×1 → BN → neuron), pooling after the
spikes, and the hidden FC followed by dropout only, as in the VGGs. The official repo's
``SConvDW``/``MBNETSNN*`` (no ``groups``, pooling before the spike) do not reproduce Table 3 and are not
followed (methods §1.7).
"""

from __future__ import annotations

from ltsnn.models.base import Size
from ltsnn.models.registry import register_model
from ltsnn.models.vgg import SpikingVGG
from ltsnn.neurons import NeuronSpec

MOBILENET_LIGHT = "32C3-64DW-64DW-AP2-128DW-128DW-AP2-256DW-AP2-FC256-FC10"


@register_model("mobilenet_light")
def mobilenet_light(*, in_channels: int = 2, num_classes: int = 10, input_size: Size = 48,
                    neuron: NeuronSpec = NeuronSpec(), dropout: float = 0.5) -> SpikingVGG:
    """MobileNet-Light (depthwise-separable) of LT-SNN Table 3 (2.43 M at 2x48x48; paper 1.28 M / 1.5 M)"""
    return SpikingVGG(MOBILENET_LIGHT, in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                      neuron=neuron, dropout=dropout, name="mobilenet_light")
