"""PNG plots of a run's per-epoch records (matplotlib with the Agg backend, imported only here, when used)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ltsnn.engine.metrics import Record


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'ltsnn[cli]'") from None
    matplotlib.use("Agg")                                       # files only: no display needed
    import matplotlib.pyplot as plt
    return plt


def write_plots(history: Sequence[Record], folder: str | Path) -> list[Path]:
    """Write ``accuracy_loss.png``, ``thresholds.png`` and ``firing_rates.png`` into ``folder``.

    The threshold plot is LT-SNN's Fig. 2b / 4a: every layer's threshold at the end of each epoch, one
    line per layer, fixed layers dashed.
    """
    plt = _pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    epochs = [r["epoch"] for r in history]
    written = []

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for split in ("train", "test"):
        ax_loss.plot(epochs, [r[f"{split}_loss"] for r in history], marker=".", label=split)
        ax_acc.plot(epochs, [100 * r[f"{split}_acc"] for r in history], marker=".", label=split)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    written.append(_save(fig, folder / "accuracy_loss.png", plt))

    layers = list(history[-1]["thresholds"])
    fixed = set(history[-1]["fixed_layers"])
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in layers:
        ax.plot(epochs, [r["thresholds"][name] for r in history], marker=".",
                linestyle="--" if name in fixed else "-", label=f"{name} (fixed)" if name in fixed else name)
    ax.set(xlabel="epoch", ylabel="threshold $V_{th}$", title="threshold per layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    written.append(_save(fig, folder / "thresholds.png", plt))

    fig, (ax_bar, ax_line) = plt.subplots(1, 2, figsize=(10, 4))
    rates = history[-1]["firing_rates"]
    ax_bar.bar(range(len(rates)), list(rates.values()))
    ax_bar.set_xticks(range(len(rates)), list(rates), rotation=45, ha="right", fontsize="small")
    ax_bar.set(ylabel="spikes / neuron / step", title=f"firing rate per layer, epoch {epochs[-1]} (test set)")
    for name in rates:
        ax_line.plot(epochs, [r["firing_rates"].get(name, float("nan")) for r in history], marker=".", label=name)
    ax_line.set(xlabel="epoch", ylabel="spikes / neuron / step", title="firing rate per layer (test set)")
    ax_line.grid(alpha=0.3)
    ax_line.legend(fontsize="small")
    written.append(_save(fig, folder / "firing_rates.png", plt))
    return written


def _save(fig, path: Path, plt) -> Path:
    from matplotlib.ticker import MaxNLocator
    for ax in fig.axes:
        if ax.get_xlabel() == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # whole epochs only
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
