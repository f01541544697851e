"""The attention table of docs/results.md (issue 15 item 5) from the run folders of bench/attention_study.sh.

    .venv/bin/python bench/attention_table.py runs/attention_study

Per model: parameters, the test accuracy of best.pt (chosen on validation when the run has a validation
split) as the mean over seeds with a 95 % t-interval, its paired difference to the baseline of the same seed
(same data order), and from each run's report (`ltsnn report`, written at
the end of training from last.pt): spikes per test sample (sum over the spiking layers of firing rate x
neurons x T; also as a ratio to the same seed's baseline), activation sparsity, synaptic operations (SOPs,
accumulates), MACs and energy per sample.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from table_stats import best, interval, records

MODELS = {"baseline": "gesture_vgg (no attention)", "ta": "ta_vgg (TA)", "ma": "ma_vgg (MA: T, C, S)",
          "asa": "asa_vgg (ASA)", "sdt": "sdt_tiny (Spike-driven Transformer)", "trevsnn": "trevsnn_tiny (T-RevSNN)"}


def spikes(report: dict) -> float:
    t = report["synaptic"]["time_steps"]
    return sum(n["firing_rate"] * n["neurons"] * t for n in report["neurons"].values())


def main(root: Path) -> None:
    print("| model | params | seeds | test acc % (95 % CI) | per seed | − baseline, paired (pp) | best.pt = last epoch "
          "| spikes / sample | spikes ÷ baseline's | activation sparsity | SOPs / sample (M) | MACs / sample (M) "
          "| energy µJ |")
    print("|---|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|")
    base: dict[int, tuple[float, float]] = {}                   # seed -> the baseline's (accuracy, spikes)
    for key, label in MODELS.items():
        folders = sorted(f for f in root.glob(f"{key}-s*") if (f / "report" / "report.json").is_file())
        if not folders:
            continue
        seeds = [int(f.name.rsplit("-s", 1)[1]) for f in folders]
        histories = [records(f) for f in folders]
        reports = [json.loads((f / "report" / "report.json").read_text()) for f in folders]
        accs, counts = [best(h)["test_acc"] for h in histories], [spikes(r) for r in reports]
        if key == "baseline":
            base = dict(zip(seeds, zip(accs, counts)))
        paired = [(a - base[s][0], c / base[s][1]) for s, a, c in zip(seeds, accs, counts) if s in base]
        same = sum(best(h)["epoch"] == h[-1]["epoch"] for h in histories)
        total = [r["synaptic"]["total"] for r in reports]
        diff = interval([d for d, _ in paired]) if paired and key != "baseline" else ""
        ratio = interval([q for _, q in paired], 1, 2) if paired and key != "baseline" else ""
        print(f"| {label} | {reports[0]['size']['parameters']:,} | {len(folders)} | {interval(accs)} | "
              f"{', '.join(f'{100 * a:.2f}' for a in accs)} | {diff} | {same} of {len(folders)} | "
              f"{interval(counts, 1, 0)} | {ratio} | "
              f"{interval([r['neurobench']['activation_sparsity'] for r in reports], 1, 3)} | "
              f"{interval([t['sops'] / 1e6 for t in total], 1, 3)} | {interval([t['macs'] / 1e6 for t in total], 1, 3)} | "
              f"{interval([t['snn_energy_pj'] / 1e6 for t in total], 1, 2)} |")

if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/attention_study"))
