"""QCFS ANN -> spiking network: the conversion of Bu et al. and the initialisation of LM-HT hybrid training.

A ResNet-18/20 or VGG-13/16 (:mod:`ltsnn.models.resnet`, :mod:`ltsnn.models.vgg`) trained with QCFS activations
(``neuron="qcfs"``) becomes the
same network with spiking neurons in place of each QCFS layer (methods §2.7-2.8):

- ``"if"``: the conversion IF neuron (``if_convert``): θ = λ of that QCFS layer, v(0) = θ/2, soft reset,
  output spike·θ. Bu et al.: with v(0) = θ/2 the expected conversion error is zero at any T.
- ``"lmht"``: the LM-HT neuron with L levels, θ = λ (not divided by L), v(0) = θ/2, T-GIM ω = 1/T
  (M = 0), leak λ = 1 (a = 0), and the input of the *first* LM-HT layer multiplied by L, as the official
  hybrid script does (Theorem 4.4's initialisation).

Every other weight and buffer (convolutions, BN statistics, the classifier) is copied unchanged. The
network's input becomes the time-averaged frame repeated T times (``time_input="mean"``,
``mean_repeat=T``): the ANN must have been trained on the time-averaged frame (``time_input="mean"``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from torch import nn

from ltsnn.neurons import NeuronSpec, find_neurons
from ltsnn.neurons.lmht import LMHTNeuron
from ltsnn.neurons.qcfs import QCFS

CONVERT_TARGETS = {"if": "if_convert", "lmht": "lmht"}


def converted_model_args(model_args: Mapping[str, Any], *, to: str, steps: int, levels: int = 2) -> dict[str, Any]:
    """The ``model_args`` (as kept in checkpoints) of the spiking network converted from a QCFS ANN.

    Args:
        model_args: ``{"name", "kwargs"}`` of the ANN; its ``kwargs["neuron"]`` (a
            :meth:`NeuronSpec.to_dict`) must name ``"qcfs"`` and its ``time_input`` be ``"mean"``.
        to: ``"if"`` or ``"lmht"``.
        steps: T, the time steps the spiking network runs (the input's repeats; LM-HT sizes its T-GIM from it).
        levels: L, the LM-HT levels (``to="lmht"`` only).

    Returns:
        ``{"name", "kwargs"}`` with the neuron ``{"name": "if_convert" | "lmht", "threshold_grad": "fixed", ...}``
        and ``mean_repeat=steps``.

    Raises:
        ValueError: naming the field when the ANN is not a QCFS network on time-averaged input, or an
            argument is out of range.

    Example:
        >>> ann = {"name": "resnet20", "kwargs": {"neuron": NeuronSpec("qcfs").to_dict(), "time_input": "mean"}}
        >>> kw = converted_model_args(ann, to="lmht", steps=4)["kwargs"]
        >>> kw["neuron"]["name"], kw["neuron"]["options"], kw["mean_repeat"]
        ('lmht', {'levels': 2}, 4)
    """
    if to not in CONVERT_TARGETS:
        raise ValueError(f"unknown conversion target {to!r}; expected one of {list(CONVERT_TARGETS)}")
    if steps < 1 or levels < 1:
        raise ValueError(f"conversion needs steps >= 1 and levels >= 1, got steps={steps}, levels={levels}")
    kwargs, spec = source_kwargs(model_args, neuron="qcfs", what="a QCFS ANN (model.neuron=qcfs) to convert",
                                 why="the ANN must see the time-averaged frame, as the converted SNN will")
    spec = dataclasses.replace(spec, name=CONVERT_TARGETS[to], threshold_grad="fixed",
                               options={"levels": levels} if to == "lmht" else {})
    kwargs.update(neuron=spec.to_dict(), mean_repeat=steps)
    return {"name": model_args["name"], "kwargs": kwargs}


def source_kwargs(model_args: Mapping[str, Any], *, neuron: str, what: str,
                  why: str) -> tuple[dict[str, Any], NeuronSpec]:
    """A copy of ``model_args["kwargs"]`` and its neuron spec, after checking the network has the neuron named
    ``neuron`` and ``time_input="mean"``.

    Raises:
        ValueError: naming the model, the field and what was expected (``what``, ``why``).
    """
    kwargs = dict(model_args["kwargs"])
    spec = NeuronSpec.coerce(kwargs.get("neuron", {}))
    if spec.name != neuron:
        raise ValueError(f"model {model_args['name']!r} has neuron {spec.name!r}; expected {what}")
    if kwargs.get("time_input", "frames") != "mean":
        raise ValueError(f"model {model_args['name']!r} has time_input={kwargs.get('time_input', 'frames')!r}; "
                         f"expected 'mean' ({why})")
    return kwargs, spec


def load_qcfs_into_snn(ann: nn.Module, snn: nn.Module, *, levels: int = 1) -> dict[str, float]:
    """Copy a QCFS ANN's weights into ``snn`` (built from :func:`converted_model_args`) and set its neurons.

    Each neuron takes the λ of the QCFS layer at the same module path as θ, with v(0) = θ/2; the first
    LM-HT neuron (in module order, the stem's) gets ``input_scale = levels``.

    Returns:
        ``{module path: θ}`` of every converted layer.

    Raises:
        ValueError: the two networks do not have activations at the same paths, a λ is not positive, or a
            weight of the ANN has no place in the SNN.
    """
    acts = {name: m for name, m in ann.named_modules() if isinstance(m, QCFS)}
    neurons = dict(find_neurons(snn))
    if list(acts) != list(neurons):
        raise ValueError(f"the ANN's QCFS layers {list(acts)[:4]}... and the SNN's neurons {list(neurons)[:4]}... "
                         f"are not at the same module paths; expected the same architecture")
    weights = {k: v for k, v in ann.state_dict().items() if k.rpartition(".")[0] not in acts}
    missing, unexpected = snn.load_state_dict(weights, strict=False)
    not_neuron = [k for k in missing if k.rpartition(".")[0] not in neurons]
    if unexpected or not_neuron:
        raise ValueError(f"ANN and SNN weights differ: unexpected {unexpected[:3]}, missing {not_neuron[:3]}")
    thresholds = {}
    for i, (name, neuron) in enumerate(neurons.items()):
        lam = float(acts[name].lam)
        if lam <= 0:
            raise ValueError(f"QCFS layer {name!r} has λ = {lam}; expected λ > 0 to become a threshold")
        neuron.v_th.fill_(lam)
        neuron.v_init.fill_(lam / 2)
        if isinstance(neuron, LMHTNeuron) and i == 0:
            neuron.input_scale.fill_(float(levels))
        thresholds[name] = lam
    return thresholds
