"""NIR across simulators: our exported graph run in snnTorch and Norse, and snnTorch's graph run in ltsnn.

Run by hand in the peers environment (snnTorch, Norse, nir and nirtorch beside torch 2.13 CPU); figures go
to docs/nir.md::

    OMP_NUM_THREADS=1 bench/.venv-peers/bin/python bench/nir_crosscheck.py RUN_DIR [--samples 64]

1. RUN_DIR's trained model -> ``ltsnn.convert.to_nir`` -> a .nir file -> ``nir.read``.
2. The same test samples (data set of the run, test split) run in ltsnn (the checkpoint's own model),
   snnTorch (``snntorch.import_nir.import_from_nir``) and Norse (``norse.torch.from_nir`` at our dt); spikes
   are compared layer by layer (fraction of equal entries over T x B x neurons) and the logits per step.
3. Reverse: a small snnTorch network with random weights -> ``snntorch.export_nir.export_to_nir`` ->
   ``ltsnn.convert.from_nir`` -> the same input in both; spikes per layer and outputs compared.

Two conventions of the importers are bridged here, not in the graph's meaning (docs/nir.md says why):
both apply NIR's ``Flatten(start_dim)`` to batched tensors, so they get torch's ``start_dim=1``; and Norse
1.1 ignores the LIF's ``r`` and has no ``AvgPool2d``, so its copy of the graph is rewritten into an
equivalent NIR graph (``r`` folded into the weights before each LIF, each ``AvgPool2d(k)`` as
``SumPool2d(k)`` with the next layer's weights divided by k²).
"""

from __future__ import annotations

import argparse
import copy
import logging
import tempfile
from pathlib import Path

import nir
import numpy as np
import torch

from ltsnn.build import build_dataset, restore
from ltsnn.convert.nir import DEFAULT_DT, from_nir, to_nir
from ltsnn.engine import RunFolder
from ltsnn.neurons import find_neurons


