"""What the spiking layers do: thresholds and, through forward hooks, firing rates and membrane statistics."""

from __future__ import annotations

import torch
from torch import nn

from ltsnn.neurons import find_neurons


def layer_thresholds(model: nn.Module) -> tuple[dict[str, float], list[str]]:
    """Each spiking layer's firing threshold, fixed layers included.

    Returns:
        ``(values, fixed)``: layer name -> threshold (the mean, for per-channel thresholds), and the names
        of the layers whose threshold is a buffer rather than a learnable parameter.
    """
    values, fixed = {}, []
    for name, m in find_neurons(model):
        v_th = getattr(m, "v_th", None)
        if not isinstance(v_th, torch.Tensor):
            continue                                                # a neuron without a threshold
        values[name] = float(v_th.detach().float().mean())
        if not isinstance(v_th, nn.Parameter):
            fixed.append(name)
    return values, fixed


class HookMonitor:
    """Base of the monitors: a forward hook ``self._hook(name)`` on each of ``self.layers`` (qualified name,
    module), registered on entering and removed on exit, so the model is left as it was. Use as a context
    manager around the forward passes to watch."""

    def __init__(self, model: nn.Module, layers: list[tuple[str, nn.Module]]):
        self.model = model
        self.layers = layers
        self.handles: list = []

    def _hook(self, name: str):
        raise NotImplementedError

    def attach(self) -> None:
        """Register the hooks (appending their handles to ``self.handles``)."""
        for name, m in self.layers:
            self.handles.append(m.register_forward_hook(self._hook(name)))

    def __enter__(self):
        self.attach()
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


class FiringRateMonitor(HookMonitor):
    """Mean output of every spiking layer over all the forward passes made while it is entered.

    For binary spikes that is the firing rate: spikes per neuron per time step; for integer spikes
    (I-LIF) the mean spike count per neuron per step, which can exceed 1.
    """

    def __init__(self, model: nn.Module):
        super().__init__(model, find_neurons(model))
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs, out_seq: torch.Tensor) -> None:
            s = out_seq.detach().sum(dtype=torch.float64)           # stays on the device: no sync per batch
            self.sums[name] = self.sums[name] + s if name in self.sums else s
            self.counts[name] = self.counts.get(name, 0) + out_seq.numel()
        return hook

    def rates(self) -> dict[str, float]:
        """Layer name -> mean output; layers that never ran are left out."""
        return {name: float(self.sums[name]) / self.counts[name] for name, _ in self.layers if name in self.sums}

    def partial(self) -> dict[str, tuple[float, int]]:
        """Layer name -> (output sum, outputs counted): to combine the shards of a distributed pass."""
        return {name: (float(self.sums[name]), self.counts[name]) for name in self.sums}

    def add_partial(self, partial: dict[str, tuple[float, int]]) -> None:
        """Count another rank's :meth:`partial` too."""
        for name, (total, count) in partial.items():
            self.sums[name] = self.sums.get(name, 0.0) + total
            self.counts[name] = self.counts.get(name, 0) + count


class MembraneMonitor(HookMonitor):
    """Mean and standard deviation of every spiking layer's membrane potential ``v`` after each forward.

    The neurons keep only the membrane after the last time step (after any reset), so these are the
    statistics of ``v_T`` over neurons and samples, in the units of the layer's input current.
    """

    def __init__(self, model: nn.Module):
        super().__init__(model, find_neurons(model))
        self.moments: dict[str, torch.Tensor] = {}                  # [3]: count, sum, sum of squares

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs, out_seq: torch.Tensor) -> None:
            v = getattr(module, "v", None)
            if not isinstance(v, torch.Tensor):
                return                                              # a neuron that keeps no membrane
            v = v.detach().double()
            m = torch.stack([v.new_tensor(v.numel()), v.sum(), v.square().sum()])
            self.moments[name] = self.moments[name] + m if name in self.moments else m
        return hook

    def stats(self) -> dict[str, dict[str, float]]:
        """Layer name -> ``{"mean", "std"}`` (population std) of ``v_T``; layers without a membrane are left out."""
        out = {}
        for name, _ in self.layers:
            if name in self.moments:
                n, s, s2 = self.moments[name].tolist()
                mean = s / n
                out[name] = {"mean": mean, "std": max(s2 / n - mean * mean, 0.0) ** 0.5}
        return out


def neuron_labels(model: nn.Module) -> dict[str, str]:
    """Short legible names of the spiking layers, numbered in module order: ``LIF1``, ``LIF2``, ... (the
    neuron class name without ``Neuron``), keyed by qualified name."""
    return {name: f"{type(m).__name__.removesuffix('Neuron')}{i}"
            for i, (name, m) in enumerate(find_neurons(model), start=1)}
