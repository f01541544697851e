"""The train / eval loop: one step per batch, state reset after every batch, a test after every epoch.

Determinism: the shuffling of each epoch comes from a generator seeded by (seed, epoch) alone, the
global generators (dropout, ...) are saved in every checkpoint, and the checkpoint is taken at an
epoch boundary. A run resumed from its checkpoint therefore takes exactly the steps an uninterrupted
run would have taken; on the CPU the weights come out bit-identical.
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from ltsnn.engine.checkpoint import Checkpointer
from ltsnn.engine.distributed import SINGLE, Distributed, global_batches, shard_batches
from ltsnn.engine.guard import (DivergenceGuard, NonFiniteWeightsError, TrainingStopped, check_loss_finite,
                                first_non_finite)
from ltsnn.engine.metrics import Record, RunFolder, epoch_record
from ltsnn.engine.monitor import FiringRateMonitor
from ltsnn.engine.precision import FP32, Precision
from ltsnn.engine.task import Task
from ltsnn.layers.encoding import restart_encoders
from ltsnn.neurons import reset_states

# The positions the random streams of stochastic input encoders restart at (ltsnn.layers.encoding): training
# epoch e (1-based) of rank r draws from (TRAIN_STREAM, e, r), every evaluation from (EVAL_STREAM, r). Nothing about them
# needs saving, so a resumed run draws what the uninterrupted one did, and a re-evaluation what the run logged.
TRAIN_STREAM, EVAL_STREAM = 0, 1

# Where fit writes each epoch's record: metrics.jsonl (always: resuming and reports read it), and TensorBoard.
LOG_SINKS = ("jsonl", "tensorboard")


def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy and torch (call before building the model: it seeds the init)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffling seed of one epoch (0-based): a function of (seed, epoch) only, well mixed."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def train_loader(dataset: Dataset, *, batch_size: int, num_workers: int, seed: int, epoch: int,
                 pin_memory: bool = False) -> DataLoader:
    """Shuffled batches of one epoch, in an order fixed by (seed, epoch); worker seeds follow it too.
    A data set with a ``collate_fn`` attribute (detection: targets stay a list) is batched with it, and one
    with ``set_epoch`` (augmentation drawn from (seed, epoch, index)) is told the epoch first."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=g, num_workers=num_workers,
                      pin_memory=pin_memory, collate_fn=getattr(dataset, "collate_fn", None))


def test_loader(dataset: Dataset, *, batch_size: int, num_workers: int, pin_memory: bool = False,
                persistent: bool = False) -> DataLoader:
    """Batches in dataset order. Its own generator (for the workers' seeds) keeps evaluation from drawing
    on the global one, so testing more or less often does not change the training run. ``persistent``
    keeps the worker processes between passes (a loader made once and evaluated after every epoch)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      pin_memory=pin_memory, generator=torch.Generator().manual_seed(0),
                      persistent_workers=persistent and num_workers > 0,
                      collate_fn=getattr(dataset, "collate_fn", None))


class EpochBatches(Sampler[list[tuple[int, int]]]):
    """Batch sampler of a whole run: after :meth:`set_epoch`, the epoch's batches exactly as
    :func:`train_loader` draws them (:func:`~ltsnn.engine.distributed.global_batches`), cut to this rank's
    shards (all of each batch for one process), as ``(epoch, index)`` keys; ``weights`` are the shards'
    loss weights."""

    def __init__(self, n: int, *, batch_size: int, seed: int, dist: Distributed = SINGLE):
        self.n, self.batch_size, self.seed, self.dist = n, batch_size, seed, dist
        self.batches: list[list[tuple[int, int]]] = []
        self.weights: list[float] = []

    def set_epoch(self, epoch: int) -> None:
        batches = global_batches(self.n, batch_size=self.batch_size, seed=epoch_seed(self.seed, epoch))
        shards = shard_batches(batches, rank=self.dist.rank, world_size=self.dist.world_size)
        self.batches = [[(epoch, i) for i in indices] for indices, _ in shards]
        self.weights = [w for _, w in shards]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _EpochItems(Dataset):
    """A training set read by ``(epoch, index)``: it is told the epoch (augmentation draws from (seed, epoch,
    index)) in whichever process loads the item, so worker processes can outlive an epoch."""

    def __init__(self, dataset: Dataset):
        self.dataset, self.epoch = dataset, None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        if epoch != self.epoch and hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self.epoch = epoch
        return self.dataset[index]


@dataclass(frozen=True)
class RunData:
    """The training and test sets of a run and how they are batched.

    ``seed`` fixes the data order of every epoch (with the epoch number); ``pin_memory`` for a GPU.
    ``batch_size`` is the global batch: with ``dist`` of W processes each rank loads its shard of every
    batch (:mod:`ltsnn.engine.distributed`) and every W-th test sample.
    """

    train: Dataset
    test: Dataset
    batch_size: int
    num_workers: int = 0
    seed: int = 0
    pin_memory: bool = False
    dist: Distributed = SINGLE
    val: Dataset | None = None

    def train_batches(self, epoch: int) -> DataLoader:
        """The batches of training epoch ``epoch`` (0-based): those of :func:`train_loader`, or this rank's
        shards of them. One loader serves every epoch, so its worker processes persist across epochs."""
        loader = self._train_loader
        loader.batch_sampler.set_epoch(epoch)
        return loader

    @functools.cached_property
    def _train_loader(self) -> DataLoader:
        sampler = EpochBatches(len(self.train), batch_size=self.batch_size, seed=self.seed, dist=self.dist)
        return DataLoader(_EpochItems(self.train), batch_sampler=sampler, num_workers=self.num_workers,
                          pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.seed + self.dist.rank),
                          collate_fn=getattr(self.train, "collate_fn", None))

    def test_batches(self, split: str = "test") -> DataLoader:
        """Batches of the test split (or of ``split="val"``), in order; this rank's every W-th sample with ``dist``."""
        data = self.val if split == "val" else self.test
        if self.dist.enabled:
            shard = Subset(data, range(self.dist.rank, len(data), self.dist.world_size))
            shard.collate_fn = getattr(data, "collate_fn", None)
            data = shard
        return test_loader(data, batch_size=self.batch_size, num_workers=self.num_workers,
                           pin_memory=self.pin_memory, persistent=True)


