"""The CIFAR networks of the LM-HT and QCFS codes with a swappable activation (methods §2.7-2.9).

``resnet18``, ``resnet20``, ``vgg13`` and ``vgg16`` run the same network either as a QCFS ANN
(``neuron="qcfs"``) or as an SNN with any registered neuron (``"if_convert"``, ``"lmht"``, ``"lif"``, ...).
Layouts, from the official codes::

    resnet18 (hzc1208/LMHT_SNN models/ResNet.py, CIFAR path):
        stem conv3×3 in→64 (no bias), BN, act; basic blocks 64×2, 128×2 (s2), 256×2 (s2), 512×2 (s2);
        global average pool → FC 512→K
    resnet20 (LMHT_SNN ann_models/ResNet.py = the QCFS ResNet-20, used for hybrid training):
        stem conv3×3 in→16 (no bias), BN, act; basic blocks 16×3, 32×3 (s2), 64×3 (s2); GAP → FC 64→K
    vgg13 / vgg16 (putshua/ANN_SNN_QCFS Models/VGG.py; LMHT_SNN ann_models/VGG.py is the same):
        5 stages of [conv3×3 (bias), BN, act, dropout] with 2×2 *average* pooling after each
        (13: 2-2-2-2-2 convs, 16: 2-2-3-3-3; widths 64-128-256-512-512);
        flatten → FC 512·h·w→4096, act, dropout → FC 4096→4096, act, dropout → FC 4096→K

Basic block: conv3×3-BN-act-conv3×3-BN + shortcut (1×1 conv + BN when the shape changes), then act
(:class:`ltsnn.models.resnet.BasicBlock`). All layers between activations are applied per time step on
``[T*B, ...]`` (BN statistics over T·B).

QCFS mode: each activation is a :class:`ltsnn.layers.qcfs.QCFS` (elementwise and stateless, so applying it
to ``[T, B, ...]`` is applying it to each step). Feed ``T = 1`` for ANN training; with T > 1 every step is an
independent ANN pass. ``neuron_options`` then go to QCFS (``levels`` Q = 8, ``lam`` = 8, ``order``).

LM-HT: the T-GIM of each layer is a ``[steps, steps_in]`` matrix, so the neuron must be told the number of
time steps: ``neuron_options={"steps": T}`` (``LMHTNeuron`` defaults to 2; ``steps_in`` defaults to
``steps``). Static images are fed repeated over T, which equals the official code's "stem once, then
repeat" path. ``time_input="mean"`` averages the frames over time first and repeats the average
``mean_repeat`` times (:class:`ltsnn.layers.TimeInput`): ``mean_repeat=1`` is the official DVS path and what
a QCFS ANN sees, ``mean_repeat=T`` the static input of a converted SNN. The QCFS → IF / LM-HT conversion
(θ = λ, v(0) = θ/2, ×L on the first LM-HT layer) is :mod:`ltsnn.convert.qcfs`.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ltsnn.layers import SeqToBatch, TimeInput
from ltsnn.layers.qcfs import QCFS
from ltsnn.models.common import NeuronFactory, as_pair, check_input, conv_bn
from ltsnn.models.registry import register_model
from ltsnn.models.resnet import resnet_body
from ltsnn.neurons import NEURONS

QCFS_NAME = "qcfs"


class ActivationFactory:
    """Builds the activations of one model: QCFS (``"qcfs"``) or any registered spiking neuron.

    ``threshold_grad="auto"`` resolves to ``"stsg"`` where the neuron accepts it and ``"fixed"`` otherwise
    (LM-HT, the conversion IF, I-LIF). It is ignored for QCFS, whose λ is always learned. Why not ``"sgp"``:
    it only reaches V_th through neurons that fired, and the FC 4096 layers of the VGGs (plain Linear, no
    BN) are silent at init with θ = 1, so their thresholds would never move; ``"stsg"`` reaches them.
    """

    def __init__(self, neuron: str = "lif", *, threshold_grad: str = "auto", learn_first_threshold: bool = False,
                 neuron_options: Mapping[str, Any] | None = None):
        self.neuron = neuron
        self.options = dict(neuron_options or {})
        self.neurons: NeuronFactory | None = None
        if neuron == QCFS_NAME:
            self(channels=1)                                        # fail now on a bad option
            return
        if neuron not in NEURONS:
            raise ValueError(f"unknown activation {neuron!r}; expected {QCFS_NAME!r} or a neuron, one of "
                             f"{sorted(NEURONS)}")
        if threshold_grad == "auto":
            threshold_grad = "stsg" if "stsg" in NEURONS[neuron].threshold_grads else "fixed"
        self.neurons = NeuronFactory(neuron, threshold_grad=threshold_grad,
                                     learn_first_threshold=learn_first_threshold, neuron_options=self.options)

    def __call__(self, *, channels: int, first: bool = False) -> nn.Module:
        if self.neurons is not None:
            return self.neurons(channels=channels, first=first)
        try:
            return QCFS(**self.options)
        except TypeError as e:
            raise ValueError(f"activation 'qcfs': bad neuron_options {sorted(self.options)}: {e}") from None


class CifarResNet(nn.Module):
    """CIFAR ResNet of basic blocks with a single FC head (see the module docstring)."""

    def __init__(self, *, in_channels: int, num_classes: int, input_size: int | tuple[int, int],
                 acts: ActivationFactory, stem_channels: int, stages: tuple[tuple[int, int, int], ...],
                 time_input: TimeInput, name: str):
        super().__init__()
        self.name = name
        self.time_input = time_input
        self.in_channels, self.input_size = in_channels, as_pair(input_size)
        self.stem, self.layers, c = resnet_body(in_channels, stem_channels, stages, neurons=acts)
        self.head = SeqToBatch(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):                            # as the LM-HT code
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` frames -> ``[T, B, C', H', W']`` features (spikes, or QCFS values)."""
        check_input(x_seq, self.in_channels, self.input_size, self.name)
        return self.layers(self.stem(self.time_input(x_seq)))

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C', H', W']`` -> per-step logits ``[T, B, K]``."""
        return self.head(f_seq)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x_seq))


