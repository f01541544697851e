"""``ltsnn data prepare | inspect``: build a data set's frame cache; look at one event file.

    ltsnn data prepare NAME [--root DIR] [--workers N] [key=value ...]
    ltsnn data inspect FILE [--format FMT] [--bins T] [--out PNG_OR_DIR]      # default: FILE.png beside FILE

``prepare`` takes the same data keys as ``ltsnn train`` (``n_time_bins=10``, ``cache_dir=...``, or
any data set / frame option such as ``binary=false``, ``size=[48,48]``, ``split_rule=ltsnn_random``),
so the caches it writes are the ones a training run with those keys reads.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ltsnn.cli.common import UsageError, show_progress

if TYPE_CHECKING:                                               # numpy is imported where it is used: --help stays light
    import numpy as np


def add_commands(sub) -> None:
    """Register ``data prepare`` and ``data inspect`` on the ``ltsnn`` sub-parser ``sub``."""
    d = sub.add_parser("data", description="Work with event data sets and files.")
    commands = d.add_subparsers(dest="data_command", required=True)

    p = commands.add_parser("prepare", help="build the frame caches of a data set's train and test splits",
                            description="Compute the frames of both splits once and keep them in the frame cache "
                                        "(data.cache_dir; default $LTSNN_CACHE, else ~/.cache/ltsnn), so that "
                                        "`ltsnn train` with the same keys reads them. An existing cache is checked "
                                        "in full (sha256) instead of rebuilt.")
    p.add_argument("name", help="a data set name (see `ltsnn models`)")
    p.add_argument("--root", default="", help="the data set's folder")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="processes computing frames (default: %(default)s, the CPU count)")
    p.add_argument("items", nargs="*", metavar="key=value",
                   help="data keys (n_time_bins, bin_by, seed, cache_dir) or data set / frame options")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress bars (default: %(default)s, on a terminal)")
    p.set_defaults(run=_cmd_prepare)

    i = commands.add_parser("inspect", help="print an event file's statistics and draw its frames",
                            description="Read FILE with any supported reader; print event count, resolution, "
                                        "duration, event rate and ON/OFF balance; write a PNG of T frames.")
    i.add_argument("file", metavar="FILE")
    i.add_argument("--format", default=None, help="reader to use (default: from the header and suffix; "
                                                   "CIFAR10-DVS files need --format cifar10dvs)")
    i.add_argument("--bins", type=int, default=8, metavar="T", help="frames in the picture (default: %(default)s)")
    i.add_argument("--out", default=None, metavar="PNG_OR_DIR",
                   help="picture path, or a folder to write FILE's name + .png into (default: beside FILE)")
    i.set_defaults(run=_cmd_inspect)


# ---------------------------------------------------------------------------------------------- prepare

def _cmd_prepare(args: argparse.Namespace) -> int:
    from ltsnn.build import build_dataset                  # the same data set as `ltsnn train` builds
    from ltsnn.config import load_config
    from ltsnn.data.cache import verify_cache

    if args.workers < 0:
        raise UsageError(f"data prepare: --workers is {args.workers}; expected >= 0")
    cfg = load_config(None, [f"data.name={args.name}", f"data.root={args.root}",
                             *(_data_override(item) for item in args.items)], source="ltsnn data prepare")
    # The whole training split is cached (the validation split is a view of it, drawn when a run starts).
    data = dataclasses.replace(cfg.data, num_workers=args.workers, cache=True, val_fraction=0.0)
    for split in ("train", "test"):
        start = time.perf_counter()
        dataset = build_dataset(data, split=split, progress=show_progress(args.progress))
        if getattr(dataset, "cache_file", None) is None:
            raise UsageError(f"data prepare: {args.name} has no files to cache (its frames are computed in memory)")
        frames = dataset.frames
        if dataset.from_cache:
            problem = verify_cache(dataset.cache_file)
            if problem is not None:
                raise ValueError(f"frame cache {dataset.cache_file}: {problem}; delete it and run prepare again")
            how = "already there, sha256 verified"
        else:
            how = f"built in {time.perf_counter() - start:.1f} s"
        print(f"{args.name} {split}: {len(dataset)} samples, frames {frames.dtype} {list(frames.shape)} "
              f"({frames.nbytes / 1e6:.1f} MB), {how}")
    return 0


def _data_override(item: str) -> str:
    """``key=value`` -> ``data.key=value`` for a data key, else ``data.options.key=value``."""
    from ltsnn.config import DataConfig

    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"data prepare: expected key=value, got {item!r}")
    key = key.strip().removeprefix("data.")
    fields = {f.name for f in dataclasses.fields(DataConfig)}
    if key in ("name", "root"):
        raise UsageError(f"data prepare: give the data set as NAME and its folder as --root, not {key}=")
    return f"data.{key}={value}" if key.split(".")[0] in fields else f"data.options.{key}={value}"


# ---------------------------------------------------------------------------------------------- inspect

MAX_INSPECT_BINS = 64                                           # panels in one picture; more are unreadable

def _cmd_inspect(args: argparse.Namespace) -> int:
    from ltsnn.data.io import detect_format, read_events

    if not 1 <= args.bins <= MAX_INSPECT_BINS:
        raise UsageError(f"data inspect: --bins is {args.bins}; expected 1 to {MAX_INSPECT_BINS} (one panel per bin)")
    path = Path(args.file)
    fmt = args.format or detect_format(path)
    recording = read_events(path, format=fmt)
    events = recording.events
    for line in describe_events(events, recording.sensor_size, name=f"{path} ({fmt})"):
        print(line)
    out = _picture_path(path, args.out)
    if len(events) == 0:
        print("no events: no picture written")
        return 0
    write_frames_png(events, recording.sensor_size, out, n_time_bins=args.bins, title=f"{path.name} ({fmt})")
    print(f"frames: {out}")
    return 0


def _picture_path(path: Path, out: str | None) -> Path:
    """Where ``data inspect`` draws ``path``: ``out`` as given, ``out/<name>.png`` for a folder, else beside the
    file (never the working directory, which is often a repository)."""
    picture = path.name + ".png"
    if out is None:
        folder = path.parent
        if not os.access(folder, os.W_OK):
            raise UsageError(f"data inspect: cannot write {folder / picture} (the folder is read-only); "
                             f"give --out PNG or --out DIR")
        return folder / picture
    return Path(out) / picture if out.endswith(os.sep) or Path(out).is_dir() else Path(out)


def describe_events(events: np.ndarray, sensor_size: tuple[int, int] | None, *, name: str) -> list[str]:
    """Lines that describe a recording: count, resolution, duration, event rate, ON/OFF balance, time order."""
    n = len(events)
    import numpy as np

    lines = [name, f"  events      {n:,}"]
    extent = f"x {events['x'].min()}..{events['x'].max()}, y {events['y'].min()}..{events['y'].max()}" if n else ""
    stated = f"{sensor_size[0]}x{sensor_size[1]} (W x H, from the header)" if sensor_size else "not stated in the file"
    lines.append(f"  resolution  {stated}" + (f"; events at {extent}" if n else ""))
    if n == 0:
        return lines
    t = events["t"]
    span_us = int(t.max() - t.min())
    lines.append(f"  duration    {span_us / 1e3:,.3f} ms (t {int(t.min()):,} .. {int(t.max()):,} µs)")
    rate = f"{n / (span_us / 1e6):,.0f} events/s" if span_us else "undefined (all events at one time)"
    lines.append(f"  event rate  {rate}")
    on = int(events["p"].sum())
    lines.append(f"  polarity    ON {on:,} ({100 * on / n:.1f}%), OFF {n - on:,} ({100 * (n - on) / n:.1f}%)")
    decreases = int(np.count_nonzero(t[1:] < t[:-1]))
    lines.append("  time order  non-decreasing" if decreases == 0 else
                 f"  time order  decreases {decreases:,} times (the picture uses the events sorted by time)")
    return lines


def write_frames_png(events: np.ndarray, sensor_size: tuple[int, int] | None, out: Path, *, n_time_bins: int,
                     title: str) -> None:
    """Draw T equal-duration frames of event counts side by side: OFF in red, ON in green.

    The sensor is the header's, else the events' extent (max x + 1, max y + 1). Brightness is the square
    root of the count over the 90th percentile of the recording's non-zero counts (capped at 1), so that
    a few hot pixels do not leave the rest black.
    """
    import matplotlib
    import numpy as np
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ltsnn.data.functional import to_frames
    from ltsnn.data.io import MAX_SENSOR_SIDE

    if sensor_size is None:
        sensor_size = (int(events["x"].max()) + 1, int(events["y"].max()) + 1)
        if max(sensor_size) > MAX_SENSOR_SIDE:                 # a corrupt coordinate, not a sensor
            raise ValueError(f"{title}: events reach x={sensor_size[0] - 1}, y={sensor_size[1] - 1} and the file "
                             f"states no sensor size; expected coordinates below {MAX_SENSOR_SIDE}")
    ordered = events[np.argsort(events["t"], kind="stable")]
    counts = to_frames(ordered, sensor_size=sensor_size, n_time_bins=n_time_bins, bin_by="duration", binary=False)
    nonzero = counts[counts > 0]
    scale = float(np.percentile(nonzero, 90)) if nonzero.size else 1.0
    t0, span = int(ordered["t"][0]), int(ordered["t"][-1] - ordered["t"][0])
    width, height = sensor_size
    columns = min(n_time_bins, 4)
    rows = -(-n_time_bins // columns)
    aspect = width / height
    panel_w, panel_h = (3.0 * aspect, 3.0) if aspect <= 1.5 else (4.5, 4.5 / aspect)   # inches per frame
    fig, axes = plt.subplots(rows, columns, squeeze=False, figsize=(panel_w * columns, (panel_h + 0.3) * rows + 0.5))
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n_time_bins:
            ax.axis("off")
            continue
        rgb = np.zeros((height, width, 3), dtype=np.float32)
        rgb[..., 0] = np.sqrt(np.clip(counts[k, 0] / scale, 0, 1))    # OFF
        rgb[..., 1] = np.sqrt(np.clip(counts[k, 1] / scale, 0, 1))    # ON
        ax.imshow(rgb, interpolation="nearest")
        ax.set_title(f"{(k * span / n_time_bins) / 1e3:.1f}-{((k + 1) * span / n_time_bins) / 1e3:.1f} ms", fontsize=8)
    fig.suptitle(f"{title}: {len(events):,} events, {width}x{height}; red OFF, green ON (t0 = {t0:,} µs)", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
