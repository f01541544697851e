"""Export to and import from NIR, the Neuromorphic Intermediate Representation (docs/nir.md).

NIR describes a network as a graph of per-time-step primitives: ``Conv2d``, ``Affine``, ``AvgPool2d``,
``SumPool2d``, ``Flatten`` and continuous-time neurons (``LIF``, ``IF``) that each simulator discretises at
its own step ``dt``. :func:`to_nir` writes a chain-shaped classification model (a VGG: conv → BN → LIF →
pooling → ... → flatten → linear) with each BN folded into the conv or linear layer before it and each LIF's
learned threshold as its ``v_threshold``; :func:`from_nir` reads a chain-shaped graph back into an ltsnn
module that runs ``[T, B, ...]`` like our models.

Our LIF step (:mod:`ltsnn.functional.neuron`) is ``u_t = k·v_{t−1} + s·I_t`` (leak k = ``decay``, input scale
s), fire ``u_t ≥ V_th``, hard reset ``v_t = (1 − S_t)·u_t``. NIR's LIF, ``τ dv/dt = (v_leak − v) + R·I``,
fire ``v > v_threshold``, reset to ``v_reset``, discretised by forward Euler at step ``dt`` (what snnTorch and
Norse do) is ``v_t = (1 − dt/τ)·v_{t−1} + (R·dt/τ)·I_t``, so the exact mapping is::

    τ = dt / (1 − k),   R = s·τ/dt,   v_leak = 0,   v_reset = 0,   v_threshold = V_th

and back ``k = 1 − dt/τ``, ``s = R·dt/τ``. k = 1 (no leak) is NIR's ``IF`` with ``R = s/dt``. Our ``≥``
differs from NIR's ``>`` only when the membrane equals the threshold exactly; the exporter records ours in
the node's metadata (``ltsnn_fire_on_equal``) so that :func:`from_nir` restores it.

``nir`` is an optional dependency (``pip install 'ltsnn[nir]'``), imported inside the functions.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from ltsnn.layers import SeqToBatch, TimeInput
from ltsnn.neurons import LIFNeuron, SpikingNeuron

# snnTorch's NIR import and export fix dt = 1e-4 s; Norse's from_nir takes dt as an argument.
DEFAULT_DT = 1e-4
FIRE_ON_EQUAL = "ltsnn_fire_on_equal"            # node metadata: our ≥ threshold test (NIR's own is >)

# Why a neuron has no NIR primitive (LT-SNN's LIF has one; SGP and the threshold gradients are training-only
# and leave no trace in the forward graph).
_NO_NIR_NEURON = {
    "LMHTNeuron": "LM-HT's T-GIM mixes all T steps of a layer's input, and its spikes are multi-level; "
                  "NIR's neurons are causal and binary (reparameterise it with `ltsnn convert --to binary` "
                  "into binary IF neurons over L·T steps, which still start from v(0) = θ/2)",
    "LMHTBinaryNeuron": "the binary LM-HT neuron starts from v(0) = θ/2 and emits spike·θ; NIR's neurons start "
                        "from rest and emit unit spikes",
    "MHTNeuron": "M-HT emits multi-level spikes (0..L)·θ; NIR's neurons emit binary spikes",
    "IFConvertNeuron": "the converted IF neuron starts from v(0) = θ/2, resets by subtraction and emits "
                       "spike·θ; NIR's IF starts from rest, resets to v_reset and emits unit spikes",
    "ILIFNeuron": "I-LIF emits integer spikes round(clip(u, 0, D)); NIR's neurons emit binary spikes",
    "ILIFGen1Neuron": "I-LIF emits integer spikes round(clip(u, 0, D)); NIR's neurons emit binary spikes",
    "DSRIFNeuron": "DSR's neuron reads out a spike rate through its own differentiable mapping; use 'lif'",
    "DSRLIFNeuron": "DSR's neuron reads out a spike rate through its own differentiable mapping; use 'lif'",
    "QCFS": "QCFS is an ANN activation; convert the ANN to spiking neurons first (ltsnn convert)",
}
_SKIPPED = (nn.Dropout, nn.Identity)             # identities at inference


def _import_nir():
    try:
        import nir
    except ImportError:
        raise ModuleNotFoundError("NIR export and import need the nir package: pip install 'ltsnn[nir]'",
                                  name="nir") from None
    return nir


def _leaves_in_call_order(model: nn.Module, x_seq: torch.Tensor) -> tuple[list[tuple[str, nn.Module, tuple[int, ...]]],
                                                                      tuple[int, ...]]:
    """``(name, layer, per-sample input shape)`` of every leaf layer in the order ``model`` calls them on
    ``x_seq`` (one step, one sample), and the per-sample output shape.

    Raises:
        ValueError: the model is not a chain: a container below the root that is not an ``nn.Sequential``
            (a residual block), or a layer called twice.
    """
    # A layer with a parametrised weight (SAWB) is one layer: its weight property gives the quantised values.
    modules = [(name, m) for name, m in model.named_modules() if ".parametrizations." not in f".{name}."]
    is_leaf = lambda m: next(m.children(), None) is None or parametrize.is_parametrized(m)  # noqa: E731
    for name, m in modules:
        if m is not model and not is_leaf(m) and not isinstance(m, nn.Sequential):
            raise ValueError(f"NIR export follows chains of layers; {name!r} ({type(m).__name__}) is not one "
                             f"(expected nn.Sequential containers, as in the VGGs)")
    calls: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    names = {m: name for name, m in modules}

    def record(layer: nn.Module, args: tuple) -> None:
        per_step = isinstance(layer, (SpikingNeuron, TimeInput))       # sees [T, B, ...], not [T*B, ...]
        calls.append((names[layer], layer, tuple(args[0].shape[2 if per_step else 1:])))

    leaves = [m for _, m in modules if is_leaf(m) and m is not model]
    handles = [m.register_forward_pre_hook(record) for m in leaves]
    # The trace needs shapes only: the reference backend spares a JIT compile of the fused kernels (seconds).
    backends = {m: m.backend for m in leaves if isinstance(m, SpikingNeuron) and hasattr(m, "backend")}
    membranes = {m: m.v for m in leaves if isinstance(m, SpikingNeuron)}      # a stream continues untouched
    try:
        for m in backends:
            m.backend = "torch"
        with torch.no_grad():
            y_seq = model(x_seq)                                       # [T, B, K]
    finally:
        for h in handles:
            h.remove()
        for m, backend in backends.items():
            m.backend = backend
        for m, v in membranes.items():
            m.v = v
    seen = [layer for _, layer, _ in calls]
    if len(set(map(id, seen))) != len(seen):
        raise ValueError("NIR export follows chains of layers; the model calls one layer twice")
    return calls, tuple(y_seq.shape[2:])


def _fold_bn(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.modules.batchnorm._BatchNorm):
    """Weight and bias of the layer followed by ``bn`` in eval mode (running statistics), as one layer."""
    if bn.running_mean is None:
        raise ValueError("NIR export folds BatchNorm with its running statistics; expected track_running_stats=True")
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1 / torch.sqrt(bn.running_var + bn.eps)
    shift = (bn.bias if bn.affine else 0) - bn.running_mean * scale
    b = bias if bias is not None else torch.zeros_like(bn.running_mean)
    return weight * scale.view(-1, *([1] * (weight.dim() - 1))), b * scale + shift


def _lif_node(nir, neuron: LIFNeuron, shape: tuple[int, ...], dt: float):
    """The NIR neuron of one of our LIF layers on per-sample inputs of ``shape`` (module docstring)."""
    if neuron.reset_mode != "hard":
        raise ValueError("NIR's LIF resets to v_reset; a soft (subtractive) reset has no NIR primitive "
                         "(expected reset='hard')")
    v_th = neuron.v_th.detach().double().cpu()
    if neuron.threshold_shape == "channel":
        v_th = v_th.view(-1, *([1] * (len(shape) - 1)))                 # [C] -> [C, 1, 1]
    full = lambda value: np.broadcast_to(np.asarray(value, dtype=np.float64), shape).copy()  # noqa: E731
    meta = {FIRE_ON_EQUAL: bool(neuron.fire_on_equal)}
    if neuron.decay == 1.0:
        return nir.IF(r=full(neuron.input_scale / dt), v_threshold=full(v_th.numpy()), v_reset=full(0.0),
                      metadata=meta)
    tau = dt / (1.0 - neuron.decay)
    return nir.LIF(tau=full(tau), r=full(neuron.input_scale * tau / dt), v_leak=full(0.0),
                   v_threshold=full(v_th.numpy()), v_reset=full(0.0), metadata=meta)


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def to_nir(model: nn.Module, input_shape: Sequence[int] | None = None, *, dt: float = DEFAULT_DT):
    """The NIR graph of a chain-shaped classification model, evaluated as in inference (BN folded).

    Args:
        model: a model running ``[T, B, *input_shape]`` -> ``[T, B, K]`` (e.g. ``vgg_tiny``) whose layers
            form a chain: conv, linear, BatchNorm after a conv or linear, average pooling, flatten, dropout
            and :class:`~ltsnn.neurons.LIFNeuron` with a hard reset.
        input_shape: one frame, ``(C, H, W)``; by default the model's ``in_channels`` and ``input_size``.
        dt: the simulation step NIR's continuous-time neurons are written for (module docstring); the
            simulator that loads the graph must use the same (snnTorch fixes 1e-4).

    Returns:
        ``nir.NIRGraph``: ``input`` → one node per layer, named after the module (dots as ``_``) → ``output``.
        Parameters are float64 arrays.

    Raises:
        ValueError: a layer or neuron NIR cannot express (one line naming it and why), or a non-chain model.

    Example:
        >>> from ltsnn.models import create_model
        >>> graph = to_nir(create_model("vgg_tiny"))
        >>> [type(n).__name__ for n in graph.nodes.values()][:4]
        ['Input', 'Conv2d', 'LIF', 'AvgPool2d']
    """
    nir = _import_nir()
    if not dt > 0:
        raise ValueError(f"to_nir: dt={dt!r}; expected a time step > 0")
    if input_shape is None:
        if not hasattr(model, "in_channels") or not hasattr(model, "input_size"):
            raise ValueError("to_nir: expected input_shape (C, H, W) for a model without in_channels and input_size")
        input_shape = (model.in_channels, *model.input_size)
    input_shape = tuple(int(n) for n in input_shape)
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), torch.zeros(()))
        one_frame = torch.zeros(1, 1, *input_shape, dtype=param.dtype, device=param.device)     # [T=1, B=1, ...]
        calls, output_shape = _leaves_in_call_order(model, one_frame)
        nodes = _nodes(nir, calls, dt)
    finally:
        model.train(was_training)
    graph_nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(input_shape))}
    graph_nodes.update(nodes)
    graph_nodes["output"] = nir.Output(output_type=np.array(output_shape))
    names = list(graph_nodes)
    return nir.NIRGraph(nodes=graph_nodes, edges=list(zip(names[:-1], names[1:])),
                        metadata={"source": "ltsnn", "dt": dt})


def _nodes(nir, calls: list[tuple[str, nn.Module, tuple[int, ...]]], dt: float) -> dict[str, Any]:
    """One NIR node per layer of ``calls``; BatchNorm merges into the conv or linear layer before it."""
    nodes: dict[str, Any] = {}
    i = 0
    while i < len(calls):
        name, layer, shape = calls[i]
        key = name.replace(".", "_")
        bn = calls[i + 1][1] if i + 1 < len(calls) and isinstance(calls[i + 1][1], nn.modules.batchnorm._BatchNorm) \
            else None
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            weight, bias = layer.weight.detach(), None if layer.bias is None else layer.bias.detach()
            if bn is not None:
                weight, bias = _fold_bn(weight, bias, bn)
                i += 1
            if isinstance(layer, nn.Conv2d):
                if layer.padding_mode != "zeros":
                    raise ValueError(f"NIR's Conv2d pads with zeros; {name!r} has padding_mode={layer.padding_mode!r}")
                bias = bias if bias is not None else torch.zeros(weight.shape[0])
                nodes[key] = nir.Conv2d(input_shape=shape[1:], weight=_array(weight), stride=layer.stride,
                                        padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
                                        bias=_array(bias))
                # nir 1.0 infers a conv's input channels as weight.shape[1], which is C_in / groups
                nodes[key].input_type = {"input": np.array(shape)}
            elif bias is None:
                nodes[key] = nir.Linear(weight=_array(weight))
            else:
                nodes[key] = nir.Affine(weight=_array(weight), bias=_array(bias))
        elif isinstance(layer, nn.AvgPool2d):
            if layer.ceil_mode or (layer.padding and not layer.count_include_pad) or layer.divisor_override:
                raise ValueError(f"NIR's AvgPool2d divides by the kernel size; {name!r} has ceil_mode, "
                                 f"count_include_pad=False or divisor_override set")
            nodes[key] = nir.AvgPool2d(kernel_size=np.array(_pair(layer.kernel_size)),
                                       stride=np.array(_pair(layer.stride)), padding=np.array(_pair(layer.padding)))
        elif isinstance(layer, nn.Flatten):
            if layer.start_dim != 1 or layer.end_dim != -1:
                raise ValueError(f"NIR export flattens a whole frame; {name!r} is Flatten({layer.start_dim}, "
                                 f"{layer.end_dim}), expected Flatten(1, -1)")
            nodes[key] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
        elif isinstance(layer, LIFNeuron):
            nodes[key] = _lif_node(nir, layer, shape, dt)
        elif isinstance(layer, SpikingNeuron) or type(layer).__name__ in _NO_NIR_NEURON:
            why = _NO_NIR_NEURON.get(type(layer).__name__, "only the LIF neuron has a NIR primitive")
            raise ValueError(f"NIR export: {name!r} ({type(layer).__name__}): {why}")
        elif isinstance(layer, TimeInput):
            if layer.mode != "frames":
                raise ValueError(f"NIR runs one frame per step; {name!r} averages the frames (expected "
                                 f"time_input='frames')")
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            raise ValueError(f"NIR export folds BatchNorm into the conv or linear layer before it; {name!r} "
                             f"follows none")
        elif not isinstance(layer, _SKIPPED):
            raise ValueError(f"NIR export: {name!r} ({type(layer).__name__}) has no NIR primitive here "
                             f"(expected Conv2d, Linear, BatchNorm, AvgPool2d, Flatten, Dropout or LIFNeuron)")
        i += 1
    return nodes


def _uniform(values: np.ndarray, what: str, node: str) -> float:
    values = np.asarray(values, dtype=np.float64)
    if values.size and not np.all(values == values.flat[0]):
        raise ValueError(f"from_nir: node {node!r} has different {what} per neuron; ltsnn's LIF takes one")
    return float(values.flat[0])


def _neuron(node, name: str, dt: float) -> LIFNeuron:
    """Our LIF for a NIR ``LIF`` or ``IF`` node (module docstring), with a fixed threshold."""
    if np.any(np.asarray(node.v_reset) != 0):
        raise ValueError(f"from_nir: node {name!r} resets to v_reset != 0; ltsnn's LIF resets to 0")
    if hasattr(node, "tau"):
        if np.any(np.asarray(node.v_leak) != 0):
            raise ValueError(f"from_nir: node {name!r} has v_leak != 0; ltsnn's LIF leaks towards 0")
        tau = _uniform(node.tau, "tau", name)
        if not tau >= dt:
            raise ValueError(f"from_nir: node {name!r} has tau={tau} < dt={dt}; expected tau >= dt (leak in [0, 1))")
        decay, input_scale = 1.0 - dt / tau, _uniform(node.r, "r", name) * dt / tau
    else:                                                                # IF: dv/dt = R·I
        decay, input_scale = 1.0, _uniform(node.r, "r", name) * dt
    v_th = np.asarray(node.v_threshold, dtype=np.float64)
    fire_on_equal = bool(node.metadata.get(FIRE_ON_EQUAL, False))
    options = dict(learn_threshold=False, decay=decay, input_scale=input_scale, fire_on_equal=fire_on_equal)
    if np.all(v_th == v_th.flat[0]):
        return LIFNeuron(v_th=float(v_th.flat[0]), **options)
    per_channel = v_th.reshape(v_th.shape[0], -1)                        # [C, H*W], or [N, 1] for [N]
    if not np.all(per_channel == per_channel[:, :1]):
        raise ValueError(f"from_nir: node {name!r} has thresholds that vary within a channel; ltsnn's LIF "
                         f"takes one per layer or one per channel")
    neuron = LIFNeuron(threshold_shape="channel", channels=v_th.shape[0], **options)
    neuron.v_th.copy_(torch.from_numpy(per_channel[:, 0]).float())
    return neuron


def _pair(value) -> tuple[int, int]:
    """A NIR size (an int, a pair, or an array of either, as writers differ) as ``(height, width)``."""
    return tuple(int(n) for n in np.broadcast_to(np.asarray(value), (2,)))


def _chain(graph) -> list[str]:
    """The node names of a chain-shaped graph from its input to its output."""
    nir = _import_nir()
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    successors: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        successors.setdefault(src, []).append(dst)
    if len(inputs) != 1 or any(len(d) != 1 for d in successors.values()):
        raise ValueError("from_nir reads chains of layers; expected one input and one successor per node")
    order = [inputs[0]]
    while order[-1] in successors:
        if len(order) > len(graph.nodes):
            raise ValueError("from_nir reads chains of layers; the graph has a cycle")
        order.append(successors[order[-1]][0])
    if len(order) != len(graph.nodes):
        raise ValueError(f"from_nir reads chains of layers; {len(graph.nodes) - len(order)} nodes are not on the "
                         f"path from the input")
    return order


def from_nir(graph, *, dt: float = DEFAULT_DT) -> nn.Sequential:
    """An ltsnn module that runs a chain-shaped NIR graph on ``[T, B, ...]`` inputs.

    Args:
        graph: a ``nir.NIRGraph`` (e.g. from :func:`to_nir`, ``nir.read`` or snnTorch's ``export_to_nir``)
            of ``Conv2d``, ``Affine``, ``Linear``, ``AvgPool2d``, ``SumPool2d``, ``Flatten``, ``LIF`` and
            ``IF`` nodes between one ``Input`` and one ``Output``.
        dt: the step to discretise the neurons at; the exporter's (snnTorch: 1e-4).

    Returns:
        ``nn.Sequential`` of :class:`~ltsnn.layers.SeqToBatch` layers and fixed-threshold
        :class:`~ltsnn.neurons.LIFNeuron` s, named after the nodes (dots as ``_``); each forward starts from rest.

    Raises:
        ValueError: a node that has no ltsnn layer, or LIF parameters ours cannot express (one line).

    Example:
        >>> from ltsnn.models import create_model
        >>> net = from_nir(to_nir(create_model("vgg_tiny")))
        >>> net(torch.rand(8, 2, 2, 34, 34)).shape
        torch.Size([8, 2, 10])
    """
    nir = _import_nir()
    if not dt > 0:
        raise ValueError(f"from_nir: dt={dt!r}; expected a time step > 0")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for name in _chain(graph):
        node = graph.nodes[name]
        if isinstance(node, (nir.Input, nir.Output)):
            continue
        key = name.replace(".", "_")
        if isinstance(node, nir.Conv2d):
            padding = node.padding if isinstance(node.padding, str) else _pair(node.padding)
            groups = int(node.groups)
            conv = nn.Conv2d(node.weight.shape[1] * groups, node.weight.shape[0], node.weight.shape[2:],
                             stride=_pair(node.stride), padding=padding, dilation=_pair(node.dilation), groups=groups)
            conv.weight.data.copy_(torch.from_numpy(np.asarray(node.weight)))
            conv.bias.data.copy_(torch.from_numpy(np.asarray(node.bias)))
            layers[key] = SeqToBatch(conv)
        elif isinstance(node, (nir.Affine, nir.Linear)):
            bias = getattr(node, "bias", None)
            linear = nn.Linear(node.weight.shape[1], node.weight.shape[0], bias=bias is not None)
            linear.weight.data.copy_(torch.from_numpy(np.asarray(node.weight)))
            if bias is not None:
                linear.bias.data.copy_(torch.from_numpy(np.asarray(bias)))
            layers[key] = SeqToBatch(linear)
        elif isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            size = dict(kernel_size=_pair(node.kernel_size), stride=_pair(node.stride), padding=_pair(node.padding))
            # SumPool2d = AvgPool2d without the division
            pool = nn.AvgPool2d(**size) if isinstance(node, nir.AvgPool2d) else nn.AvgPool2d(**size, divisor_override=1)
            layers[key] = SeqToBatch(pool)
        elif isinstance(node, nir.Flatten):
            # NIR's dims count from the first dim of one sample; ours run on [T*B, ...] batches
            end = node.end_dim + 1 if node.end_dim >= 0 else node.end_dim
            layers[key] = SeqToBatch(nn.Flatten(node.start_dim + 1, end))
        elif isinstance(node, (nir.LIF, nir.IF)):
            layers[key] = _neuron(node, name, dt)
        else:
            raise ValueError(f"from_nir: node {name!r} is a {type(node).__name__}; expected Conv2d, Affine, Linear, "
                             f"AvgPool2d, SumPool2d, Flatten, LIF or IF")
    return nn.Sequential(layers)
