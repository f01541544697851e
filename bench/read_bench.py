"""Hand-run benchmark: event-file reading throughput (events/s), ltsnn against the best available decoder.

For one real recording per format (from ``../shared/fixtures``), reads the whole file into memory
with ``ltsnn.data.io.read_events`` on its compiled (numba) path, on its numpy path
(``LTSNN_IO_NUMPY=1``) and with its peer, round-robin in every round (the order rotates), and
reports the median and minimum time over the rounds, the events/s at the median and the ratio of
the peer's median time to ltsnn's (> 1: ltsnn is faster):

- EVT 2.0, EVT 3.0, DAT: ``expelliarmus.Wizard(encoding=...).read`` (GPL: benchmark only);
- AEDAT 4: ``aedat.Decoder`` (MIT, Rust), concatenating the ``events`` packets;
- ATIS ``.bin``: no packaged decoder (tonic's is 6 lines of numpy); ltsnn only.

The numba kernels are compiled (or loaded from the on-disk cache) before timing; the first line
says how long that took. Note that expelliarmus 1.1.12 decodes EVT 3.0 times differently (see the
fixtures' PROVENANCE.md), so its EVT3 row times a decoder that does less state handling. Run in the
peers' venv, at 1 and 2 threads::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=. bench/.venv-peers/bin/python bench/read_bench.py --rounds 15
    OMP_NUM_THREADS=2 NUMBA_NUM_THREADS=2 PYTHONPATH=. bench/.venv-peers/bin/python bench/read_bench.py --rounds 15
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
from ltsnn.data.io.jit import NUMPY_ENV

CASES = [  # (format, fixture, peer)
    ("ATIS .bin", "nmnist/tonic_sample_nmnist.bin", None),
    ("DAT (CD)", "prophesee_dat/faery_gen4_imx636.dat", "expelliarmus:dat"),
    ("EVT 2.0", "prophesee_raw/expelliarmus_evt2_sample_gen3.raw", "expelliarmus:evt2"),
    ("EVT 3.0", "prophesee_raw/faery_evt3_imx636_evk4.raw", "expelliarmus:evt3"),
    ("EVT 3.0 (vectors)", "prophesee_raw/expelliarmus_evt3_sample_gen41.raw", "expelliarmus:evt3"),
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


def ltsnn_reader(numpy_path: bool):
    def read(path) -> int:
        if numpy_path:
            os.environ[NUMPY_ENV] = "1"
        try:
            return len(read_events(path).events)
        finally:
            os.environ.pop(NUMPY_ENV, None)
    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", default=os.environ.get("LTSNN_FIXTURES", Path(__file__).resolve().parents[2]
                                                             / "shared" / "fixtures"))
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    start = time.perf_counter()
    for _, name, _ in CASES:
        read_events(str(Path(args.fixtures) / name))           # compile the kernels or load them from the cache
    warm = time.perf_counter() - start
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, {args.rounds} rounds, {time.strftime('%Y-%m-%d')}, "
          f"first read of every file (numba compile or cache load included) {warm:.2f} s")
    print("| format | file | events | ltsnn numba ms (min) | Mev/s | ltsnn numpy ms | peer | peer ms (min) | Mev/s "
          "| peer ms / ltsnn ms |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for fmt, name, peer in CASES:
        path = str(Path(args.fixtures) / name)
        readers = {"numba": ltsnn_reader(False), "numpy": ltsnn_reader(True)}
        theirs = peer_reader(peer)
        if theirs is not None:
            readers["peer"] = theirs
        for read in readers.values():
            read(path)                                             # warm the page cache and imports
        times = {label: [] for label in readers}
        counts = {}
        labels = list(readers)
        for round_ in range(args.rounds):
            for label in labels[round_ % len(labels):] + labels[:round_ % len(labels)]:
                seconds, counts[label] = timed(readers[label], path)
                times[label].append(seconds)
        med = {label: statistics.median(values) for label, values in times.items()}
        n = counts["numba"]
        row = (f"| {fmt} | `{name.split('/')[-1]}` | {n:,} | {1e3 * med['numba']:.1f} "
               f"({1e3 * min(times['numba']):.1f}) | {n / med['numba'] / 1e6:.1f} | {1e3 * med['numpy']:.1f} | ")
        if "peer" in med:
            row += (f"{peer} | {1e3 * med['peer']:.1f} ({1e3 * min(times['peer']):.1f}) | "
                    f"{counts['peer'] / med['peer'] / 1e6:.1f} | {med['peer'] / med['numba']:.2f} |")
        else:
            row += "— | — | — | — |"
        print(row)


if __name__ == "__main__":
    main()