class CifarVGG(nn.Module):
    """The QCFS code's VGG: conv stages with average pooling and a three-FC classifier (module docstring)."""

    def __init__(self, stages: tuple[tuple[int, ...], ...], *, in_channels: int, num_classes: int,
                 input_size: int | tuple[int, int], acts: ActivationFactory, dropout: float, time_input: TimeInput,
                 name: str):
        super().__init__()
        self.name = name
        self.time_input = time_input
        self.in_channels, self.input_size = in_channels, as_pair(input_size)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        h, w = self.input_size
        h, w = h >> len(stages), w >> len(stages)
        if h < 1 or w < 1:
            raise ValueError(f"{name}: input_size {self.input_size} is too small for {len(stages)} 2×2 poolings "
                             f"(needs >= {2 ** len(stages)})")
        layers: list[nn.Module] = []
        c, first = in_channels, True
        for widths in stages:
            for c_out in widths:
                layers += [conv_bn(c, c_out), acts(channels=c_out, first=first), nn.Dropout(dropout)]
                c, first = c_out, False
            layers.append(SeqToBatch(nn.AvgPool2d(2)))              # QCFS: average instead of max pooling
        self.features = nn.Sequential(*layers)
        self.fc1 = SeqToBatch(nn.Flatten(), nn.Linear(c * h * w, 4096))
        self.fc1_act = acts(channels=4096)
        self.fc2 = SeqToBatch(nn.Dropout(dropout), nn.Linear(4096, 4096))
        self.fc2_act = acts(channels=4096)
        self.classifier = SeqToBatch(nn.Dropout(dropout), nn.Linear(4096, num_classes))
        # Conv init as the QCFS code. Its zero Linear biases are not copied: with spiking neurons a silent
        # fc1 then leaves fc2's membrane at exactly 0, where the surrogate is 0 and no gradient flows at all.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` frames -> ``[T, B, 512, H/32, W/32]`` features."""
        check_input(x_seq, self.in_channels, self.input_size, self.name)
        return self.features(self.time_input(x_seq))

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C', H', W']`` -> per-step logits ``[T, B, K]``."""
        h_seq = self.fc1_act(self.fc1(f_seq))                       # [T, B, 4096]
        h_seq = self.fc2_act(self.fc2(h_seq))                       # [T, B, 4096]
        return self.classifier(h_seq)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x_seq))


_ARGS_DOC = """

    Args:
        in_channels, num_classes, input_size: input ``[T, B, in_channels, H, W]``; CIFAR: 3, 10, 32.
        neuron: ``"qcfs"`` (the ANN, QCFS activations) or a registered neuron name (``"if_convert"``,
            ``"lmht"``, ``"lif"``, ...). For ``"lmht"`` pass ``neuron_options={"steps": T}``.
        threshold_grad: ``"auto"`` (``"stsg"`` where the neuron accepts it, else ``"fixed"``) or a mode the
            neuron accepts; ignored for QCFS.
        learn_first_threshold: let the first activation's neuron learn its threshold (fixed by default).
        neuron_options: keyword options of the neuron, or of :class:`~ltsnn.layers.qcfs.QCFS`
            (``levels``, ``lam``, ``order``).
        time_input: ``"frames"`` (one step per frame) or ``"mean"`` (the time-averaged frame, repeated
            ``mean_repeat`` times; see :class:`~ltsnn.layers.TimeInput`).

    Returns:
        a model mapping ``[T, B, C, H, W]`` to per-step logits ``[T, B, K]``.
    """