def _bar(iterable: Iterable, *, enabled: bool, desc: str, total: int) -> Any:
    if not enabled:
        return iterable
    from tqdm import tqdm                                       # optional dependency: only with progress bars
    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)


def train_one_epoch(task: Task, loader: DataLoader, *, optimizer: torch.optim.Optimizer, epoch: int, step: int,
                    device: torch.device | str = "cpu", progress: bool = False,
                    guard: DivergenceGuard | None = None, precision: Precision = FP32,
                    dist: Distributed = SINGLE) -> tuple[dict[str, Any], int]:
    """One pass over ``loader``, one optimizer step per batch.

    Args:
        epoch: 1-based, for messages and the stream of stochastic input encoders. step: optimizer steps taken
            before this epoch.
        guard: watches each step's loss (:class:`~ltsnn.engine.guard.DivergenceGuard`); None for no watch.
        precision: autocast and loss scaling (:class:`~ltsnn.engine.precision.Precision`).
        dist: the processes training together; ``loader`` then yields this rank's shards, each batch's loss
            is weighted by the shard's share (its sampler's ``weights``), the checks see the global batch's
            loss (so every rank stops together) and the metrics count every rank's samples.
    Returns:
        ``({"loss", ...}, step)``: the sample-weighted mean loss over the epoch with the task's training
        metrics (classification: ``acc``), and the step count after it.
    Raises:
        NonFiniteLossError: naming the epoch and the (1-based) step whose loss was not finite; the
            optimizer has not stepped on it.
        DivergenceError: the guard stopped the run on that step's loss (not stepped on either).
    """
    task.model.train()
    restart_encoders(task.model, TRAIN_STREAM, epoch, dist.rank)
    total_loss, seen = 0.0, 0
    meter = task.meter(split="train")
    weights = getattr(loader.batch_sampler, "weights", None) if dist.enabled else None
    bar = _bar(loader, enabled=progress, desc=f"epoch {epoch} train", total=len(loader))
    for i, (frames, target) in enumerate(bar):
        frames, target = frames.to(device), task.to_device(target, device)
        with precision.autocast():
            out = task(frames, target)
        weight = 1.0 if weights is None else weights[i]
        loss = float(out["loss"].detach())
        if dist.enabled:                                        # the global batch's mean loss, on every rank
            loss = sum(dist.all_gather(loss * weight)) / dist.world_size
        where = f"epoch {epoch}, step {step + 1} (batch {i + 1} of {len(loader)})"
        check_loss_finite(loss, where=where)
        if guard is not None:
            guard.check_loss(loss, where=where)
        optimizer.zero_grad(set_to_none=True)
        precision.backward_and_step(out["loss"] * weight if weight != 1.0 else out["loss"], optimizer)
        reset_states(task.model)                                # the next batch starts from rest
        step += 1
        task.after_step()
        if weight > 0:                                          # weight 0: a stand-in sample, not counted
            n = meter.update(out, target)
            total_loss += float(out["loss"].detach()) * n
            seen += n
        if progress:
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
    total_loss, seen = _combine(dist, meter, total_loss, seen)
    return {"loss": total_loss / max(seen, 1), **meter.result()}, step


