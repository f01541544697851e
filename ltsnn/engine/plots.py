"""PNG plots of a run's per-epoch records (matplotlib with the Agg backend, imported only here, when used)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from ltsnn.engine.metrics import Record


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ModuleNotFoundError("plots need matplotlib: pip install 'ltsnn[cli]'", name="matplotlib") from None
    matplotlib.use("Agg")                                       # files only: no display needed
    import matplotlib.pyplot as plt
    return plt


def write_neuron_plots(history: Sequence[Record], folder: str | Path, *, labels: Mapping[str, str] | None = None,
                       dpi: int = 100) -> list[Path]:
    """Write ``thresholds.png`` and ``firing_rates.png`` (every task's records have thresholds and rates)."""
    plt = pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    epochs = [r["epoch"] for r in history]
    label = {n: n for n in history[-1]["thresholds"]} | dict(labels or {})
    written = []

    layers = list(history[-1]["thresholds"])
    fixed = set(history[-1]["fixed_layers"])
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in layers:
        ax.plot(epochs, [r["thresholds"][name] for r in history], marker=".",
                linestyle="--" if name in fixed else "-",
                label=f"{label[name]} (fixed)" if name in fixed else label[name])
    ax.set(xlabel="epoch", ylabel="threshold $V_{th}$", title="threshold per layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2 if len(layers) > 6 else 1)
    written.append(save_figure(fig, folder / "thresholds.png", plt, dpi=dpi))

    fig, (ax_bar, ax_line) = plt.subplots(1, 2, figsize=(10, 4))
    rates = history[-1]["firing_rates"]
    ax_bar.bar(range(len(rates)), list(rates.values()))
    ax_bar.set_xticks(range(len(rates)), [label[n] for n in rates], rotation=45, ha="right", fontsize="small")
    ax_bar.set(ylabel="spikes / neuron / step", title=f"firing rate per layer, epoch {epochs[-1]} (test set)")
    for name in rates:
        ax_line.plot(epochs, [r["firing_rates"].get(name, float("nan")) for r in history], marker=".",
                     label=label[name])
    ax_line.set(xlabel="epoch", ylabel="spikes / neuron / step", title="firing rate per layer (test set)")
    ax_line.grid(alpha=0.3)
    ax_line.legend(fontsize="small", ncol=2 if len(rates) > 6 else 1)
    written.append(save_figure(fig, folder / "firing_rates.png", plt, dpi=dpi))
    return written


def write_energy_plot(ops: Mapping[str, Any], path: str | Path, *, dpi: int = 100) -> Path:
    """Grouped bars, log scale: energy per sample of every conv/linear layer as the SNN and as the same
    network run once as an ANN. ``ops`` is :meth:`ltsnn.engine.energy.SynapticOpsMonitor.summary`."""
    plt = pyplot()
    layers = list(ops["layers"].values())
    x = range(len(layers))
    width = 0.4
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(layers) + 2), 4.5))
    snn = [v["snn_energy_pj"] / 1e3 for v in layers]                # pJ -> nJ
    ann = [v["ann_energy_pj"] / 1e3 for v in layers]
    bars = ax.bar([i - width / 2 for i in x], snn, width, label=f"SNN, T = {ops['time_steps']} (MAC or AC)")
    for bar, v in zip(bars, layers):
        if v["input"] == "real":
            bar.set_hatch("//")                                     # real-valued input: counted as MACs
    ax.bar([i + width / 2 for i in x], ann, width, label="ANN, one pass (MAC)")
    from matplotlib.patches import Patch
    handles = ax.get_legend_handles_labels()[0] + [Patch(facecolor="white", edgecolor="black", hatch="//",
                                                          label="real-valued input: MACs")]
    ax.set_xticks(list(x), [v["label"] for v in layers])
    ax.set_yscale("log")
    total = ops["total"]
    ax.set(ylabel="energy per sample (nJ)",
           title=f"energy per layer; total SNN {total['snn_energy_pj'] / 1e6:.3g} µJ, "
                 f"ANN {total['ann_energy_pj'] / 1e6:.3g} µJ (ANN / SNN = {total['ann_over_snn']:.2f})")
    ax.grid(alpha=0.3, axis="y", which="major")
    ax.legend(handles=handles, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3,
              frameon=False)                                    # below the axes: never over a bar
    return save_figure(fig, Path(path), plt, dpi=dpi)


def save_figure(fig, path: Path, plt, *, dpi: int) -> Path:
    from matplotlib.ticker import MaxNLocator
    for ax in fig.axes:
        if ax.get_xlabel() == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # whole epochs only
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
