"""Emulated digits against the 1,000 real N-MNIST recordings: the statistics table and figure of docs/datasets.md.

The emulated set is the 1,797 UCI digits of ``ndigits`` (8x8, upsampled to 20x20, MNIST's digit box,
on a 34x34 sensor): MNIST itself is not available here. Each setting of the emulator is compared with
``nmnist_small`` (real ATIS recordings) on: events per sample, ON share, active pixels, the share of
isolated events (no event at any of the 8 neighbours in the same or an adjacent 10 ms bin: the
usual background-activity criterion, so mostly noise), and the events-over-time histogram (5 ms bins
over 0-320 ms, compared by total-variation distance).

Run (about a minute at one thread)::

    OMP_NUM_THREADS=1 python bench/emulator_calibration.py --real ../shared/fixtures/nmnist_small \\
        --figure docs/figures/emulator_vs_nmnist.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ltsnn.data.datasets.ndigits import EMULATOR, EMULATOR_SEED, load_digits
from ltsnn.data.datasets.nmnist_small import read_labels
from ltsnn.data.io import read_atis_sample
from ltsnn.data.simulate import NMNIST_SENSOR, simulate_saccades

BIN_US = 5000
EDGES = np.arange(0, 320_001, BIN_US)
SIDE = 34


def isolated_share(events: np.ndarray, *, bin_us: int = 10_000) -> float:
    """Share of events with no event at any of their 8 neighbours in the same or an adjacent ``bin_us`` bin."""
    b = (events["t"] // bin_us).astype(np.int64)
    x, y = events["x"].astype(np.int64) + 1, events["y"].astype(np.int64) + 1
    grid = np.zeros((b.max() + 3, SIDE + 2, SIDE + 2), dtype=np.int32)     # one bin and one pixel of padding
    np.add.at(grid, (b + 1, y, x), 1)
    near = sum(np.roll(grid, (dt, dy, dx), axis=(0, 1, 2)) for dt in (-1, 0, 1) for dy in (-1, 0, 1)
               for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
    return float(np.mean(near[b + 1, y, x] == 0))


def statistics(recordings: list[np.ndarray]) -> dict:
    counts = np.array([len(e) for e in recordings])
    t = np.concatenate([e["t"] for e in recordings])
    active = [len(np.unique(e["y"].astype(np.int64) * SIDE + e["x"])) for e in recordings]
    return {"events": counts, "on": np.array([e["p"].mean() for e in recordings]),
            "active": np.array(active), "isolated": np.array([isolated_share(e) for e in recordings]),
            "profile": np.histogram(t, bins=EDGES)[0] / len(t)}


def real_recordings(root: Path) -> list[np.ndarray]:
    ids, _ = read_labels(root / "train1K.txt")
    return [read_atis_sample(str(root / f"{i}.bs2")).events for i in ids]


def emulated_recordings(settings: dict) -> list[np.ndarray]:
    images, _ = load_digits()
    return simulate_saccades(images.astype(np.float32) / 16, rng=np.random.default_rng(EMULATOR_SEED), **settings)


def table(rows: dict[str, dict], real: dict) -> str:
    lines = ["| statistic | " + " | ".join(rows) + " |", "|---|" + "---|" * len(rows)]
    def cell(s, key):
        v = s[key]
        return f"{v.mean():,.0f} (5-95%: {np.percentile(v, 5):,.0f}-{np.percentile(v, 95):,.0f})" if key == "events" \
            else f"{v.mean():.1f}" if key == "active" else f"{100 * v.mean():.1f}%"
    for key, name in (("events", "events per sample"), ("on", "ON share"), ("active", "active pixels"),
                      ("isolated", "isolated events")):
        lines.append(f"| {name} | " + " | ".join(cell(s, key) for s in rows.values()) + " |")
    tv = [0.5 * np.abs(s["profile"] - real["profile"]).sum() for s in rows.values()]
    lines.append("| time profile, TV distance to real | " + " | ".join(f"{d:.3f}" for d in tv) + " |")
    return "\n".join(lines)


def figure(rows: dict[str, dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    centres = (EDGES[:-1] + BIN_US / 2) / 1000
    for name, s in rows.items():
        axes[0].plot(centres, 100 * s["profile"], label=name)
        axes[1].hist(s["events"], bins=np.arange(0, 9001, 250), histtype="step", density=True, label=name)
        axes[2].hist(100 * s["isolated"], bins=np.linspace(0, 10, 41), histtype="step", density=True, label=name)
    axes[0].set(xlabel="time (ms)", ylabel=f"% of events per {BIN_US // 1000} ms", title="events over time")
    axes[1].set(xlabel="events per sample", ylabel="density", title="events per sample")
    axes[2].set(xlabel="% isolated events in a sample", ylabel="density", title="noise (isolated events)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, required=True, help="the nmnist_small folder")
    parser.add_argument("--figure", type=Path, help="write the comparison figure (PNG) here")
    parser.add_argument("--try", dest="extra", type=json.loads, action="append", default=[],
                        help="another emulator setting to compare, as JSON overrides of the calibrated one")
    args = parser.parse_args()
    real = statistics(real_recordings(args.real))
    rows = {"real N-MNIST (1,000)": real, "emulator, ndigits defaults": statistics(emulated_recordings(EMULATOR)),
            "emulator, calibrated": statistics(emulated_recordings({**EMULATOR, **NMNIST_SENSOR}))}
    for extra in args.extra:
        rows[json.dumps(extra)] = statistics(emulated_recordings({**EMULATOR, **NMNIST_SENSOR, **extra}))
    print(table(rows, real))
    if args.figure:
        figure({k: v for k, v in rows.items() if not k.startswith("{")}, args.figure)


if __name__ == "__main__":
    main()
