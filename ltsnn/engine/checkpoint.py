"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a dict of tensors and plain Python values only (no pickled objects), so loading one
cannot run code. It holds everything needed to continue a run bit for bit on the CPU:

    format, version       the marker that tells an ltsnn checkpoint from any other file
    model                 the state dict of the plain (unwrapped, uncompiled) model
    optimizer, scheduler  their state dicts
    epoch, step           epochs completed, optimizer steps taken
    task                  the task's own state (:meth:`ltsnn.engine.Task.state_dict`, e.g. Ω of the loss)
    rng                   the torch (CPU and CUDA), numpy and python ``random`` generator states
    history               the per-epoch metric records so far
    rng_by_rank, extra    (optional) every rank's generators when several processes trained the run; the
                          precision's state (the fp16 loss scale)
    model_args, config    how to rebuild the model and the resolved run config, as given to ``fit`` (the
                          builder's, :mod:`ltsnn.build`; empty for a run built by hand); never read by the engine
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch

from ltsnn.engine.distributed import SINGLE, Distributed
from ltsnn.engine.guard import first_non_finite
from ltsnn.engine.metrics import Record, RunFolder, validation_rank, write_history
from ltsnn.engine.optim import restore_optimizer
from ltsnn.files import remove_dead_temporaries, write_atomic

if TYPE_CHECKING:
    from ltsnn.engine.task import Task

FORMAT = "ltsnn-checkpoint"
VERSION = 2                                                     # 2: the task's state under "task" (was "omega")
# Each key a checkpoint must have, and the type its value must be (checked on load, so that a malformed
# file fails with one line naming the key instead of a traceback somewhere in load_state_dict).
REQUIRED = {"model": dict, "model_args": dict, "optimizer": dict, "scheduler": dict, "epoch": int, "step": int,
            "task": dict, "rng": dict, "config": dict, "history": list}


class CheckpointError(Exception):
    """A checkpoint that is missing or is not an ltsnn checkpoint; the message is one line."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (plus the format marker) to ``path`` atomically (:func:`ltsnn.files.write_atomic`):
    a crash at any point leaves either the previous checkpoint or the new one, never a truncated file."""
    write_atomic(path, lambda f: torch.save({"format": FORMAT, "version": VERSION, **state}, f))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, on the CPU.

    Raises:
        CheckpointError: the file is missing, cannot be read without unpickling arbitrary objects, or
            lacks the ltsnn marker or one of the keys listed in the module docstring.
    """
    path = Path(path)
    expected = "expected an ltsnn checkpoint written by `ltsnn train` (RUN_DIR/checkpoints/last.pt)"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file; {expected}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:                                      # torch raises many types for foreign files
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not an ltsnn checkpoint ({reason[:120]}); {expected}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an ltsnn checkpoint (no {FORMAT!r} marker); {expected}")
    if state.get("version") == 1 and "omega" in state:
        state["task"] = {"omega": state.pop("omega")}             # version 1 kept the loss's Ω at the top
    elif state.get("version") != VERSION:
        raise CheckpointError(f"{path}: ltsnn checkpoint version {state.get('version')!r}, "
                              f"this ltsnn reads versions 1 and {VERSION}")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"{path}: incomplete ltsnn checkpoint, missing {missing}")
    for key, kind in REQUIRED.items():
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            raise CheckpointError(f"{path}: malformed ltsnn checkpoint: {key!r} is a {type(state[key]).__name__}, "
                                  f"expected a {kind.__name__}")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state["model"].items()):
        raise CheckpointError(f"{path}: malformed ltsnn checkpoint: 'model' must map names to tensors")
    bad = first_non_finite(state["model"])
    if bad is not None:
        raise CheckpointError(f"{path}: the model holds non-finite values in {bad}; this checkpoint is broken "
                              f"(an earlier checkpoint of the run may not be)")
    return state


def rng_state() -> dict[str, Any]:
    """Every global random generator's state, as tensors and ints (loadable with ``weights_only=True``)."""
    _, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Checkpointer:
    """The save policy of a run, and its resumption.

    After each epoch :meth:`end_epoch` appends the record to the history and rewrites ``metrics.jsonl`` /
    ``thresholds.csv``; it writes ``checkpoints/last.pt`` every ``every`` epochs and after the last one
    (and redraws the task's plots then), and ``checkpoints/best.pt`` on a new best ``val_<task.metric>`` (the
    validation split's, ties broken by the lower validation loss; a run without one has no best.pt).
    """

    def __init__(self, folder: RunFolder, task: "Task", optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, *, epochs: int, every: int,
                 model_args: Mapping[str, Any], config: Mapping[str, Any], dist: Distributed = SINGLE,
                 extra: Any = None):
        self.folder, self.task, self.optimizer, self.scheduler = folder, task, optimizer, scheduler
        self.epochs, self.every, self.dist, self.extra = epochs, every, dist, extra
        self.stored = {"model_args": dict(model_args), "config": dict(config)}
        self.history: list[Record] = []
        self.saved_epoch: int | None = None
        if dist.is_main:                                         # one process writes the run folder
            folder.checkpoints.mkdir(parents=True, exist_ok=True)
            for path in (folder.last, folder.best, folder.metrics, folder.thresholds):
                remove_dead_temporaries(path)                    # half-written by a run that was killed

    def resume(self, state: Mapping[str, Any]) -> tuple[int, int]:
        """Load ``state`` into the model, optimizer, scheduler, task and RNGs; returns (epoch, step) to go on from."""
        if state["epoch"] > self.epochs:
            raise CheckpointError(f"{self.folder.last}: the checkpoint is at epoch {state['epoch']}, past the "
                                  f"{self.epochs} epochs asked for")
        self.task.model.load_state_dict(state["model"])
        restore_optimizer(self.optimizer, self.scheduler, state)
        self.task.load_state_dict(state["task"])
        by_rank = state.get("rng_by_rank", [])
        set_rng_state(by_rank[self.dist.rank] if len(by_rank) == self.dist.world_size else state["rng"])
        if self.extra is not None:
            self.extra.load_state_dict(state.get("extra", {}))
        self.history = [dict(r) for r in state["history"]]
        self.saved_epoch = state["epoch"]
        if self.dist.is_main:
            write_history(self.folder, self.history)             # drop epochs logged after the checkpoint
        return state["epoch"], state["step"]

    def end_epoch(self, record: Record, *, step: int) -> None:
        key = f"val_{self.task.metric}"                          # chosen on validation, never on the test split
        rank = validation_rank(record, self.task.metric) if key in record else None
        new_best = rank is not None and all(rank > validation_rank(r, self.task.metric) for r in self.history)
        self.history.append(record)
        epoch = record["epoch"]
        due = epoch % self.every == 0 or epoch == self.epochs
        rngs = self.dist.all_gather(rng_state()) if due or new_best else []     # every rank, the same decision
        if not self.dist.is_main:
            return
        write_history(self.folder, self.history)
        if not (due or new_best):
            return
        state = {"model": self.task.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "epoch": epoch, "step": step,
                 "task": self.task.state_dict(), "rng": rngs[0], "history": [dict(r) for r in self.history],
                 **self.stored}
        if self.dist.enabled:
            state["rng_by_rank"] = rngs                          # each rank's dropout draws go on from its own
        if self.extra is not None:
            state["extra"] = self.extra.state_dict()             # e.g. the fp16 loss scale
        # best.pt before last.pt: a crash between the two leaves last.pt at the epoch before, and resuming
        # from it retrains this epoch (bit-identically) and writes both again, so the pair never disagrees.
        if new_best:
            save_checkpoint(self.folder.best, state)
        if due:
            save_checkpoint(self.folder.last, state)
            self.saved_epoch = epoch
            self.task.write_plots(self.history, self.folder.plots)

    def last_good(self) -> str:
        """Where the run can be continued from, for error messages."""
        if self.saved_epoch is None:
            return "no checkpoint was written yet"
        return f"the last good checkpoint is {self.folder.last} (epoch {self.saved_epoch})"
