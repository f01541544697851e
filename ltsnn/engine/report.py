"""The run report: one pass over the test set with the monitors, written as Markdown, JSON and PNGs.

``<run>/report/``::

    report.md  report.json          test accuracy, per-layer threshold / firing rate / membrane,
                                    per-layer operations and energy (SNN and ANN), model size
    accuracy_loss.png  thresholds.png  firing_rates.png     the curves of the run's metrics.jsonl
    energy.png                      energy per layer, SNN against ANN
    quantized.safetensors           integer weights and their scales, for a quantised model
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from torch.utils.data import DataLoader

from ltsnn.engine.energy import E_AC_PJ, E_MAC_PJ, SynapticOpsMonitor, check_first_layer, model_size
from ltsnn.engine.loop import evaluate
from ltsnn.files import write_text_atomic
from ltsnn.engine.metrics import Record
from ltsnn.engine.task import Task
from ltsnn.engine.monitor import MembraneMonitor, layer_thresholds, neuron_labels
from ltsnn.layers.quant import quantized_layers

REPORT_DPI = 200


def measure(task: Task, loader: DataLoader, *, e_mac: float = E_MAC_PJ, e_ac: float = E_AC_PJ, first_layer: str = "mac",
            device: str = "cpu",
            progress: bool = False) -> dict[str, Any]:
    """Run ``loader`` once through ``task`` with the firing-rate, membrane and synaptic-operation monitors.

    Args:
        e_mac, e_ac, first_layer: as :meth:`~ltsnn.engine.energy.SynapticOpsMonitor.summary`.
    Returns:
        ``{"test": {"loss", "acc", "n"}, "neurons": {layer: {"label", "threshold", "fixed", "firing_rate",
        "membrane_mean", "membrane_std"}}, "synaptic": SynapticOpsMonitor.summary(), "size": model_size()}``.
    """
    model = task.model
    check_first_layer(first_layer)                                  # fail before the pass over the data
    with SynapticOpsMonitor(model) as ops, MembraneMonitor(model) as membrane:
        result = evaluate(task, loader, device=device, progress=progress)
    thresholds, fixed = layer_thresholds(model)
    stats = membrane.stats()
    labels = neuron_labels(model)
    nan = float("nan")
    neurons = {name: {"label": labels[name], "threshold": thresholds.get(name, nan), "fixed": name in fixed,
                      "firing_rate": result["firing_rates"].get(name, nan),
                      "membrane_mean": stats.get(name, {}).get("mean", nan),
                      "membrane_std": stats.get(name, {}).get("std", nan)}
               for name in labels}
    metrics = {k: v for k, v in result.items() if k not in ("loss", "firing_rates", "n")}   # the task's: acc, map, ...
    return {"test": {"loss": result["loss"], **metrics, "n": result["n"]}, "neurons": neurons,
            "synaptic": ops.summary(e_mac=e_mac, e_ac=e_ac, first_layer=first_layer), "size": model_size(model)}


def write_report(folder: str | Path, *, task: Task, loader: DataLoader, history: Sequence[Record],
                 source: str, e_mac: float = E_MAC_PJ, e_ac: float = E_AC_PJ,
                 first_layer: str = "mac", device: str = "cpu", progress: bool = False) -> dict[str, Any]:
    """Measure the model of ``task`` (:func:`measure`) and write the report files into ``folder``.

    Args:
        history: the run's per-epoch records (``metrics.jsonl``), for the curves.
        source: what was measured, for the header (e.g. the checkpoint path and epoch).
    Returns:
        The report as written to ``report.json`` (:func:`measure`'s dict plus ``source`` and ``files``).
    """
    from ltsnn.engine.plots import write_energy_plot               # matplotlib: imported only when plotting
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report = {"source": source, **measure(task, loader, e_mac=e_mac, e_ac=e_ac,
                                          first_layer=first_layer, device=device, progress=progress)}
    labels = {name: v["label"] for name, v in report["neurons"].items()}
    files = task.write_plots(history, folder, labels=labels, dpi=REPORT_DPI)
    files.append(write_energy_plot(report["synaptic"], folder / "energy.png", dpi=REPORT_DPI))
    if quantized_layers(task.model):
        from ltsnn.convert import save_quantized                   # safetensors: imported only when used
        files.append(save_quantized(task.model, folder / "quantized.safetensors"))
    report["files"] = [p.name for p in files]
    write_text_atomic(folder / "report.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(folder / "report.md", _markdown(report, history, task))
    return report


_FIRST_LAYER_TEXT = {
    "mac": "T·FLOPs MACs (the encoding layer; every step's frame is a new input)",
    "mac_once": "FLOPs MACs, once (BICLab's formula as written, for a static image repeated over the steps)",
    "sop": "fr·T·FLOPs accumulates (binary event frames counted as spikes)",
}


def _markdown(report: dict[str, Any], history: Sequence[Record], task: Task) -> str:
    test, ops, size = report["test"], report["synaptic"], report["size"]
    total = ops["total"]
    lines = ["# Run report", "",
             f"Measured: {report['source']}; test set, {test['n']} samples, T = {ops['time_steps']}.", ""]
    lines += task.report_lines(test, history)
    lines += [
        "## Spiking layers", "",
        "Threshold V_th after training; firing rate = spikes per neuron per time step on the test set (mean "
        "spike value for non-binary spikes); membrane = mean ± std of v after the last time step.", "",
        "| layer | module | V_th | firing rate | membrane |", "|---|---|---:|---:|---:|"]
    for name, v in report["neurons"].items():
        fixed = " (fixed)" if v["fixed"] else ""
        lines.append(f"| {v['label']} | `{name}` | {v['threshold']:.4f}{fixed} | {v['firing_rate']:.4f} | "
                     f"{v['membrane_mean']:.4f} ± {v['membrane_std']:.4f} |")
    lines += ["", "![thresholds](thresholds.png)", "", "![firing rates](firing_rates.png)", "",
              "## Operations and energy per sample", "",
              f"BICLab convention (methods §5.3): FLOPs of one frame (conv C_in·C_out·k²·H_out·W_out/groups, linear "
              f"in·out); a layer fed spikes does SOP = fr·T·FLOPs accumulates at E_AC = {ops['e_ac_pj']} pJ, fr the "
              f"mean of its input (after average pooling: the mean pooled value); a layer fed real values (one whose "
              f"input goes negative) does T·FLOPs MACs at E_MAC = {ops['e_mac_pj']} pJ. First layer: "
              f"{_FIRST_LAYER_TEXT[ops['first_layer']]}. The ANN is the same network run once (T = 1), all MACs.", "",
              "| layer | module | input | input rate | FLOPs / step | SNN ops | SNN energy (nJ) | ANN energy (nJ) |",
              "|---|---|---|---:|---:|---:|---:|---:|"]
    for name, v in ops["layers"].items():
        kind = "MAC" if v["input"] == "real" else "SOP"
        lines.append(f"| {v['label']} | `{name}` | {v['input']} | {v['input_rate']:.4f} | {v['flops']:,} | "
                     f"{v['ops']:,.0f} {kind} | {v['snn_energy_pj'] / 1e3:,.1f} | {v['ann_energy_pj'] / 1e3:,.1f} |")
    lines += [f"| **total** | | | | {total['flops']:,} | {total['macs']:,.0f} MAC + {total['sops']:,.0f} SOP | "
              f"**{total['snn_energy_pj'] / 1e3:,.1f}** | **{total['ann_energy_pj'] / 1e3:,.1f}** |", "",
              f"The ANN needs {total['ann_over_snn']:.2f}× the energy of the SNN.", "",
              "![energy per layer](energy.png)", "",
              "## Model size", "",
              "Parameters only (weights, biases, BN affine, learnable thresholds); quantised weights at their bit "
              "width, everything else at 32 bits; BN running statistics are not counted. MB = 10⁶ bytes.", "",
              "| parameters | quantised | float (32-bit) | as stored | compression |", "|---:|---:|---:|---:|---:|",
              f"| {size['parameters']:,} | {size['quantized_parameters']:,} | {size['float_mb']:.3f} MB | "
              f"{size['mb']:.3f} MB | {size['compression']:.2f}× |", ""]
    if "quantized.safetensors" in report["files"]:
        lines += ["Integer weights and their scales: `quantized.safetensors` (`<layer>.weight.q` · "
                  "`<layer>.weight.scale` = the weight used).", ""]
    return "\n".join(lines)