def _activations_and_time(kw: dict) -> dict:
    """Turn the activation and time-input keywords of a builder into ``acts`` and ``time_input`` modules."""
    opts = {k: kw.pop(k) for k in ("neuron", "threshold_grad", "learn_first_threshold", "neuron_options")}
    time_input = TimeInput(kw.pop("time_input"), repeat=kw.pop("mean_repeat"))
    return dict(kw, acts=ActivationFactory(opts.pop("neuron"), **opts), time_input=time_input)


def _resnet(name: str, stem_channels: int, stages, **kw) -> CifarResNet:
    return CifarResNet(stem_channels=stem_channels, stages=stages, name=name, **_activations_and_time(kw))


def _vgg(name: str, stages, *, dropout: float, **kw) -> CifarVGG:
    return CifarVGG(stages, dropout=dropout, name=name, **_activations_and_time(kw))


@register_model("resnet18")
def resnet18(*, in_channels: int = 3, num_classes: int = 10, input_size: int | tuple[int, int] = 32,
             neuron: str = "lif", threshold_grad: str = "auto", learn_first_threshold: bool = False,
             neuron_options: Mapping[str, Any] | None = None, time_input: str = "frames",
             mean_repeat: int = 1) -> CifarResNet:
    """CIFAR ResNet-18 of the LM-HT code (64-128-256-512 × [2,2,2,2], 3×3 stem), swappable activation"""
    return _resnet("resnet18", 64, ((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)),
                   in_channels=in_channels, num_classes=num_classes, input_size=input_size, neuron=neuron,
                   threshold_grad=threshold_grad, learn_first_threshold=learn_first_threshold,
                   neuron_options=neuron_options, time_input=time_input, mean_repeat=mean_repeat)


@register_model("resnet20")
def resnet20(*, in_channels: int = 3, num_classes: int = 10, input_size: int | tuple[int, int] = 32,
             neuron: str = "lif", threshold_grad: str = "auto", learn_first_threshold: bool = False,
             neuron_options: Mapping[str, Any] | None = None, time_input: str = "frames",
             mean_repeat: int = 1) -> CifarResNet:
    """QCFS/LM-HT ResNet-20 (16-32-64 × [3,3,3], 3×3 stem, FC 64→K), swappable activation"""
    return _resnet("resnet20", 16, ((16, 3, 1), (32, 3, 2), (64, 3, 2)),
                   in_channels=in_channels, num_classes=num_classes, input_size=input_size, neuron=neuron,
                   threshold_grad=threshold_grad, learn_first_threshold=learn_first_threshold,
                   neuron_options=neuron_options, time_input=time_input, mean_repeat=mean_repeat)


@register_model("vgg13")
def vgg13(*, in_channels: int = 3, num_classes: int = 10, input_size: int | tuple[int, int] = 32,
          neuron: str = "lif", threshold_grad: str = "auto", learn_first_threshold: bool = False,
          neuron_options: Mapping[str, Any] | None = None, dropout: float = 0.0, time_input: str = "frames",
          mean_repeat: int = 1) -> CifarVGG:
    """QCFS VGG-13 (avg-pool, FC 4096-4096-K), swappable activation"""
    return _vgg("vgg13", ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)), dropout=dropout,
                in_channels=in_channels, num_classes=num_classes, input_size=input_size, neuron=neuron,
                threshold_grad=threshold_grad, learn_first_threshold=learn_first_threshold,
                neuron_options=neuron_options, time_input=time_input, mean_repeat=mean_repeat)


@register_model("vgg16")
def vgg16(*, in_channels: int = 3, num_classes: int = 10, input_size: int | tuple[int, int] = 32,
          neuron: str = "lif", threshold_grad: str = "auto", learn_first_threshold: bool = False,
          neuron_options: Mapping[str, Any] | None = None, dropout: float = 0.0, time_input: str = "frames",
          mean_repeat: int = 1) -> CifarVGG:
    """QCFS VGG-16 (avg-pool, FC 4096-4096-K), swappable activation"""
    return _vgg("vgg16", ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
                dropout=dropout, in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                neuron=neuron, threshold_grad=threshold_grad, learn_first_threshold=learn_first_threshold,
                neuron_options=neuron_options, time_input=time_input, mean_repeat=mean_repeat)


for _fn in (resnet18, resnet20, vgg13, vgg16):
    _fn.__doc__ += _ARGS_DOC
