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


def run_name_of(folder: str | Path) -> str:
    """The run's name for plot titles, from a folder inside its run folder (``<run>/plots``, ``<run>/report``).

    Example:
        >>> run_name_of("runs/demo/plots")
        'demo'
    """
    return Path(folder).resolve().parent.name


def layer_styles(n: int) -> list[dict[str, Any]]:
    """Line colours and markers for ``n`` layers that stay apart: tab10 up to 10 layers; beyond, tab20 (its
    colours come in light/dark pairs of one hue, so the two of a pair get different markers), and past 20
    layers the colours repeat with other markers.

    Example:
        >>> styles = layer_styles(19)
        >>> len({s["color"] for s in styles}), len({(s["color"], s["marker"]) for s in layer_styles(40)})
        (19, 40)
    """
    pyplot()                                                    # matplotlib, or the one-line error
    from matplotlib import colormaps
    if n <= 10:
        return [{"color": colormaps["tab10"].colors[i], "marker": "."} for i in range(n)]
    markers = ("o", "s", "^", "v", "D", "x")
    return [{"color": colormaps["tab20"].colors[i % 20], "marker": markers[(i % 2 + 2 * (i // 20)) % len(markers)],
             "markersize": 3} for i in range(n)]


def write_neuron_plots(history: Sequence[Record], folder: str | Path, *, run_name: str,
                       labels: Mapping[str, str] | None = None, dpi: int = 100) -> list[Path]:
    """Write ``thresholds.png`` and ``firing_rates.png`` (every task's records have thresholds and rates), titled
    with ``run_name``; nothing for a network without spiking neurons (a QCFS ANN), whose plots would be empty."""
    layers = list(history[-1]["thresholds"])
    rates = history[-1]["firing_rates"]
    if not layers and not rates:
        return []
    plt = pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    epochs = [r["epoch"] for r in history]
    label = {n: n for n in (*layers, *rates)} | dict(labels or {})
    written = []

    fixed = set(history[-1]["fixed_layers"])
    fig, ax = plt.subplots(figsize=(6, 4) if len(layers) <= 10 else (8, 5))
    for name, style in zip(layers, layer_styles(len(layers))):
        ax.plot(epochs, [r["thresholds"][name] for r in history], **style,
                linestyle="--" if name in fixed else "-",
                label=f"{label[name]} (fixed)" if name in fixed else label[name])
    ax.set(xlabel="epoch", ylabel="threshold $V_{th}$", title=f"{run_name}: threshold per layer")
    ax.grid(alpha=0.3)
    _legend(ax, len(layers))
    written.append(save_figure(fig, folder / "thresholds.png", plt, dpi=dpi))

    fig, (ax_bar, ax_line) = plt.subplots(1, 2, figsize=(10, 4) if len(rates) <= 10 else (13, 5))
    ax_bar.bar(range(len(rates)), list(rates.values()))
    ax_bar.set_xticks(range(len(rates)), [label[n] for n in rates], rotation=45, ha="right", fontsize="small")
    ax_bar.set(ylabel="spikes / neuron / step", title=f"firing rate per layer, epoch {epochs[-1]} (test set)")
    for name, style in zip(rates, layer_styles(len(rates))):
        ax_line.plot(epochs, [r["firing_rates"].get(name, float("nan")) for r in history], **style,
                     label=label[name])
    ax_line.set(xlabel="epoch", ylabel="spikes / neuron / step", title="firing rate per layer (test set)")
    ax_line.grid(alpha=0.3)
    _legend(ax_line, len(rates))
    fig.suptitle(run_name)
    written.append(save_figure(fig, folder / "firing_rates.png", plt, dpi=dpi))
    return written


def _legend(ax, n: int) -> None:
    """Inside the axes for a few lines; beside them, in columns, for many (it would cover the curves)."""
    if n <= 6:
        ax.legend(fontsize="small")
    else:
        ax.legend(fontsize="x-small", ncol=1 + n // 12, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def write_energy_plot(ops: Mapping[str, Any], path: str | Path, *, run_name: str, spiking: bool = True,
                      dpi: int = 100) -> Path:
    """Grouped bars, log scale: energy per sample of every conv/linear layer as the SNN and as the same
    network run once as an ANN; the ANN's bars alone for a network without spiking neurons (``spiking``).
    ``ops`` is :meth:`ltsnn.engine.energy.SynapticOpsMonitor.summary`; the title names ``run_name``."""
    plt = pyplot()
    layers = list(ops["layers"].values())
    x = range(len(layers))
    width = 0.4 if spiking else 0.6
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(layers) + 2), 4.5))
    ann = [v["ann_energy_pj"] / 1e3 for v in layers]                # pJ -> nJ
    total = ops["total"]
    handles = []
    if spiking:
        snn = [v["snn_energy_pj"] / 1e3 for v in layers]
        bars = ax.bar([i - width / 2 for i in x], snn, width, label=f"this SNN, T = {ops['time_steps']} (MAC or AC)")
        for bar, v in zip(bars, layers):
            if v["input"] == "real":
                bar.set_hatch("//")                                 # real-valued input: counted as MACs
        ax.bar([i + width / 2 for i in x], ann, width, label="the same network as an ANN, one pass (MAC)")
        from matplotlib.patches import Patch
        handles = ax.get_legend_handles_labels()[0] + [Patch(facecolor="white", edgecolor="black", hatch="//",
                                                              label="real-valued input: MACs")]
        snn_total, ann_total = total["snn_energy_pj"], total["ann_energy_pj"]
        ratio = (f"SNN needs {ann_total / snn_total:.2f}× less" if 0 < snn_total <= ann_total else
                 f"SNN needs {snn_total / ann_total:.2f}× more" if snn_total > ann_total else "no input spikes")
        title = (f"{run_name}: energy per layer\nthis SNN {snn_total / 1e6:.3g} µJ, as an ANN "
                 f"{ann_total / 1e6:.3g} µJ ({ratio})")
    else:
        ax.bar(list(x), ann, width, label="ANN, one pass (MAC)", color="C1")
        handles = ax.get_legend_handles_labels()[0]
        title = (f"{run_name}: energy per layer\nthis ANN (no spiking neurons): {total['ann_energy_pj'] / 1e6:.3g} µJ "
                 f"in all")
    ax.set_xticks(list(x), [v["label"] for v in layers])
    ax.set_yscale("log")
    ax.set(ylabel="energy per sample (nJ)", title=title)
    ax.grid(alpha=0.3, axis="y", which="major")
    ax.legend(handles=handles, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08),
              ncol=len(handles) if len(layers) > 8 else 1, frameon=False)   # below the axes: never over a bar
    return save_figure(fig, Path(path), plt, dpi=dpi)


def save_figure(fig, path: Path, plt, *, dpi: int) -> Path:
    from matplotlib.ticker import MaxNLocator
    for ax in fig.axes:
        if ax.get_xlabel() == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # whole epochs only
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, bbox_inches="tight")             # legends placed outside the axes stay in
    plt.close(fig)
    return path