def _combine(dist: Distributed, meter: Any, total_loss: float, seen: int, monitor: Any = None) -> tuple[float, int]:
    """Add every other rank's counts to this rank's meter (and monitor); returns the global loss sum and count."""
    if not dist.enabled:
        return total_loss, seen
    mine = (meter.partial(), None if monitor is None else monitor.partial(), total_loss, seen)
    parts = dist.all_gather(mine)
    for r, (partial, rates, _, _) in enumerate(parts):
        if r != dist.rank:
            meter.add_partial(partial)
            if monitor is not None:
                monitor.add_partial(rates)
    return sum(p[2] for p in parts), sum(p[3] for p in parts)


@torch.no_grad()
def evaluate(task: Task, loader: DataLoader, *, device: torch.device | str = "cpu", progress: bool = False,
             precision: Precision = FP32, dist: Distributed = SINGLE) -> dict[str, Any]:
    """Loss, the task's test metrics and per-layer firing rates over ``loader`` (with ``dist``: over every
    rank's shard of the test set, each sample counted once, the same result on every rank).

    Returns:
        ``{"loss": float, **metrics, "firing_rates": {layer: rate}, "n": samples}``; classification's metric
        is ``acc`` (argmax of the time-mean logits, in [0, 1]), detection's ``map``, ``map50``, per-class AP, ...
    """
    task.model.eval()
    restart_encoders(task.model, EVAL_STREAM, dist.rank)
    total_loss, seen = 0.0, 0
    meter = task.meter(split="test")
    with FiringRateMonitor(task.model) as monitor:
        for frames, target in _bar(loader, enabled=progress, desc="test", total=len(loader)):
            frames, target = frames.to(device), task.to_device(target, device)
            with precision.autocast():
                out = task(frames, target)
            reset_states(task.model)
            n = meter.update(out, target)
            total_loss += float(out["loss"]) * n
            seen += n
    total_loss, seen = _combine(dist, meter, total_loss, seen, monitor)
    return {"loss": total_loss / max(seen, 1), **meter.result(), "firing_rates": monitor.rates(), "n": seen}


def fit(task: Task, data: RunData, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
        *, epochs: int, run_dir: str | Path, checkpoint_every: int = 1, device: str = "cpu", progress: bool = False,
        resume: Mapping[str, Any] | None = None, model_args: Mapping[str, Any] = {}, config: Mapping[str, Any] = {},
        guard: DivergenceGuard | None = None, precision: Precision = FP32,
        log: Callable[[str], None] = print, sinks: Sequence[str] = ("jsonl",)) -> list[Record]:
    """Train ``task.model`` for ``epochs`` epochs, testing after each, and keep the run folder up to date.

    Every epoch appends a record (:func:`ltsnn.engine.metrics.epoch_record`) to ``metrics.jsonl`` and
    ``thresholds.csv`` and logs one line; :class:`~ltsnn.engine.checkpoint.Checkpointer` writes
    ``checkpoints/last.pt`` every ``checkpoint_every`` epochs and after the last (redrawing the plots), and
    ``checkpoints/best.pt`` on a new best ``val_<task.metric>`` of the validation split ``data.val`` (none
    without one). The test split is evaluated after every epoch for the record only: nothing is chosen on it.

    Args:
        task: the task to train; its plain model built after :func:`seed_everything`, so that its init is seeded.
        resume: a checkpoint (:func:`~ltsnn.engine.checkpoint.load_checkpoint`) to continue from: the run
            restarts at the epoch after it, with its weights, optimizer, scheduler, task state, RNG and history.
        model_args, config: stored as they are in every checkpoint (how :mod:`ltsnn.build` rebuilds the model,
            and the run's config); the engine does not read them.
        guard: watches the step losses and, after each epoch, the learned thresholds; None for no watch. The
            parameters and buffers are always checked for NaN/inf after every epoch, before anything is evaluated.
        precision: autocast and loss scaling of the forward and backward passes.
        sinks: from :data:`LOG_SINKS`; ``"tensorboard"``: each record and plot also in ``<run_dir>/tensorboard``.
    With ``data.dist`` of several processes, the model trains wrapped in ``DistributedDataParallel``, every
    rank takes the same decisions from the global metrics, and only rank 0 writes the run folder and logs.
    Returns:
        The records of all epochs, the resumed ones included.
    Raises:
        TrainingStopped: a non-finite loss, parameter or buffer (:class:`NonFiniteLossError`,
            :class:`NonFiniteWeightsError`), or the guard's :class:`DivergenceError`; the checkpoints are left
            as they were and the last good one is named in the message.
    """
    task.model.to(device)
    dist = data.dist
    saver = Checkpointer(RunFolder(run_dir), task, optimizer, scheduler, epochs=epochs, every=checkpoint_every,
                         model_args=model_args, config=config, dist=dist, extra=precision)
    start, step = saver.resume(resume) if resume is not None else (0, 0)
    test_batches = data.test_batches()
    val_batches = data.test_batches("val") if data.val is not None else None
    passes = {"device": device, "progress": progress and dist.is_main, "precision": precision, "dist": dist}
    with _wrapped(task, dist, device), _tensorboard(sinks, saver, dist, first_epoch=start + 1) as to_tensorboard:
        for epoch in range(start, epochs):
            t0, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
            task.start_epoch()
            try:
                train, step = _train_checked(task, data.train_batches(epoch), optimizer=optimizer, epoch=epoch + 1,
                                             step=step, guard=guard, **passes)
                scheduler.step()
                val = evaluate(task, val_batches, **passes) if val_batches is not None else None
                test = evaluate(task, test_batches, **passes)
                check_loss_finite(test["loss"], where=f"the test after epoch {epoch + 1}, step {step}")
            except TrainingStopped as e:
                raise type(e)(f"{e}; stopped, {saver.last_good()}") from None
            record = epoch_record(task, epoch=epoch + 1, step=step, lr=lr, train=train, val=val, test=test,
                                  seconds=time.perf_counter() - t0)
            if dist.is_main:
                log(task.format_epoch(record, epochs=epochs))
            saver.end_epoch(record, step=step)
            to_tensorboard(record)
    return saver.history


