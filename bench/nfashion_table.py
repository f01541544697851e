"""The N-Fashion tables of docs/results.md (issue 13 item 5) from the run folders of bench/nfashion_ablations.sh.

    .venv/bin/python bench/nfashion_table.py runs/nfashion

Per row: test accuracy of best.pt (the epoch chosen on the validation split) as mean over seeds with a 95 %
t-interval (n - 1 degrees of freedom), the seeds' single values, the paired difference to `sgp` over the
seeds both ran (same seed: same initial weights and batch order, so the pairing removes most seed noise),
and the mean learned threshold of the last layer. Rows whose seeds are incomplete say how many ran.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from table_stats import best, interval, records

ROWS = {
    "(a) Table 2": ["sgp", "fixed", "stsg", "sgp_official", "penalty_for_all"],
    "(b) Table 8": ["sgp", "thlr"],
    "(c) Table 11": ["sgp", "arctan", "triangle", "piecewise"],
    "(d) SAWB": ["sgp", "sawb4"],
}
LABELS = {"sgp": "sgp (sigmoid weighting, one learning rate, float)", "thlr": "sgp, threshold lr 3e-5 (100× lower)",
          "sawb4": "sgp, 4-bit SAWB weights"}


def main(root: Path, epochs: int = 4) -> None:
    runs: dict[str, list[dict]] = {}
    for folder in sorted(root.iterdir()):
        if not (folder / "metrics.jsonl").is_file():
            continue
        history = records(folder)
        if len(history) < epochs:
            continue
        key = folder.name.rsplit("-s", 1)[0].split("-", 1)[1]           # a-sgp-s0 -> sgp, c-arctan-s1 -> arctan
        runs.setdefault(key, []).append({"seed": int(folder.name.rsplit("-s", 1)[1]), "best": best(history),
                                         "last": history[-1]})
    for title, keys in ROWS.items():
        print(f"\n### {title}\n\n| variant | seeds | best.pt test % (95 % CI) | per seed | last epoch test % | "
              f"− sgp, paired (pp) | last layer θ |\n|---|---:|---:|---|---:|---:|---:|")
        for k in keys:
            rs = sorted(runs.get(k, []), key=lambda r: r["seed"])
            if not rs:
                print(f"| {LABELS.get(k, k)} | 0 | not run | | | | |")
                continue
            accs = [r["best"]["test_acc"] for r in rs]
            lasts = [r["last"]["test_acc"] for r in rs]
            theta = statistics.fmean(list(r["last"]["thresholds"].values())[-1] for r in rs)
            base = {r["seed"]: r["best"]["test_acc"] for r in runs.get("sgp", [])}
            diffs = [r["best"]["test_acc"] - base[r["seed"]] for r in rs if r["seed"] in base]
            paired = "" if k == "sgp" or not diffs else interval(diffs)
            print(f"| {LABELS.get(k, k)} | {len(rs)} | {interval(accs)} | "
                  f"{', '.join(f'{100 * a:.2f}' for a in accs)} | {interval(lasts)} | {paired} | {theta:.3f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/nfashion"))