def ltsnn_run(model: torch.nn.Module, x_seq: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Spikes of every neuron ``[T, B, ...]`` and the outputs ``[T, B, K]`` of an ltsnn module."""
    spikes: list[torch.Tensor] = []
    hooks = [n.register_forward_hook(lambda m, i, o: spikes.append(o.detach())) for _, n in find_neurons(model)]
    with torch.no_grad():
        y_seq = model(x_seq)
    for h in hooks:
        h.remove()
    return spikes, y_seq


def stepwise_run(net: torch.nn.Module, x_seq: torch.Tensor, neuron_type: type, *, stateful_call: bool
                 ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Run a nirtorch-built module one step at a time; spikes of its ``neuron_type`` modules, in graph order."""
    names = [name for name, m in net.named_modules() if isinstance(m, neuron_type)]
    per_step: dict[str, list[torch.Tensor]] = {name: [] for name in names}

    def keep(name):
        return lambda m, i, o: per_step[name].append((o[0] if isinstance(o, tuple) else o).detach().clone())

    hooks = [net.get_submodule(name).register_forward_hook(keep(name)) for name in names]
    outputs, state = [], None
    with torch.no_grad():
        for x in x_seq:
            y = net(x, state) if stateful_call else net(x)
            if isinstance(y, tuple):
                y, state = y
            outputs.append(y.detach().clone())
    for h in hooks:
        h.remove()
    return [torch.stack(per_step[name]) for name in names], torch.stack(outputs)


def torch_flatten_convention(graph) -> None:
    """NIR's Flatten counts dims of one sample; the importers pass start_dim to torch.nn.Flatten on a batch."""
    for node in graph.nodes.values():
        if isinstance(node, nir.Flatten):
            node.start_dim += 1


def norse_equivalent(graph) -> None:
    """Rewrite ``graph`` in place into an equivalent NIR graph that Norse 1.1 reads as meant: ``r`` folded into
    the conv/affine before each LIF (Norse drops ``r``), and ``AvgPool2d(k)`` as ``SumPool2d(k)`` with the
    next conv/affine's weights divided by k² (Norse maps no AvgPool2d)."""
    names = [n for n in graph.nodes]                            # a chain, in order (to_nir writes it so)
    for prev, name in zip(names, names[1:]):
        node = graph.nodes[name]
        if isinstance(node, nir.LIF):
            r = float(np.unique(node.r)[0])
            graph.nodes[prev].weight = graph.nodes[prev].weight * r
            graph.nodes[prev].bias = graph.nodes[prev].bias * r
            node.r = np.ones_like(node.r)
    pending = 1.0
    for name in names:
        node = graph.nodes[name]
        if isinstance(node, nir.AvgPool2d):
            pending /= float(np.prod(node.kernel_size))
            graph.nodes[name] = nir.SumPool2d(kernel_size=node.kernel_size, stride=node.stride, padding=node.padding)
        elif isinstance(node, (nir.Conv2d, nir.Affine)) and pending != 1.0:
            node.weight = node.weight * pending                   # the bias is added after the sum: unchanged
            pending = 1.0


def agreement(ours: list[torch.Tensor], theirs: list[torch.Tensor]) -> list[tuple[float, int, int]]:
    """Per layer: fraction of equal spike entries, number of entries that differ, our spike count."""
    if len(ours) != len(theirs):
        raise ValueError(f"{len(ours)} spiking layers here, {len(theirs)} there")
    rows = []
    for a, b in zip(ours, theirs):
        b = b.reshape(a.shape)
        rows.append(((a == b).float().mean().item(), int((a != b).sum()), int(a.sum())))
    return rows


def report(name: str, layers: list[str], rows, y_ours: torch.Tensor, y_theirs: torch.Tensor, target=None,
           same_graph=None) -> None:
    """Print one simulator's agreement; ``same_graph``: its rows against ltsnn running the same NIR graph."""
    y_theirs = y_theirs.reshape(y_ours.shape)
    extra = " | differ from ltsnn's run of the same graph" if same_graph else ""
    print(f"\n### {name}\n\n| layer | spikes (ltsnn) | equal entries | entries that differ{extra} |\n"
          f"|---|---|---|---|{'---|' if same_graph else ''}")
    for i, (layer, (frac, differ, count)) in enumerate(zip(layers, rows)):
        same = f" {same_graph[i][1]} |" if same_graph else ""
        print(f"| {layer} | {count} | {100 * frac:.4f}% | {differ} |{same}")
    same_class = (y_ours.sum(0).argmax(-1) == y_theirs.sum(0).argmax(-1)).float().mean().item()
    line = (f"\noutputs: max |difference| {(y_ours - y_theirs).abs().max().item():.2e}; "
            f"same predicted class for {100 * same_class:.1f}% of samples")
    if target is not None:
        acc = lambda y: (y.sum(0).argmax(-1) == target).float().mean().item()    # noqa: E731
        line += f"; accuracy ltsnn {100 * acc(y_ours):.1f}%, {name.split()[0]} {100 * acc(y_theirs):.1f}%"
    print(line)


def forward_check(run_dir: Path, samples: int, dt: float, out: Path) -> None:
    """RUN_DIR's model exported, then run in ltsnn (checkpoint and round trip), snnTorch and Norse."""
    folder = RunFolder(run_dir)
    restored = restore(folder.last if folder.last.is_file() else run_dir, allowed=())
    model = restored.model.eval()
    test_set = build_dataset(restored.config.data, split="test")
    items = [test_set[i] for i in range(min(samples, len(test_set)))]
    x_seq = torch.stack([torch.as_tensor(f) for f, _ in items]).transpose(0, 1).float()   # [T, B, C, H, W]
    target = torch.tensor([t for _, t in items])
    nir.write(out, to_nir(model, dt=dt))
    layers = [name for name, _ in find_neurons(model)]
    ours, y_ours = ltsnn_run(model, x_seq)
    print(f"run {run_dir}: {restored.config.model.name}, {x_seq.shape[1]} test samples of "
          f"{restored.config.data.name}, T = {x_seq.shape[0]}, dt = {dt:g}; graph {out} "
          f"({out.stat().st_size / 1e3:.0f} kB)")

    back_net = from_nir(nir.read(out), dt=dt)
    back, y_back = ltsnn_run(back_net, x_seq)
    report("ltsnn (from_nir round trip)", layers, agreement(ours, back), y_ours, y_back, target)
    # The same comparison in float64: what differs above is float32 rounding of the folded BatchNorm
    ours64, _ = ltsnn_run(copy.deepcopy(model).double(), x_seq.double())
    back64, _ = ltsnn_run(copy.deepcopy(back_net).double(), x_seq.double())
    print(f"float64, checkpoint vs round trip: entries that differ per layer "
          f"{[differ for _, differ, _ in agreement(ours64, back64)]}")

    import snntorch
    from snntorch.import_nir import import_from_nir
    graph = nir.read(out)
    torch_flatten_convention(graph)
    net = import_from_nir(graph)
    theirs, y_theirs = stepwise_run(net, x_seq, snntorch.Leaky, stateful_call=False)
    report(f"snnTorch {snntorch.__version__}", layers, agreement(ours, theirs), y_ours, y_theirs, target,
           same_graph=agreement(back, theirs))

    import norse
    from norse.torch import from_nir as norse_from_nir
    from norse.torch.module.lif_box import LIFBoxCell
    graph = nir.read(out)
    torch_flatten_convention(graph)
    norse_equivalent(graph)
    net = norse_from_nir(graph, dt=dt)
    theirs, y_theirs = stepwise_run(net, x_seq, LIFBoxCell, stateful_call=True)
    report(f"Norse {norse.__version__}", layers, agreement(ours, theirs), y_ours, y_theirs, target,
           same_graph=agreement(back, theirs))


def snntorch_example() -> tuple[torch.nn.Module, torch.Tensor]:
    """A small snnTorch conv network with random weights, and random events ``[T, B, C, H, W]`` for it."""
    import snntorch
    torch.manual_seed(0)
    # reset_mechanism="zero", reset_delay=False: the neuron NIR's LIF describes (snnTorch's importer builds it).
    # beta and threshold per neuron: snnTorch 1.0 writes scalar ones with shape (), which nir 1.0.8's type
    # check refuses after a conv or linear layer.
    lif = dict(reset_mechanism="zero", reset_delay=False, init_hidden=True)
    leaky = lambda beta, v_th, *shape: snntorch.Leaky(beta=torch.full(shape, beta),  # noqa: E731
                                                      threshold=torch.full(shape, v_th), **lif)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 8, 3, padding=1), leaky(0.8, 0.6, 8, 16, 16), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), leaky(0.5, 0.8, 16, 8, 8), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(16 * 4 * 4, 10), leaky(0.9, 1.0, 10))
    with torch.no_grad():                                          # weights large enough that every layer fires
        for layer in net:
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
                layer.weight.mul_(3.0)
    return net, (torch.rand(12, 16, 2, 16, 16) < 0.25).float()


