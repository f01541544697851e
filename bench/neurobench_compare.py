"""NeuroBench's efficiency metrics of a trained ltsnn model, computed by NeuroBench itself, beside `ltsnn report`'s.

NeuroBench (Yik et al. 2025, ``pip install neurobench``) measures a model it wraps: activation sparsity,
synaptic operations (effective MACs and ACs, and the dense count), footprint, connection sparsity and parameter
count. This script wraps our model in NeuroBench's ``TorchModel`` (a time-major adapter in front, our neurons
registered as its activation modules), runs NeuroBench's ``Benchmark`` over the test split, runs our
``measure`` (what `ltsnn report` writes) on the same split, and prints one table of both, with our numbers
also recomputed under NeuroBench's definitions where the two differ (docs/neurobench.md explains each row).

    OMP_NUM_THREADS=1 .venv/bin/python bench/neurobench_compare.py                       # trains the demo first
    OMP_NUM_THREADS=1 .venv/bin/python bench/neurobench_compare.py --run runs/demo       # an existing run

Without ``--run`` it trains ``configs/ndigits_demo.yaml`` for ``--epochs`` epochs into /tmp/neurobench_demo
(once; later calls reuse it). NeuroBench is not an ltsnn dependency: this script, and tests/test_neurobench.py,
are its only users.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]


class TimeMajor(nn.Module):
    """NeuroBench hands the model batches as they come from the loader, ``[B, T, C, H, W]``; ours takes
    ``[T, B, C, H, W]`` and returns logits ``[T, B, K]``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.model(frames.transpose(0, 1))                   # [B, T, ...] -> [T, B, ...]


def neurobench_model(model: nn.Module):
    """``model`` as NeuroBench's TorchModel, with our spiking neurons counted as its activation layers."""
    from neurobench.models import TorchModel

    from ltsnn.neurons.base import SpikingNeuron
    wrapped = TorchModel(TimeMajor(model))
    wrapped.add_activation_module(SpikingNeuron)
    return wrapped


def run_neurobench(model: nn.Module, loader) -> dict:
    """NeuroBench's static and workload metrics of ``model`` over ``loader`` (its own Benchmark loop)."""
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
    from neurobench.metrics.workload import ActivationSparsity, ClassificationAccuracy, SynapticOperations

    def predict(logits_seq: torch.Tensor) -> torch.Tensor:         # [T, B, K] -> class ids [B] (time-mean)
        return logits_seq.mean(0).argmax(-1)

    bench = Benchmark(neurobench_model(model), loader, [], [predict],
                      [[Footprint, ConnectionSparsity, ParameterCount],
                       [ClassificationAccuracy, ActivationSparsity, SynapticOperations]])
    with torch.no_grad():
        return bench.run(quiet=True)


def ensure_run(run: Path, epochs: int) -> Path:
    """The checkpoint of ``run``, training the demo into it first if it has none."""
    checkpoint = run / "checkpoints" / "last.pt"
    if not checkpoint.is_file():
        print(f"training the demo for {epochs} epochs into {run} ...", flush=True)
        subprocess.run([str(Path(sys.executable).parent / "ltsnn"), "train", str(REPO / "configs/ndigits_demo.yaml"),
                        f"train.epochs={epochs}", f"train.out_dir={run.parent}", f"train.name={run.name}",
                        "train.progress=never"], check=False)
        if not checkpoint.is_file():
            raise SystemExit(f"{checkpoint}: training wrote no checkpoint")
    return checkpoint


def compare(checkpoint: Path) -> list[tuple[str, str, str, str]]:
    """Rows (metric, NeuroBench's value, ltsnn's value, ltsnn's field) for the model in ``checkpoint``."""
    from ltsnn.build import EVAL_KEYS, build_dataset, build_task, restore
    from ltsnn.engine import test_loader
    from ltsnn.engine.report import measure

    restored = restore(checkpoint, [], allowed=EVAL_KEYS, why="the comparison rebuilds the model")
    cfg = restored.config
    test_set = build_dataset(cfg.data, split="test")
    task = build_task(cfg, restored.model, test_set)
    task.load_state_dict(restored.checkpoint["task"])
    loader = test_loader(test_set, batch_size=cfg.data.batch_size, num_workers=0)
    model = task.model.eval()

    t0 = time.perf_counter()
    nb = run_neurobench(model, loader)
    t_nb = time.perf_counter() - t0
    reports = {mode: measure(task, loader, first_layer=mode) for mode in ("mac", "sop")}
    ours = reports["mac"]
    mapped = ours["neurobench"]                                     # report.json's "neurobench" section
    syn, ops_sop = ours["synaptic"], reports["sop"]["synaptic"]
    dense = sum(v["flops"] * syn["time_steps"] for v in syn["layers"].values())
    print(f"NeuroBench's pass: {t_nb:.1f} s over {len(test_set)} test samples")
    return [
        ("classification accuracy", f"{nb['ClassificationAccuracy']:.4f}", f"{ours['test']['acc']:.4f}", "test.acc"),
        ("activation sparsity", f"{nb['ActivationSparsity']:.4f}",
         f"{mapped['activation_sparsity']:.4f}", "neurobench.activation_sparsity"),
        ("synaptic ops: effective ACs", f"{nb['SynapticOperations']['Effective_ACs']:,.0f}",
         f"{syn['total']['sops']:,.0f}", "synaptic.total.sops (first_layer=mac)"),
        ("  (first layer as spikes)", "", f"{ops_sop['total']['sops']:,.0f}", "synaptic.total.sops (first_layer=sop)"),
        ("synaptic ops: effective MACs", f"{nb['SynapticOperations']['Effective_MACs']:,.0f}",
         f"{syn['total']['macs']:,.0f}", "synaptic.total.macs (first_layer=mac)"),
        ("  (first layer as spikes)", "", f"{ops_sop['total']['macs']:,.0f}", "synaptic.total.macs (first_layer=sop)"),
        ("synaptic ops: dense", f"{nb['SynapticOperations']['Dense']:,.0f}", f"{dense:,.0f}",
         "T · synaptic.total.flops"),
        ("footprint (bytes)", f"{nb['Footprint']:,}", f"{ours['size']['mb'] * 1e6:,.0f}", "size.mb × 10^6"),
        ("  (with buffers)", "", f"{mapped['footprint_bytes']:,.0f}", "neurobench.footprint_bytes"),
        ("connection sparsity", f"{nb['ConnectionSparsity']:.4f}", f"{mapped['connection_sparsity']:.4f}",
         "neurobench.connection_sparsity"),
        ("parameter count", f"{nb['ParameterCount']:,}", f"{mapped['parameter_count']:,}", "neurobench.parameter_count"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("/tmp/neurobench_demo/demo"), help="run folder")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the demo, if it must be trained")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = compare(ensure_run(args.run, args.epochs))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("metric", "NeuroBench", "ltsnn", "ltsnn field")
    widths = [max(w, len(h)) for w, h in zip(widths, header)]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print(" | ".join(c.ljust(w) if i in (0, 3) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))


if __name__ == "__main__":
    main()