@contextlib.contextmanager
def _tensorboard(sinks: Sequence[str], saver: Checkpointer, dist: Distributed, *,
                 first_epoch: int) -> Iterator[Callable[[Record], None]]:
    """What to call with each epoch's record once ``saver`` has ended the epoch: with ``"tensorboard"`` in
    ``sinks`` (on rank 0 alone), write it, and the plots when they were redrawn, into the run folder's event
    file (:class:`~ltsnn.engine.tensorboard.TensorBoardSink`, closed on the way out); else nothing."""
    unknown = [s for s in sinks if s not in LOG_SINKS]
    if unknown:
        raise ValueError(f"fit: sinks has {unknown}; expected names from {list(LOG_SINKS)}")
    if "tensorboard" not in sinks or not dist.is_main:          # one process writes the run folder
        yield lambda record: None
        return
    from ltsnn.engine.tensorboard import TensorBoardSink       # needs the tensorboard extra
    board = TensorBoardSink(saver.folder.root, first_epoch=first_epoch)

    def write(record: Record) -> None:
        board.write_record(record)
        if saver.saved_epoch == record["epoch"]:                # the plots were redrawn with this checkpoint
            board.write_plots(saver.folder.plots, epoch=record["epoch"])
    try:
        yield write
    finally:
        board.close()


@contextlib.contextmanager
def _wrapped(task: Task, dist: Distributed, device: str) -> Iterator[None]:
    """Batches run through ``DistributedDataParallel(task.model)`` while several processes train; the plain
    model again afterwards (reports and evaluation on one rank must not wait for the others)."""
    if not dist.enabled:
        yield
        return
    from torch.nn.parallel import DistributedDataParallel
    index = torch.device(device).index if torch.device(device).type == "cuda" else None
    task.network = DistributedDataParallel(task.model, device_ids=None if index is None else [index])
    try:
        yield
    finally:
        task.network = task.model


def _train_checked(task: Task, loader: DataLoader, *, epoch: int, guard: DivergenceGuard | None,
                   **kw: Any) -> tuple[dict[str, Any], int]:
    """:func:`train_one_epoch`, then the checks that keep a broken model out of every checkpoint: no NaN or
    inf in a parameter or buffer, and (with a guard) every learned threshold in its range."""
    if guard is not None:
        guard.start_epoch()
    train, step = train_one_epoch(task, loader, epoch=epoch, guard=guard, **kw)
    bad = first_non_finite(task.model)
    if bad is not None:
        raise NonFiniteWeightsError(f"non-finite values in {bad} after epoch {epoch}, step {step}")
    if guard is not None:
        guard.check_thresholds(task.model, where=f"after epoch {epoch}")
    return train, step