def snntorch_graph(net: torch.nn.Module, x_seq: torch.Tensor):
    """snnTorch's NIR export of ``net``; its hidden state is reset afterwards (the export runs one step)."""
    from snntorch.export_nir import export_to_nir
    from snntorch.utils import reset
    graph = export_to_nir(net, x_seq[0, :1], ignore_dims=[0])       # NIR types carry no batch dim
    reset(net)
    return graph


def reverse_check(dt: float, out: Path) -> None:
    """snnTorch -> NIR -> ltsnn on random events."""
    import snntorch
    net, x_seq = snntorch_example()
    nir.write(out, snntorch_graph(net, x_seq))
    graph = nir.read(out)
    flatten = [n for n in graph.nodes.values() if isinstance(n, nir.Flatten)]
    print(f"\nreverse: snnTorch {snntorch.__version__} export -> {out}: "
          f"{[type(n).__name__ for n in graph.nodes.values()]}; Flatten start_dim as written: "
          f"{[n.start_dim for n in flatten]}")
    theirs, y_theirs = stepwise_run(net, x_seq, snntorch.Leaky, stateful_call=False)
    ours_net = from_nir(graph, dt=dt)
    ours, y_ours = ltsnn_run(ours_net, x_seq)
    layers = [name for name, _ in find_neurons(ours_net)]
    report("snnTorch -> ltsnn", layers, agreement(ours, theirs), y_ours, y_theirs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--dt", type=float, default=DEFAULT_DT)
    args = p.parse_args()
    torch.set_num_threads(1)
    logging.getLogger().setLevel(logging.ERROR)                   # Norse warns on every r != 1 it drops
    with tempfile.TemporaryDirectory() as tmp:
        forward_check(args.run_dir, args.samples, args.dt, Path(tmp) / "ltsnn.nir")
        reverse_check(args.dt, Path(tmp) / "snntorch.nir")


if __name__ == "__main__":
    main()
