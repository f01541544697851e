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

from ltsnn.engine.energy import (E_AC_PJ, E_MAC_PJ, SynapticOpsMonitor, check_first_layer, model_size,
                                 neurobench_metrics)
from ltsnn.engine.loop import evaluate
from ltsnn.files import write_text_atomic
from ltsnn.engine.metrics import Record
from ltsnn.engine.task import Task
from ltsnn.engine.monitor import MembraneMonitor, layer_thresholds, neuron_labels
from ltsnn.layers.quant import quantized_layers
from ltsnn.neurons import find_neurons

REPORT_DPI = 200


def measure(task: Task, loader: DataLoader, *, e_mac: float = E_MAC_PJ, e_ac: float = E_AC_PJ, first_layer: str = "mac",
            device: str = "cpu",
            progress: bool = False) -> dict[str, Any]:
    """Run ``loader`` once through ``task`` with the firing-rate, membrane and synaptic-operation monitors.

    Args:
        e_mac, e_ac, first_layer: as :meth:`~ltsnn.engine.energy.SynapticOpsMonitor.summary`.
    Returns:
        ``{"test": {"loss", "acc", "n"}, "spiking": bool, "neurons": {layer: {"label", "threshold", "fixed",
        "firing_rate", "neurons", "membrane_mean", "membrane_std"}}, "synaptic": SynapticOpsMonitor.summary(),
        "size": model_size(), "neurobench": energy.neurobench_metrics()}``; ``spiking`` is False for a network
        without spiking neurons (a QCFS ANN); ``neurons`` counts a layer's neurons per sample and step.
    """
    model = task.model
    check_first_layer(first_layer)                                  # fail before the pass over the data
    sizes: dict[str, int] = {}

    def count(name: str):
        def hook(module, inputs, out) -> None:
            sizes.setdefault(name, out[0, 0].numel())               # out [T, B, ...]
        return hook
    handles = [neuron.register_forward_hook(count(name)) for name, neuron in find_neurons(model)]
    try:
        with SynapticOpsMonitor(model) as ops, MembraneMonitor(model) as membrane:
            result = evaluate(task, loader, device=device, progress=progress)
    finally:
        for h in handles:
            h.remove()
    thresholds, fixed = layer_thresholds(model)
    stats = membrane.stats()
    labels = neuron_labels(model)
    nan = float("nan")
    neurons = {name: {"label": labels[name], "threshold": thresholds.get(name, nan), "fixed": name in fixed,
                      "firing_rate": result["firing_rates"].get(name, nan), "neurons": sizes.get(name, 0),
                      "membrane_mean": stats.get(name, {}).get("mean", nan),
                      "membrane_std": stats.get(name, {}).get("std", nan)}
               for name in labels}
    metrics = {k: v for k, v in result.items() if k not in ("loss", "firing_rates", "n")}   # the task's: acc, map, ...
    size = model_size(model)
    return {"test": {"loss": result["loss"], **metrics, "n": result["n"]}, "spiking": bool(find_neurons(model)),
            "neurons": neurons,
            "synaptic": ops.summary(e_mac=e_mac, e_ac=e_ac, first_layer=first_layer), "size": size,
            "neurobench": neurobench_metrics(model, firing_rates=result["firing_rates"], neurons=sizes, size=size)}


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
    files.append(write_energy_plot(report["synaptic"], folder / "energy.png", dpi=REPORT_DPI,
                                   spiking=report["spiking"], run_name=folder.resolve().parent.name))
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
    if not report["spiking"]:
        lines += ["## Spiking layers", "", "None: this network has no spiking neurons (an ANN, e.g. QCFS "
                  "activations), so there are no thresholds, firing rates or membranes to show.", ""]
    else:
        lines += _neuron_lines(report)
    lines += _energy_lines(report, ops, total)
    lines += ["## Model size", "",
              "Parameters only (weights, biases, BN affine, learnable thresholds); quantised weights at their bit "
              "width, everything else at 32 bits; BN running statistics are not counted. MB = 10⁶ bytes.", "",
              "| parameters | quantised | float (32-bit) | as stored | compression |", "|---:|---:|---:|---:|---:|",
              f"| {size['parameters']:,} | {size['quantized_parameters']:,} | {size['float_mb']:.3f} MB | "
              f"{size['mb']:.3f} MB | {size['compression']:.2f}× |", "", size_summary(size) + ".", ""]
    nb = report["neurobench"]
    lines += ["## NeuroBench metrics", "",
              "Under NeuroBench's names and definitions (docs/neurobench.md compares them with NeuroBench's own).",
              "", "| parameter_count | footprint_bytes | connection_sparsity | activation_sparsity |",
              "|---:|---:|---:|---:|",
              f"| {nb['parameter_count']:,} | {nb['footprint_bytes']:,.0f} | {nb['connection_sparsity']:.4f} | "
              f"{nb['activation_sparsity']:.4f} |", ""]
    if "quantized.safetensors" in report["files"]:
        lines += ["Integer weights and their scales: `quantized.safetensors` (`<layer>.weight.q` · "
                  "`<layer>.weight.scale` = the weight used).", ""]
    return "\n".join(lines)


