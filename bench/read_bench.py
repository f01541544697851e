"""Hand-run benchmark: event-file reading throughput (events/s), ltsnn against the best available decoder.

For one real recording per format (from ``../shared/fixtures``), reads the whole file into memory
with ``ltsnn.data.io.read_events`` and with its peer, alternating the two in every round, and
reports the median and minimum time over the rounds and the events/s at the median:

- EVT 2.0, EVT 3.0, DAT: ``expelliarmus.Wizard(encoding=...).read`` (GPL: benchmark only);
- AEDAT 4: ``aedat.Decoder`` (MIT, Rust), concatenating the ``events`` packets;
- ATIS ``.bin``: no packaged decoder (tonic's is 6 lines of numpy); ltsnn only.

Note that expelliarmus 1.1.12 decodes EVT 3.0 times differently (see the fixtures' PROVENANCE.md),
so its EVT3 row times a decoder that does less state handling. Run in the peers' venv::

    OMP_NUM_THREADS=1 bench/.venv-peers/bin/python bench/read_bench.py --rounds 15
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from ltsnn.data.io import read_events

CASES = [  # (format, fixture, peer)
    ("ATIS .bin", "nmnist/tonic_sample_nmnist.bin", None),
    ("DAT (CD)", "prophesee_dat/faery_gen4_imx636.dat", "expelliarmus:dat"),
    ("EVT 2.0", "prophesee_raw/expelliarmus_evt2_sample_gen3.raw", "expelliarmus:evt2"),
    ("EVT 3.0", "prophesee_raw/faery_evt3_imx636_evk4.raw", "expelliarmus:evt3"),
    ("AEDAT 4 (LZ4)", "aedat4/aermanager_data_sample.aedat4", "aedat"),
]


def peer_reader(peer: str | None):
    """A function path -> number of events, or None when the peer is not installed."""
    if peer is None:
        return None
    try:
        if peer.startswith("expelliarmus"):
            from expelliarmus import Wizard
            wizard = Wizard(encoding=peer.split(":")[1])
            return lambda path: len(wizard.read(path))
        import aedat
        return lambda path: sum(len(p["events"]) for p in aedat.Decoder(path) if "events" in p)
    except ModuleNotFoundError:
        return None


def timed(read, path) -> tuple[float, int]:
    start = time.perf_counter()
    n = read(path)
    return time.perf_counter() - start, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", default=os.environ.get("LTSNN_FIXTURES", Path(__file__).resolve().parents[2]
                                                             / "shared" / "fixtures"))
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, {args.rounds} rounds, {time.strftime('%Y-%m-%d')}")
    print("| format | file | events | ltsnn median ms (min) | ltsnn Mev/s | peer | peer median ms (min) | peer Mev/s |")
    print("|---|---|---:|---:|---:|---|---:|---:|")
    for fmt, name, peer in CASES:
        path = str(Path(args.fixtures) / name)
        ours = lambda p: len(read_events(p).events)           # noqa: E731
        theirs = peer_reader(peer)
        ours(path)
        if theirs is not None:
            theirs(path)                                         # warm the page cache and imports
        times = {"ltsnn": [], "peer": []}
        counts = {}
        for round_ in range(args.rounds):
            order = [("ltsnn", ours), ("peer", theirs)] if round_ % 2 == 0 else [("peer", theirs), ("ltsnn", ours)]
            for label, read in order:
                if read is not None:
                    seconds, counts[label] = timed(read, path)
                    times[label].append(seconds)
        n = counts["ltsnn"]
        row = f"| {fmt} | `{name.split('/')[-1]}` | {n:,} | "
        med = statistics.median(times["ltsnn"])
        row += f"{1e3 * med:.1f} ({1e3 * min(times['ltsnn']):.1f}) | {n / med / 1e6:.1f} | "
        if times["peer"]:
            med_p = statistics.median(times["peer"])
            row += (f"{peer} | {1e3 * med_p:.1f} ({1e3 * min(times['peer']):.1f}) | {counts['peer'] / med_p / 1e6:.1f} |")
        else:
            row += "— | — | — |"
        print(row)


if __name__ == "__main__":
    main()
