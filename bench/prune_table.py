"""The pruning table of docs/results.md (issue 16 item 5) from the run folders of bench/prune_fashion.sh.

    .venv/bin/python bench/prune_table.py runs/prune_study

One row per criterion and rewinding, one column per round's sparsity: the test accuracy of the checkpoint
chosen on the validation split (prune.json), mean over seeds with a 95 % t-interval; then the paired
differences (same seed: same dense run, same data order) sf - magnitude and no rewinding - rewinding at each
sparsity.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from table_stats import interval

VARIANTS = {("magnitude", "epoch1"): "magnitude, rewound to epoch 1", ("magnitude", "none"): "magnitude, no rewinding",
            ("sf", "epoch1"): "sf (spiking firing), rewound to epoch 1", ("sf", "none"): "sf, no rewinding"}


def rounds(root: Path, criterion: str, rewind: str) -> dict[int, list[dict]]:
    """seed -> the rows of prune.json of that variant."""
    out = {}
    for folder in sorted(root.glob(f"{criterion}-{rewind}-s*")):
        path = folder / "prune.json"
        if path.is_file():
            out[int(folder.name.rsplit("-s", 1)[1])] = json.loads(path.read_text())["rounds"]
    return out


def main(root: Path) -> None:
    found = {v: rounds(root, *v) for v in VARIANTS}
    n_rounds = max((len(rs) for seeds in found.values() for rs in seeds.values()), default=0)
    if not n_rounds:
        sys.exit(f"{root}: no prune.json under */; run bench/prune_fashion.sh first")
    sparsity = next(rs for seeds in found.values() for rs in seeds.values() if len(rs) == n_rounds)
    head = " | ".join(f"{100 * r['sparsity']:.1f} %" for r in sparsity)
    print(f"\n### Test accuracy (%) against sparsity of the prunable weights\n\n| criterion, rewinding | seeds | {head} |")
    print("|---|---:|" + "---:|" * n_rounds)
    for v, label in VARIANTS.items():
        seeds = found[v]
        row = [interval([rs[k]["test_acc"] for rs in seeds.values() if len(rs) > k]) if seeds else ""
               for k in range(n_rounds)]
        print(f"| {label} | {len(seeds)} | " + " | ".join(row) + " |")
    print("\n### Paired by seed (percentage points)\n\n| difference | seeds | " + head + " |")
    print("|---|---:|" + "---:|" * n_rounds)
    for label, a, b in (("sf − magnitude, rewound to epoch 1", ("sf", "epoch1"), ("magnitude", "epoch1")),
                        ("sf − magnitude, no rewinding", ("sf", "none"), ("magnitude", "none")),
                        ("no rewinding − rewound, magnitude", ("magnitude", "none"), ("magnitude", "epoch1")),
                        ("no rewinding − rewound, sf", ("sf", "none"), ("sf", "epoch1"))):
        x, y = found[a], found[b]
        common = sorted(set(x) & set(y))
        row = [interval([x[s][k]["test_acc"] - y[s][k]["test_acc"] for s in common
                         if len(x[s]) > k and len(y[s]) > k]) for k in range(n_rounds)]
        print(f"| {label} | {len(common)} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/prune_study"))
