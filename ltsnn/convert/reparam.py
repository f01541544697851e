"""A trained LM-HT network -> the same network with binary single-threshold neurons over L·T steps (methods §2.6).

The official ``--direct_inference`` path: every LM-HT layer becomes an IF layer run for L sub-steps per
step (:class:`ltsnn.neurons.lmht.LMHTBinaryNeuron`), and every constant added to a current is spread
over the L sub-steps: convolution / linear biases, BN shifts (β) and BN running means are divided by L,
and so is the network input (the first convolution's weights divided by L, which is the same thing
for a linear layer). The static input is repeated L·T times. Summed over each window of L sub-steps,
every layer then receives the current its LM-HT counterpart received; where Lemma 4.1's conditions hold
it also emits the same output, and the paper reports no loss of accuracy.

Only networks on time-averaged input (``time_input="mean"``) are reparameterised: that is the static-
image setting of the official code.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import torch
from torch import nn

from ltsnn.convert.qcfs import source_kwargs
from ltsnn.neurons import NeuronSpec


def binary_model_args(model_args: Mapping[str, Any]) -> dict[str, Any]:
    """``model_args`` of the binary network for an LM-HT network's ``model_args`` (as kept in checkpoints).

    Raises:
        ValueError: the network is not an LM-HT network on time-averaged input.
    """
    kwargs, spec = source_kwargs(model_args, neuron="lmht",
                                 what="an LM-HT network (model.neuron=lmht) to reparameterise",
                                 why="the reparameterisation repeats a static input L·T times")
    kwargs.update(neuron=dataclasses.replace(spec, name="lmht_binary").to_dict(),
                  mean_repeat=binary_levels(model_args) * int(kwargs.get("mean_repeat", 1)))
    return {"name": model_args["name"], "kwargs": kwargs}


def binary_levels(model_args: Mapping[str, Any]) -> int:
    """L of an LM-HT (or binary) network's ``model_args``: its neuron's ``levels`` option (LM-HT's default 2)."""
    return int(NeuronSpec.coerce(model_args["kwargs"].get("neuron", {})).options.get("levels", 2))


@torch.no_grad()
def spread_constants(model: nn.Module, *, levels: int) -> None:
    """Divide, in place, every bias, BN shift and BN running mean by L, and the first convolution's weights
    (the input) by L; ``model`` holds a trained LM-HT network's weights and becomes its binary counterpart."""
    if levels < 1:
        raise ValueError(f"spread_constants needs levels >= 1, got {levels}")
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first_conv is None:
        raise ValueError("spread_constants: the model has no convolution to take the input")
    first_conv.weight.div_(levels)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
            m.bias.div_(levels)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.bias is not None:
                m.bias.div_(levels)
            if m.running_mean is not None:
                m.running_mean.div_(levels)
