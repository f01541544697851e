"""Spiking models: ``create_model(name, **kw)``, ``list_models()``.

Every model maps time-major frames ``[T, B, C, H, W]`` to per-step outputs ``[T, B, K]`` and exposes
``forward_features`` / ``forward_head``. Importing this package registers the built-in models.
"""

from ltsnn.models import vgg  # noqa: F401  (registers the VGG family)
from ltsnn.models import dsr_vgg, mobilenet, resnet  # noqa: F401  (register vgg11, mobilenet_light, resnet19)
from ltsnn.models import lmht_nets  # noqa: F401  (registers resnet18, resnet20, vgg13, vgg16: QCFS or any neuron)
from ltsnn.models import yolo  # noqa: F401  (registers the detectors yolo_ltsnn, yolo_tiny)
from ltsnn.models.registry import MODELS, create_model, list_models, register_model

__all__ = ["MODELS", "create_model", "list_models", "register_model"]
