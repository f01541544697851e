"""The robustness tables of docs/results.md (issue 16 item 5) from the run folders of bench/robust_fashion.sh.

    .venv/bin/python bench/robust_table.py runs/robust_study

Per coding (ann, direct, poisson, rsc): the full test split's accuracy of best.pt, then PGD-10 L-inf accuracy
at each radius on the first test images (attack.json), as the mean over seeds with a 95 % t-interval; the
gradient-masking checks (the largest radius, 4x the steps, a transfer attack from the ANN of the same seed);
and the RSC network's certified accuracy at each L2 radius (certify.json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from table_stats import best, interval, records

CODINGS = {"ann": "ANN (QCFS, T = 1)", "direct": "SNN, direct coding", "poisson": "SNN, Poisson coding",
           "rsc": "SNN, RSC (σ = 0.25)"}


def runs(root: Path, coding: str) -> list[Path]:
    return sorted(p for p in root.glob(f"{coding}-s*") if p.is_dir())


def table(run: Path, name: str) -> dict[float, float] | None:
    path = run / f"{name}.json"
    if not path.is_file():
        return None
    key = "eps" if name.startswith("attack") else "radius"
    value = "accuracy" if name.startswith("attack") else "certified_accuracy"
    return {r[key]: r[value] for r in json.loads(path.read_text())["rows"]}


def cells(folders: list[Path], name: str, keys: list[float]) -> list[str]:
    tables = [t for t in (table(f, name) for f in folders) if t is not None]
    return [interval([t[k] for t in tables]) if tables and all(k in t for t in tables) else "" for k in keys]


def main(root: Path) -> None:
    attacks = [json.loads((f / "attack.json").read_text()) for c in CODINGS for f in runs(root, c)
               if (f / "attack.json").is_file()]
    first, eot = attacks[0], max(a["eot"] for a in attacks)
    eps = [r["eps"] for r in first["rows"]]
    print(f"\n### Clean and PGD-{first['steps']} L∞ accuracy (%), EoT {eot} for the stochastic codings, "
          f"first {first['rows'][0]['n']} test images\n")
    print("| model | seeds | clean, full test | " + " | ".join(f"ε = {e:g}" for e in eps) + " |")
    print("|---|---:|---:|" + "---:|" * len(eps))
    for c, label in CODINGS.items():
        folders = [f for f in runs(root, c) if (f / "metrics.jsonl").is_file()]
        clean = interval([best(records(f))["test_acc"] for f in folders]) if folders else "not run"
        print(f"| {label} | {len(folders)} | {clean} | " + " | ".join(cells(folders, "attack", eps)) + " |")

    print("\n### Gradient-masking checks (accuracy %, mean over the seeds that ran them)\n")
    print("| model | check | seeds | ε | white-box PGD-10 | the check |\n|---|---|---:|---:|---:|---:|")
    for c, label in CODINGS.items():
        folders = runs(root, c)
        for name, what in (("attack-steps40", "PGD-40 (more steps)"), ("attack-eot16", "PGD-10, EoT 16 (more draws)"),
                           ("attack-transfer", "PGD-10 on the ANN, transferred")):
            ran = [f for f in folders if table(f, name) is not None]
            if not ran:
                continue
            for e in sorted(table(ran[0], name)):
                white, check = cells(ran, "attack", [e])[0], cells(ran, name, [e])[0]
                print(f"| {label} | {what} | {len(ran)} | {e:g} | {white} | {check} |")

    certified = [f for f in runs(root, "rsc") if table(f, "certify") is not None]
    if certified:
        settings = json.loads((certified[0] / "certify.json").read_text())
        radii = sorted(table(certified[0], "certify"))
        print(f"\n### RSC-SNN certified accuracy (%), σ = {settings['sigma']:g} (the encoder's own noise), "
              f"n = {settings['n']}, n0 = {settings['n0']}, α = {settings['alpha']:g}, first "
              f"{settings['rows'][0]['n']} test images\n")
        print("| seeds | " + " | ".join(f"r = {r:g}" for r in radii) + " |\n|---:|" + "---:|" * len(radii))
        print(f"| {len(certified)} | " + " | ".join(cells(certified, "certify", radii)) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/robust_study"))