def energy_summary(report: dict[str, Any]) -> str:
    """One sentence saying what is compared with what: this SNN's energy per sample against the same network run
    once as an ANN, and by how much it needs less or more; a network without spiking neurons gets no verdict.

    Example:
        >>> energy_summary({"spiking": True, "synaptic": {"time_steps": 4, "total": {
        ...     "snn_energy_pj": 2e6, "ann_energy_pj": 1e6}}})
        'energy per sample: this SNN (T = 4) 2 µJ; the same network run once as an ANN 1 µJ; the SNN needs 2.00× more'
    """
    ops = report["synaptic"]
    snn, ann = ops["total"]["snn_energy_pj"], ops["total"]["ann_energy_pj"]
    if not report["spiking"]:
        return (f"energy per sample: {ann / 1e6:.4g} µJ as an ANN (one pass, all MACs); no SNN comparison, "
                f"the network has no spiking neurons")
    if snn <= ann:
        verdict = f"needs {ann / snn:.2f}× less" if snn > 0 else "needs no energy (no input spikes)"
    else:
        verdict = f"needs {snn / ann:.2f}× more"
    return (f"energy per sample: this SNN (T = {ops['time_steps']}) {snn / 1e6:.4g} µJ; the same network run once "
            f"as an ANN {ann / 1e6:.4g} µJ; the SNN {verdict}")


def size_summary(size: dict[str, Any]) -> str:
    """The model size against float weights: "x MB, n× smaller than float", or "the same size as float".

    Example:
        >>> size_summary({"mb": 0.5, "compression": 1.0})
        'model 0.500 MB, the same size as float (32-bit weights)'
    """
    if size["compression"] > 1 + 1e-9:
        return f"model {size['mb']:.3f} MB, {size['compression']:.2f}× smaller than float"
    return f"model {size['mb']:.3f} MB, the same size as float (32-bit weights)"


def _neuron_lines(report: dict[str, Any]) -> list[str]:
    lines = [
        "## Spiking layers", "",
        "Threshold V_th after training; firing rate = spikes per neuron per time step on the test set (mean "
        "spike value for non-binary spikes); membrane = mean ± std of v after the last time step.", "",
        "| layer | module | V_th | firing rate | membrane |", "|---|---|---:|---:|---:|"]
    for name, v in report["neurons"].items():
        fixed = " (fixed)" if v["fixed"] else ""
        lines.append(f"| {v['label']} | `{name}` | {v['threshold']:.4f}{fixed} | {v['firing_rate']:.4f} | "
                     f"{v['membrane_mean']:.4f} ± {v['membrane_std']:.4f} |")
    lines.append("")
    for picture, alt in (("thresholds.png", "thresholds"), ("firing_rates.png", "firing rates")):
        if picture in report["files"]:
            lines += [f"![{alt}]({picture})", ""]
    return lines


def _energy_lines(report: dict[str, Any], ops: dict[str, Any], total: dict[str, Any]) -> list[str]:
    summary = energy_summary(report)
    if not report["spiking"]:
        lines = ["## Operations and energy per sample", "",
                 f"FLOPs of one frame (conv C_in·C_out·k²·H_out·W_out/groups, linear in·out), all MACs at E_MAC = "
                 f"{ops['e_mac_pj']} pJ, one pass.", "",
                 "| layer | module | FLOPs | ANN energy (nJ) |", "|---|---|---:|---:|"]
        lines += [f"| {v['label']} | `{name}` | {v['flops']:,} | {v['ann_energy_pj'] / 1e3:,.1f} |"
                  for name, v in ops["layers"].items()]
        return lines + [f"| **total** | | {total['flops']:,} | **{total['ann_energy_pj'] / 1e3:,.1f}** |", "",
                        summary[0].upper() + summary[1:] + ".", "",
                        "![energy per layer](energy.png)", ""]
    lines = ["## Operations and energy per sample", "",
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
    return lines + [f"| **total** | | | | {total['flops']:,} | {total['macs']:,.0f} MAC + {total['sops']:,.0f} SOP | "
                    f"**{total['snn_energy_pj'] / 1e3:,.1f}** | **{total['ann_energy_pj'] / 1e3:,.1f}** |", "",
                    summary[0].upper() + summary[1:] + ".", "",
                    "![energy per layer](energy.png)", ""]
