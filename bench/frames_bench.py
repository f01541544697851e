"""Events -> count frames: ltsnn (numpy, torch CPU) against Tonic's ToFrame and SpikingJelly's frame integration.

A synthetic, seeded stream of 2,000,000 events on a 128x128 sensor (t sorted, t_0 = 0, t_last = 10^6 µs,
so the span divides by T = 10), T = 10 count frames of 2 polarity channels. Before timing, the script
asserts that every implementation gives the same frames under matched settings:

- SpikingJelly ``integrate_events_by_fixed_frames_number(split_by="number")``: slices of N // T events,
  the last one taking the rest; equal to our ``bin_by="count"`` (event i -> bin floor(i T / N)) when T
  divides N, as here.
- SpikingJelly ``split_by="time"``: windows of dt = span // T from t_0, the last frame taking every later
  event; equal to our ``bin_by="duration"`` when T divides the span, as here.
- Tonic ``ToFrame(n_time_bins=T)``: windows of span // T from t_0, and events at or after t_0 + T * (span // T)
  are in no frame (here: the events at t_last); equal to our ``bin_by="window"`` with that window and
  n_time_bins = T. Our ``"duration"`` frames differ from Tonic's by exactly those last events.

Then each implementation is timed round-robin (order shuffled each round) on the same input, after one
warm-up call each; the script prints the median and minimum times, events/s and ratios.

Run in the peers' venv (see docs/benchmarks.md for its setup)::

    OMP_NUM_THREADS=1 bench/.venv-peers/bin/python bench/frames_bench.py --rounds 15
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import random
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

from ltsnn.data import make_events, to_frames
from ltsnn.data.torch_frames import event_tensors, to_frames_torch

N_EVENTS, SENSOR, T, SPAN_US = 2_000_000, (128, 128), 10, 1_000_000


def synthetic_stream(seed: int) -> np.ndarray:
    """Events [N] uniform over the sensor and both polarities, sorted t in [0, SPAN_US] with both ends present."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, SPAN_US + 1, N_EVENTS))
    t[0], t[-1] = 0, SPAN_US
    return make_events(t, rng.integers(0, SENSOR[0], N_EVENTS), rng.integers(0, SENSOR[1], N_EVENTS),
                       rng.integers(0, 2, N_EVENTS))


def load_spikingjelly_utils():
    """spikingjelly.datasets.utils without the package's __init__, which imports torchvision (absent here).

    The frame integration is plain numpy; a stub ``torchvision.transforms`` satisfies the module's one
    torchvision import, which the functions timed here never use.
    """
    import spikingjelly
    stub = types.ModuleType("torchvision")
    stub.transforms = types.ModuleType("torchvision.transforms")
    sys.modules.setdefault("torchvision", stub)
    sys.modules.setdefault("torchvision.transforms", stub.transforms)
    package = types.ModuleType("spikingjelly.datasets")
    package.__path__ = [str(Path(spikingjelly.__file__).parent / "datasets")]
    sys.modules["spikingjelly.datasets"] = package
    spec = importlib.util.spec_from_file_location("spikingjelly.datasets.utils", Path(package.__path__[0]) / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    import tonic
    import tonic.transforms
    sj = load_spikingjelly_utils()

    events = synthetic_stream(args.seed)
    columns = {f: np.ascontiguousarray(events[f]) for f in "txyp"}          # SJ's input: a dict of columns
    tensors = event_tensors(events)                                        # our torch path's input (int64)
    window = SPAN_US // T
    tonic_to_frame = tonic.transforms.ToFrame(sensor_size=(*SENSOR, 2), n_time_bins=T)

    implementations = {
        "ltsnn numpy (count)": lambda: to_frames(events, sensor_size=SENSOR, n_time_bins=T, bin_by="count",
                                                 binary=False),
        "ltsnn numpy (duration)": lambda: to_frames(events, sensor_size=SENSOR, n_time_bins=T, binary=False),
        "ltsnn numpy (window)": lambda: to_frames(events, sensor_size=SENSOR, n_time_bins=T, bin_by="window",
                                                  window_us=window, binary=False),
        "ltsnn torch CPU (count)": lambda: to_frames_torch(*tensors, sensor_size=SENSOR, n_time_bins=T,
                                                           bin_by="count", binary=False),
        "ltsnn torch CPU (duration)": lambda: to_frames_torch(*tensors, sensor_size=SENSOR, n_time_bins=T,
                                                              binary=False),
        "tonic ToFrame(n_time_bins)": lambda: tonic_to_frame(events),
        "spikingjelly split_by=number": lambda: sj.integrate_events_by_fixed_frames_number(
            columns, "number", T, SENSOR[1], SENSOR[0]),
        "spikingjelly split_by=time": lambda: sj.integrate_events_by_fixed_frames_number(
            columns, "time", T, SENSOR[1], SENSOR[0]),
    }
    # Same frames under matched settings (see the module docstring).
    outputs = {name: np.asarray(fn(), dtype=np.float64) for name, fn in implementations.items()}
    matches = [("ltsnn numpy (count)", "spikingjelly split_by=number"), ("ltsnn numpy (duration)", "spikingjelly split_by=time"),
               ("ltsnn numpy (window)", "tonic ToFrame(n_time_bins)"), ("ltsnn numpy (count)", "ltsnn torch CPU (count)"),
               ("ltsnn numpy (duration)", "ltsnn torch CPU (duration)")]
    for ours, theirs in matches:
        if not np.array_equal(outputs[ours], outputs[theirs]):
            raise SystemExit(f"frames differ: {ours} vs {theirs}")
        print(f"same frames: {ours} == {theirs}  (shape {outputs[ours].shape}, {int(outputs[ours].sum()):,} events)")
    left_out = outputs["ltsnn numpy (duration)"] - outputs["tonic ToFrame(n_time_bins)"]
    at_end = int((events["t"] >= window * T).sum())
    print(f"ltsnn duration - tonic: {int(left_out.sum())} events, all in the last frame: "
          f"{bool(left_out[:-1].sum() == 0)}; events at t >= t_0 + T * (span // T): {at_end}")

    times = {name: [] for name in implementations}
    order = list(implementations)
    for _ in range(args.rounds):
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            implementations[name]()
            times[name].append(time.perf_counter() - start)

    reference = np.median(times["ltsnn numpy (count)"])
    tonic_median = np.median(times["tonic ToFrame(n_time_bins)"])
    print(f"\n{N_EVENTS:,} events, {SENSOR[0]}x{SENSOR[1]}, T = {T}, {args.rounds} rounds, "
          f"torch threads {torch.get_num_threads()}; python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__}, tonic {tonic.__version__}")
    print("| implementation | median ms | min ms | Mevents/s (median) | median / ltsnn numpy (count) | tonic median / this median |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in implementations:
        median, best = np.median(times[name]), np.min(times[name])
        print(f"| {name} | {median * 1e3:.1f} | {best * 1e3:.1f} | {N_EVENTS / median / 1e6:.1f} | "
              f"{median / reference:.2f} | {tonic_median / median:.1f} |")


if __name__ == "__main__":
    main()
