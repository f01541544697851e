"""What the spiking layers do: per-layer thresholds and, through forward hooks, per-layer firing rates."""

from __future__ import annotations

import torch
from torch import nn

from ltsnn.neurons.base import SpikingNeuron


def neuron_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The spiking layers of ``model`` (:class:`SpikingNeuron` instances), as (qualified name, module)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, SpikingNeuron)]


def layer_thresholds(model: nn.Module) -> tuple[dict[str, float], list[str]]:
    """Each spiking layer's firing threshold, fixed layers included.

    Returns:
        ``(values, fixed)``: layer name -> threshold (the mean, for per-channel thresholds), and the names
        of the layers whose threshold is a buffer rather than a learnable parameter.
    """
    values, fixed = {}, []
    for name, m in neuron_layers(model):
        v_th = getattr(m, "v_th", None)
        if not isinstance(v_th, torch.Tensor):
            continue                                                # a neuron without a threshold
        values[name] = float(v_th.detach().float().mean())
        if not isinstance(v_th, nn.Parameter):
            fixed.append(name)
    return values, fixed


class FiringRateMonitor:
    """Mean output of every spiking layer over all the forward passes made while it is entered.

    For binary spikes that is the firing rate: spikes per neuron per time step. Use as a context
    manager; the hooks are removed on exit, so the model is left as it was.
    """

    def __init__(self, model: nn.Module):
        self.layers = neuron_layers(model)
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.handles: list = []

    def __enter__(self) -> "FiringRateMonitor":
        for name, m in self.layers:
            self.handles.append(m.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs, out_seq: torch.Tensor) -> None:
            s = out_seq.detach().sum(dtype=torch.float64)           # stays on the device: no sync per batch
            self.sums[name] = self.sums[name] + s if name in self.sums else s
            self.counts[name] = self.counts.get(name, 0) + out_seq.numel()
        return hook

    def rates(self) -> dict[str, float]:
        """Layer name -> mean output; layers that never ran are left out."""
        return {name: float(self.sums[name]) / self.counts[name] for name, _ in self.layers if name in self.sums}
