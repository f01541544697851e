"""What the results-table scripts of bench/ share: a run's metrics, its best.pt epoch, and a mean with its 95 %
Student-t interval over seeds. The scripts run as ``python bench/<script>.py``, which puts bench/ on the path.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776}                  # Student t quantiles, df = n - 1


def records(run: Path) -> list[dict]:
    """The epoch records of ``run``/metrics.jsonl."""
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def best(history: list[dict]) -> dict:
    """The epoch best.pt holds: the highest validation accuracy, ties to the lower validation loss, then the
    earlier epoch (as ltsnn.engine.metrics.validation_rank)."""
    return max(history, key=lambda r: (r["val_acc"], -r["val_loss"], -r["epoch"]))


def interval(values: list[float], scale: float = 100, digits: int = 2) -> str:
    """``mean ± half-width`` of the 95 % t-interval of ``values`` times ``scale`` (percent by default); empty
    for no values."""
    if not values:
        return ""
    m = statistics.fmean(values)
    if len(values) < 2:
        return f"{scale * m:.{digits}f} (n = 1)"
    half = T_975[len(values) - 1] * statistics.stdev(values) / math.sqrt(len(values))
    return f"{scale * m:.{digits}f} ± {scale * half:.{digits}f}"
