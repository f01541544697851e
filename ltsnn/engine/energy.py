"""Efficiency of a spiking model: synaptic operations and energy (BICLab convention), and model size.

Energy per sample, in pJ, for a run of T time steps (methods §5.3):

    FLOPs_l = C_in · C_out · k_h · k_w · H_out · W_out / groups   (conv)     in · out   (linear)
              — the multiply-accumulates of layer l on one frame, i.e. one time step; a pruned (masked)
              or quantised weight counts only where it is nonzero (:func:`layer_synapses`)
    real-valued input:  ops_l = T · FLOPs_l         MACs,  E_l = E_MAC · ops_l
    spike input:        ops_l = fr_l · T · FLOPs_l  SOPs,  E_l = E_AC  · ops_l
    E_SNN = Σ_l E_l                  the same network as an ANN (one pass, no time steps):
    E_ANN = E_MAC · Σ_l FLOPs_l

Blocks that state their own operations (``synaptic_ops``: SDSA's mask-and-add as ACs, the real-valued attention
of TA / MA / ASA as MACs) add theirs (:class:`SynapticOpsMonitor`).

E_MAC = 4.6 pJ and E_AC = 0.9 pJ (32-bit float at 45 nm, Horowitz 2014). ``fr_l`` is the mean of layer
l's *input* over neurons, time steps and samples: the firing rate for binary spikes, the mean count for
integer spikes (I-LIF). After average pooling the input is not binary (multiples of 1/4 for a 2×2 window);
its mean is still the spike rate of the layer before the pool, and the convention counts that mean as the
rate. (A purely spike-driven layer would fold the 1/4 into the weights and accumulate every spike of the
window, up to 4× more ACs; the convention does not count that.)

Which inputs are real-valued: the first conv/linear layer run in a forward (the encoding layer, which
sees the frames; counted as MACs by the convention even when the frames are binary) and any layer whose
input takes a negative value, i.e. is not spikes: e.g. VGG-9's FC10, fed by FC512 with no neuron between.
How the first layer is counted (``first_layer``):

    "mac"       T · FLOPs_1 MACs (default): event frames differ at every step, so the layer runs T times
    "mac_once"  FLOPs_1 MACs: BICLab's formula as written, right for a static image repeated over T steps
                (the layer's output is the same at every step, computed once)
    "sop"       fr_1 · T · FLOPs_1 ACs: binary event frames are spikes, so the layer is spike-driven too
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from torch.nn.utils import parametrize

from ltsnn.engine.monitor import HookMonitor
from ltsnn.layers import SeqToBatch
from ltsnn.layers.quant import quantized_layers

E_MAC_PJ = 4.6          # energy of one 32-bit float multiply-accumulate, pJ
E_AC_PJ = 0.9           # energy of one 32-bit float accumulate, pJ
FIRST_LAYER_MODES = ("mac", "mac_once", "sop")


def check_first_layer(mode: str) -> None:
    """Raise ValueError unless ``mode`` is one of :data:`FIRST_LAYER_MODES`."""
    if mode not in FIRST_LAYER_MODES:
        raise ValueError(f"unknown first_layer {mode!r}; expected one of {list(FIRST_LAYER_MODES)}")
FLOAT_BITS = 32


def layer_synapses(layer: nn.Conv2d | nn.Linear) -> int:
    """The synapses of ``layer`` (weights per output position): all of them, or, for a weight computed by a
    parametrization (a pruning mask, SAWB quantisation), its nonzero entries. A weight stored as exactly 0
    (pruned, or quantised to the zero level) is no synapse and costs nothing; an ordinary float weight counts
    whatever its value, since training moves it. Dense: C_in · C_out · k_h · k_w / groups, or in · out.

    Example:
        >>> layer_synapses(nn.Conv2d(2, 3, 3)), layer_synapses(nn.Conv2d(4, 4, 3, groups=4))
        (54, 36)
    """
    if parametrize.is_parametrized(layer, "weight"):
        return int(torch.count_nonzero(layer.weight.detach()))
    return layer.weight.numel()


def layer_flops(layer: nn.Module, out: torch.Tensor) -> int:
    """FLOPs (multiply-accumulates) of ``layer`` on one frame, given its output ``out`` (``[N, C, H, W]``
    for a conv, ``[..., out_features]`` for a linear layer): its synapses (:func:`layer_synapses`) times
    its output positions (H_out · W_out for a conv, 1 for a linear layer)."""
    if isinstance(layer, nn.Conv2d):
        h_out, w_out = out.shape[-2:]
        return layer_synapses(layer) * h_out * w_out
    if isinstance(layer, nn.Linear):
        return layer_synapses(layer)
    raise TypeError(f"layer_flops: expected nn.Conv2d or nn.Linear, got {type(layer).__name__}")


def counts_own_ops(module: nn.Module) -> bool:
    """Whether ``module`` states its own operations: a method ``synaptic_ops(inputs, output) -> {"mac", "ac"}``
    giving the operations of one call over its whole batch (e.g. SDSA's mask-and-add, the attention blocks)."""
    return callable(getattr(module, "synaptic_ops", None))


class SynapticOpsMonitor(HookMonitor):
    """Per-layer input rate, operations and energy of every Conv2d and Linear layer of ``model``.

    Hooks the layers themselves (inside :class:`~ltsnn.layers.SeqToBatch` they see ``[T*B, ...]``), and
    the model's forward to know which layer runs first. T, the time steps a layer runs over, is read from
    the ``[T, B, ...]`` sequence its :class:`~ltsnn.layers.SeqToBatch` receives (so a network that averages
    its frames into one step is counted right), or, for a layer outside any (a network that loops over the
    steps itself, e.g. T-RevSNN's columns), as the frames it saw per sample of the model's input ``[T, B, ...]``
    (T−1 for T-RevSNN's up paths, which the first column lacks); ``time_steps`` overrides it for every layer.

    A module that states its own operations (:func:`counts_own_ops`: the attention blocks, SDSA's mask-and-add)
    is hooked as one block: its ``synaptic_ops`` is called after each forward, with its ``[T, B, ...]`` inputs,
    and the Conv2d / Linear layers inside it are left to it.
    """

    def __init__(self, model: nn.Module, *, time_steps: int | None = None):
        blocks = [(n, m) for n, m in model.named_modules() if n and counts_own_ops(m)]
        inside = tuple(f"{n}." for n, _ in blocks)
        super().__init__(model, [(n, m) for n, m in model.named_modules()
                                 if isinstance(m, (nn.Conv2d, nn.Linear)) and not n.startswith(inside)])
        self.blocks = blocks
        self.block_ops: dict[str, dict[str, float]] = {}            # summed over calls, whole batches
        self.block_samples: dict[str, int] = {}
        if time_steps is not None and time_steps < 1:
            raise ValueError(f"SynapticOpsMonitor: time_steps must be >= 1, got {time_steps}")
        self.time_steps = time_steps
        self.steps: dict[str, int] = {}                             # T each layer ran over
        self._seq_steps: list[int] = []                             # T of the sequences being folded now
        self._input_samples = 0                                     # samples (B) of the model's inputs
        self.order: list[str] = []                                  # layer names in the order they first ran
        self.first: str | None = None                               # the layer that sees the input frames
        self.flops: dict[str, int] = {}
        self.frames: dict[str, int] = {}                            # frames (samples × steps) seen
        self.counts: dict[str, int] = {}                            # input elements seen
        self.sums: dict[str, torch.Tensor] = {}                     # their sum (float64, on the device)
        self.mins: dict[str, torch.Tensor] = {}                     # their minimum
        self._forward_started = False

    def attach(self) -> None:
        self.handles.append(self.model.register_forward_pre_hook(self._start))
        for m in self.model.modules():
            if isinstance(m, SeqToBatch):
                self.handles.append(m.register_forward_pre_hook(self._enter_sequence))
                self.handles.append(m.register_forward_hook(self._leave_sequence))
        for name, m in self.blocks:
            self.handles.append(m.register_forward_hook(self._block_hook(name)))
        super().attach()

    def _block_hook(self, name: str):
        def hook(module: nn.Module, inputs, out: torch.Tensor) -> None:
            ops = module.synaptic_ops(tuple(x.detach() for x in inputs), out.detach())
            total = self.block_ops.setdefault(name, {"mac": 0.0, "ac": 0.0})
            for kind in total:
                total[kind] += float(ops[kind])
            self.block_samples[name] = self.block_samples.get(name, 0) + inputs[0].shape[1]   # [T, B, ...]
        return hook

    def _enter_sequence(self, module: nn.Module, inputs) -> None:
        self._seq_steps.append(inputs[0].shape[0])                  # [T, B, ...]

    def _leave_sequence(self, module: nn.Module, inputs, out) -> None:
        self._seq_steps.pop()

    def _start(self, module: nn.Module, inputs) -> None:
        self._forward_started = True
        if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].dim() >= 3:
            self._input_samples += inputs[0].shape[1]              # [T, B, ...]

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs, out: torch.Tensor) -> None:
            x = inputs[0].detach()
            if self._forward_started:                               # the first weight layer of this forward
                self._forward_started = False
                if self.first is None:
                    self.first = name
            per_frame = module.in_features if isinstance(module, nn.Linear) else x[0].numel()
            if name not in self.flops:
                steps = self.time_steps or (self._seq_steps[-1] if self._seq_steps else 0)   # 0: per sample
                if not steps and not self._input_samples:
                    raise ValueError(f"SynapticOpsMonitor: layer {name!r} runs outside a SeqToBatch, so its time "
                                     f"steps are unknown; expected time_steps=T")
                self.steps[name] = steps
                self.order.append(name)
                self.flops[name] = layer_flops(module, out)
                self.sums[name], self.mins[name] = x.sum(dtype=torch.float64), x.min()
            else:
                self.sums[name] = self.sums[name] + x.sum(dtype=torch.float64)
                self.mins[name] = torch.minimum(self.mins[name], x.min())
            self.frames[name] = self.frames.get(name, 0) + x.numel() // per_frame
            self.counts[name] = self.counts.get(name, 0) + x.numel()
        return hook

    def summary(self, *, e_mac: float = E_MAC_PJ, e_ac: float = E_AC_PJ, first_layer: str = "mac") -> dict[str, Any]:
        """Operations and energy per sample (see the module docstring), for the layers that ran.

        Args:
            e_mac, e_ac: energy of one multiply-accumulate / one accumulate, pJ.
            first_layer: how the first layer is counted, one of :data:`FIRST_LAYER_MODES`.
        Returns:
            ``{"time_steps", "e_mac_pj", "e_ac_pj", "first_layer", "samples", "layers": {name: {...}},
            "total": {...}}``.
            Each layer: ``label`` (conv1, conv2, ..., fc1, ... in the order they run), ``flops`` (one frame),
            ``input_rate`` (mean input), ``input`` ("real" or "spikes"), ``ops`` (MACs or SOPs per sample),
            ``snn_energy_pj``, ``ann_energy_pj`` (per sample). ``blocks``: for each block that counts its own
            operations, per sample, ``label`` (its class), ``mac``, ``ac``, ``snn_energy_pj`` (E_MAC·mac + E_AC·ac),
            ``ann_energy_pj`` (E_MAC·(mac + ac): an ANN multiplies where the SNN adds). ``total``:
            ``snn_energy_pj``, ``ann_energy_pj``, ``ann_over_snn`` (their ratio), ``macs``, ``sops`` (layers and
            blocks), ``flops`` (the Conv2d / Linear layers only).
        Raises:
            ValueError: unknown ``first_layer``; a layer saw a number of frames that is not a multiple of
                ``time_steps``.
        """
        check_first_layer(first_layer)
        layers, n_conv, n_fc, steps_of = {}, 0, 0, {}
        for name in self.order:
            frames, T = self.frames[name], self.steps[name] or max(self.frames[name] // self._input_samples, 1)
            steps_of[name] = T
            if frames % T:
                raise ValueError(f"layer {name!r} saw {frames} frames, not a multiple of time_steps={T}; "
                                 f"expected inputs with T={T}")
            rate = float(self.sums[name]) / self.counts[name]
            first = name == self.first
            real = float(self.mins[name]) < 0 or (first and first_layer != "sop")
            flops = self.flops[name]
            ops = (flops if first and first_layer == "mac_once" else T * flops) if real else rate * T * flops
            if isinstance(self.model.get_submodule(name), nn.Conv2d):
                n_conv += 1
                label = f"conv{n_conv}"
            else:
                n_fc += 1
                label = f"fc{n_fc}"
            layers[name] = {"label": label, "flops": flops, "input_rate": rate, "input": "real" if real else "spikes",
                            "ops": ops, "snn_energy_pj": (e_mac if real else e_ac) * ops,
                            "ann_energy_pj": e_mac * flops, "samples": frames // T}
        blocks = {}
        for name, ops in self.block_ops.items():
            n = self.block_samples[name]
            mac, ac = ops["mac"] / n, ops["ac"] / n
            blocks[name] = {"label": type(self.model.get_submodule(name)).__name__, "mac": mac, "ac": ac,
                            "snn_energy_pj": e_mac * mac + e_ac * ac, "ann_energy_pj": e_mac * (mac + ac)}
        snn = sum(v["snn_energy_pj"] for v in (*layers.values(), *blocks.values()))
        ann = sum(v["ann_energy_pj"] for v in (*layers.values(), *blocks.values()))
        total = {"snn_energy_pj": snn, "ann_energy_pj": ann, "ann_over_snn": ann / snn if snn else float("inf"),
                 "macs": sum(v["ops"] for v in layers.values() if v["input"] == "real")
                 + sum(v["mac"] for v in blocks.values()),
                 "sops": sum(v["ops"] for v in layers.values() if v["input"] == "spikes")
                 + sum(v["ac"] for v in blocks.values()),
                 "flops": sum(v["flops"] for v in layers.values())}
        samples = min((v["samples"] for v in layers.values()), default=0)
        T = steps_of[self.order[0]] if self.order else self.time_steps
        return {"time_steps": T, "e_mac_pj": e_mac, "e_ac_pj": e_ac, "first_layer": first_layer, "samples": samples,
                "layers": layers, "blocks": blocks, "total": total}


def saved_tensor_bytes(fn: Callable[[], Any]) -> int:
    """Bytes of the distinct storages autograd keeps for the backward while ``fn()`` runs (its training
    memory apart from parameters and gradients): every tensor saved for backward, by any op or custom
    ``autograd.Function``, counted once per storage. Deterministic, unlike the process's resident memory.

    Example:
        >>> w = torch.ones(3, requires_grad=True)
        >>> saved_tensor_bytes(lambda: (w * torch.ones(1000, 3)).sum())     # w's gradient needs the other factor
        12000
    """
    storages: dict[tuple[str, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[(str(t.device), storage.data_ptr())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def model_size(model: nn.Module) -> dict[str, float]:
    """Size of ``model``'s parameters, each quantised weight at its bit width and every other parameter at
    32 bits (biases, BatchNorm affine, learnable thresholds). Buffers (BatchNorm running statistics, fixed
    thresholds) are not counted: like the parameter counts of the papers, which they fold into at inference.

    Returns:
        ``{"parameters", "quantized_parameters", "bits", "mb", "float_mb", "compression"}``: counts, total
        bits, MB (10^6 bytes) as quantised and all at 32 bits, and float_mb / mb.
    """
    quant_bits = {f"{name}.parametrizations.weight.original": q.bits for name, q in quantized_layers(model).items()}
    n = n_quant = bits = 0
    for name, p in model.named_parameters():
        b = quant_bits.get(name, FLOAT_BITS)
        n += p.numel()
        n_quant += p.numel() if name in quant_bits else 0
        bits += b * p.numel()
    float_bits = FLOAT_BITS * n
    return {"parameters": n, "quantized_parameters": n_quant, "bits": bits, "mb": bits / 8e6,
            "float_mb": float_bits / 8e6, "compression": float_bits / bits if bits else float("nan")}


def neurobench_metrics(model: nn.Module, *, firing_rates: dict[str, float], neurons: dict[str, int],
                       size: dict[str, float]) -> dict[str, float]:
    """Our counts under NeuroBench's names and definitions (Yik et al. 2025; docs/neurobench.md compares them
    with NeuroBench's own on a trained model): ``parameter_count``; ``footprint_bytes`` (parameters at their
    stored width plus every buffer); ``connection_sparsity`` (the fraction of Conv2d / Linear weights that are
    exactly zero, pruned ones included); ``activation_sparsity`` (1 − spikes / neuron-steps over all spiking
    layers: 1 − Σ rate·n / Σ n with ``neurons`` = n, each layer's neurons per sample and step; NaN without
    spiking layers).

    Example:
        >>> from torch import nn
        >>> m = nn.Linear(2, 2, bias=False)
        >>> _ = nn.init.zeros_(m.weight)
        >>> size = {"parameters": 4, "bits": 128}
        >>> neurobench_metrics(m, firing_rates={"a": 0.1}, neurons={"a": 10}, size=size)["connection_sparsity"]
        1.0
    """
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    n_weights = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    n_neurons = sum(neurons.get(name, 0) for name in firing_rates)
    spikes = sum(rate * neurons.get(name, 0) for name, rate in firing_rates.items())
    return {"parameter_count": int(size["parameters"]), "footprint_bytes": size["bits"] / 8 + buffers,
            "connection_sparsity": zeros / n_weights if n_weights else float("nan"),
            "activation_sparsity": 1 - spikes / n_neurons if n_neurons else float("nan")}
