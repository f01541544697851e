"""MobileNet-Light of LT-SNN Table 3, built by the VGG string parser.

``32C3-64DW-64DW-AP2-128DW-128DW-AP2-256DW-AP2-FC256-FC10``: each ``DW`` is a depthwise-separable block
(Howard et al. 2017: depthwise 3×3 → BN → neuron → pointwise 1×1 → BN → neuron), pooling after the
spikes, and the hidden FC followed by dropout only, as in the VGGs (see :mod:`ltsnn.models.vgg`). The
official repo's ``SConvDW``/``MBNETSNN*`` (no ``groups``, pooling before the spike) do not reproduce
Table 3 and are not followed (methods §1.7).
"""

from __future__ import annotations

from ltsnn.models.vgg import _register_vgg

MOBILENET_LIGHT = "32C3-64DW-64DW-AP2-128DW-128DW-AP2-256DW-AP2-FC256-FC10"

mobilenet_light = _register_vgg(
    "mobilenet_light", MOBILENET_LIGHT,
    "MobileNet-Light (depthwise-separable) of LT-SNN Table 3 (2.43 M at 2x48x48; paper 1.28 M / 1.5 M)",
    default_size=48, default_dropout=0.5)
