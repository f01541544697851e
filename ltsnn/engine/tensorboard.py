"""The TensorBoard sink of a run: each epoch's record as scalars, and the run folder's plots as images.

It sits beside ``metrics.jsonl`` (which is always written: resuming and reports read it) and writes the same
numbers, under ``<run>/tensorboard/``, one event file per process start. The ``global_step`` is the epoch
(1-based), so a curve's x axis reads as the jsonl's ``epoch``. Tags::

    loss/train  loss/test  acc/train  acc/val  map50/test ...   <split>_<metric> of the record, as <metric>/<split>
    lr  omega  seconds                                          the record's other numbers, by their own names
    thresholds/<layer>  firing_rates/<layer>                    one curve per spiking layer (nested dicts: a/b/c)
    plots/<name>                                                every PNG in <run>/plots/, when they are redrawn

Needs the ``tensorboard`` package (the ``tensorboard`` extra), imported only when a sink is made.
"""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from typing import Any, Iterator

from ltsnn.engine.metrics import Record

SPLITS = ("train", "val", "test")
# Record keys that are the step itself, or not numbers to plot.
_NOT_SCALARS = ("epoch", "step", "fixed_layers")
# PNG colour type (IHDR byte 25) -> TensorBoard's colourspace: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
_COLOURSPACE = {0: 1, 4: 2, 2: 3, 3: 3, 6: 4}
INSTALL_HINT = "pip install 'ltsnn[tensorboard]'"


def require_tensorboard() -> None:
    """Raise ModuleNotFoundError, naming the extra, unless the ``tensorboard`` package can be imported.

    >>> require_tensorboard()                                   # installed: nothing happens
    """
    if importlib.util.find_spec("tensorboard") is None:
        raise ModuleNotFoundError(f"train.log=tensorboard needs the tensorboard package: {INSTALL_HINT}",
                                  name="tensorboard")


def scalar_tags(record: Record) -> Iterator[tuple[str, float]]:
    """``(tag, value)`` for every number in an epoch record (see the module docstring for the tags).

    >>> dict(scalar_tags({"epoch": 2, "train_loss": 0.5, "test_acc": 0.75, "lr": 0.01,
    ...                   "thresholds": {"features.2": 1.0}, "fixed_layers": []}))
    {'loss/train': 0.5, 'acc/test': 0.75, 'lr': 0.01, 'thresholds/features.2': 1.0}
    """
    for key, value in record.items():
        if key in _NOT_SCALARS:
            continue
        split, _, metric = key.partition("_")
        yield from _numbers(f"{metric}/{split}" if split in SPLITS and metric else key, value)


def _numbers(tag: str, value: Any) -> Iterator[tuple[str, float]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(f"{tag}/{k}", v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield tag, float(value)


def _png_size(data: bytes, *, where: str) -> tuple[int, int, int]:
    """(height, width, TensorBoard colourspace) from a PNG's header; ValueError naming ``where`` if not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError(f"{where}: not a PNG file (expected the PNG signature and an IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    return height, width, _COLOURSPACE.get(data[25], 4)


class TensorBoardSink:
    """Writes epoch records and plot images into ``<run_dir>/tensorboard`` (rank 0 only: the caller decides).

    Args:
        run_dir: the run folder.
        first_epoch: the epoch (1-based) the run goes on from; events an interrupted run had logged from
            it on are dropped (TensorBoard's ``purge_step``), so a resumed run's curves are not doubled.

    >>> import tempfile
    >>> board = TensorBoardSink(tempfile.mkdtemp())
    >>> board.write_record({"epoch": 1, "train_loss": 0.5, "thresholds": {"features.1": 1.0}})
    >>> board.close()
    >>> [p.name.split(".")[0] for p in board.folder.iterdir()]
    ['events']
    """

    def __init__(self, run_dir: str | Path, *, first_epoch: int = 1):
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter       # needs the tensorboard package
        self.folder = Path(run_dir) / "tensorboard"
        self.writer = SummaryWriter(str(self.folder), purge_step=first_epoch if first_epoch > 1 else None)

    def write_record(self, record: Record) -> None:
        """Every number of one epoch's record, at ``global_step = record["epoch"]``."""
        for tag, value in scalar_tags(record):
            self.writer.add_scalar(tag, value, global_step=record["epoch"])
        self.writer.flush()

    def write_plots(self, plots: str | Path, *, epoch: int) -> None:
        """Every PNG in the folder ``plots`` as the image ``plots/<name>`` at ``epoch``, its bytes as they are."""
        from tensorboard.compat.proto.summary_pb2 import Summary
        for path in sorted(Path(plots).glob("*.png")):
            data = path.read_bytes()
            height, width, colourspace = _png_size(data, where=str(path))
            image = Summary.Image(height=height, width=width, colorspace=colourspace, encoded_image_string=data)
            summary = Summary(value=[Summary.Value(tag=f"plots/{path.stem}", image=image)])
            self.writer.file_writer.add_summary(summary, global_step=epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
