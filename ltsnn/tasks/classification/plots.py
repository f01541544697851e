"""The classification run's curves: loss and accuracy, with the engine's threshold and firing-rate plots."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from ltsnn.engine.metrics import Record
from ltsnn.engine.plots import pyplot, run_name_of, save_figure, write_neuron_plots


def write_plots(history: Sequence[Record], folder: str | Path, *, labels: Mapping[str, str] | None = None,
                dpi: int = 100) -> list[Path]:
    """Write ``accuracy_loss.png``, ``thresholds.png`` and ``firing_rates.png`` into ``folder``.

    The threshold plot is LT-SNN's Fig. 2b / 4a: every layer's threshold at the end of each epoch, one
    line per layer, fixed layers dashed. ``labels`` renames layers (qualified name -> short label) in
    the legends and ticks; ``dpi`` is the resolution of the files. ``folder`` is inside the run folder
    (``plots/`` or ``report/``), whose name titles the plots. A network without spiking neurons gets no
    threshold or firing-rate plot.
    """
    run_name = run_name_of(folder)
    plt = pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    epochs = [r["epoch"] for r in history]
    written = []

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for split in ("train", "val", "test"):
        if f"{split}_loss" not in history[0]:                  # a run without a validation split
            continue
        ax_loss.plot(epochs, [r[f"{split}_loss"] for r in history], marker=".", label=split)
        ax_acc.plot(epochs, [100 * r[f"{split}_acc"] for r in history], marker=".", label=split)
    ax_loss.set(xlabel="epoch", ylabel="loss", title=f"{run_name}: loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{run_name}: accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    written.append(save_figure(fig, folder / "accuracy_loss.png", plt, dpi=dpi))
    return written + write_neuron_plots(history, folder, run_name=run_name, labels=labels, dpi=dpi)
