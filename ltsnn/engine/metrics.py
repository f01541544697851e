"""The run folder and the per-epoch records written into it.

One record per epoch (a plain dict, also kept in every checkpoint)::

    epoch            1-based
    step             optimizer steps taken so far
    train_loss, test_loss, train_<m>, test_<m>     the task's metrics (accuracy as a fraction in [0, 1])
    lr               the learning rate used during the epoch (of the first parameter group)
    <task state>     the task's :meth:`~ltsnn.engine.Task.state_dict` after the epoch (classification: omega)
    seconds          wall time of the epoch (train + test)
    thresholds       {layer: V_th} for every spiking layer, fixed ones included
    fixed_layers     [layer, ...] whose threshold is not learned
    firing_rates     {layer: mean spikes per neuron per step} on the test set

Folder layout::

    <run>/config.yaml  metrics.jsonl  thresholds.csv  checkpoints/last.pt  checkpoints/best.pt  plots/*.png
          report/report.md  report/report.json  report/*.png  (report/quantized.safetensors)
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Sequence

from ltsnn.engine.monitor import layer_thresholds
from ltsnn.files import write_text_atomic

Record = dict[str, Any]


class RunFolder:
    """Paths of a run folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.config = self.root / "config.yaml"
        self.metrics = self.root / "metrics.jsonl"
        self.thresholds = self.root / "thresholds.csv"
        self.checkpoints = self.root / "checkpoints"
        self.last = self.checkpoints / "last.pt"
        self.best = self.checkpoints / "best.pt"
        self.plots = self.root / "plots"
        self.report = self.root / "report"


def write_history(folder: RunFolder, history: Sequence[Record]) -> None:
    """(Re)write ``metrics.jsonl`` and ``thresholds.csv`` from the records.

    Rewriting the whole files (they are small) keeps them equal to the checkpoint's history after a
    resume, even if the interrupted run had logged epochs past its last checkpoint.
    """
    write_text_atomic(folder.metrics, "".join(json.dumps(r) + "\n" for r in history))
    buf = io.StringIO()
    if history:
        layers = list(history[-1]["thresholds"])
        fixed = set(history[-1]["fixed_layers"])
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["epoch"] + [f"{n} (fixed)" if n in fixed else n for n in layers])
        for r in history:
            w.writerow([r["epoch"]] + [repr(r["thresholds"][n]) for n in layers])
    write_text_atomic(folder.thresholds, buf.getvalue())


def read_history(folder: RunFolder) -> list[Record]:
    """The records in ``metrics.jsonl``, one per epoch.

    Raises:
        FileNotFoundError: the folder has no ``metrics.jsonl`` (not a run folder, or no epoch finished).
        ValueError: a line is not a JSON record (naming the file and the line).
    """
    if not folder.metrics.is_file():
        raise FileNotFoundError(f"{folder.metrics}: no such file; expected a run folder written by `ltsnn train`")
    records = []
    for i, line in enumerate(folder.metrics.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{folder.metrics}, line {i}: damaged record ({e.msg}); expected one JSON object "
                             f"per epoch, as `ltsnn train` writes") from None
        if not isinstance(record, dict) or "epoch" not in record:
            raise ValueError(f"{folder.metrics}, line {i}: expected a JSON object with an 'epoch', got {line[:60]!r}")
        records.append(record)
    return records


def format_thresholds(thresholds: dict[str, float], fixed: Sequence[str]) -> str:
    """``features.2=1.000(fixed) features.5=1.032 ...``"""
    return " ".join(f"{n}={v:.3f}{'(fixed)' if n in fixed else ''}" for n, v in thresholds.items())


def epoch_record(task: Any, *, epoch: int, step: int, lr: float, train: dict[str, Any], test: dict[str, Any],
                 seconds: float, val: dict[str, Any] | None = None) -> Record:
    """The record of one epoch (see the module docstring) from the train, validation (if any) and test passes'
    results: ``train_*``, ``val_*`` and ``test_*`` keys say which split each number comes from."""
    thresholds, fixed = layer_thresholds(task.model)
    train = dict(train)

    def scores(prefix: str, result: dict[str, Any]) -> Record:
        return {f"{prefix}_{k}": v for k, v in result.items() if k not in ("firing_rates", "n")}
    return {"epoch": epoch, "step": step, "train_loss": train.pop("loss"),
            **{f"train_{k}": v for k, v in train.items()},
            **(scores("val", val) if val is not None else {}), **scores("test", test),
            "lr": lr, **task.state_dict(), "seconds": seconds, "thresholds": thresholds, "fixed_layers": fixed,
            "firing_rates": test["firing_rates"]}


def best_record(history: Sequence[Record], *, metric: str = "acc") -> Record | None:
    """The epoch that ``best.pt`` holds: the highest validation metric ``val_<metric>`` (accuracy; detection:
    ``map50``), on ties the lower validation loss, then the earliest; None for a run without a validation
    split. Never chosen on the test split.

    Example:
        >>> h = [{"epoch": 1, "val_acc": 0.8, "val_loss": 0.9}, {"epoch": 2, "val_acc": 0.8, "val_loss": 0.7}]
        >>> best_record(h)["epoch"]                             # a small validation set ties often
        2
    """
    if not history or f"val_{metric}" not in history[0]:
        return None
    return max(history, key=lambda r: (*validation_rank(r, metric), -r["epoch"]))


def validation_rank(record: Record, metric: str) -> tuple[float, float]:
    """How a record ranks for ``best.pt``: its validation metric, then its negated validation loss (ties in
    accuracy are common on a few hundred validation samples; the loss still tells the epochs apart)."""
    return record[f"val_{metric}"], -record.get("val_loss", 0.0)


def format_summary(history: Sequence[Record], *, root: Path, task: Any) -> str:
    """The lines printed at the end of a run: final test metric, best.pt's epoch with its validation and test
    metrics (in the task's words), final per-layer thresholds."""
    last, best = history[-1], best_record(history, metric=task.metric)
    seconds = sum(r["seconds"] for r in history)

    def value(r: Record, split: str = "test") -> str:
        return task.describe({k.removeprefix(f"{split}_"): v for k, v in r.items() if k.startswith(f"{split}_")})
    chosen = (f"best.pt: epoch {best['epoch']}, chosen on validation {value(best, 'val')}, test {value(best)}"
              if best is not None else "no validation split, so no best.pt")
    lines = [f"done: {last['epoch']} epochs ({seconds:.1f} s of training and testing); final test {value(last)}; "
             f"{chosen}; run folder {root}",
             "final thresholds per layer:"]
    for name, v in last["thresholds"].items():
        rate = last["firing_rates"].get(name)
        tag = "fixed" if name in last["fixed_layers"] else "learned"
        rate_text = f", firing rate {rate:.4f}" if rate is not None else ""
        lines.append(f"  {name:<24} {v:.4f} ({tag}{rate_text})")
    return "\n".join(lines)
