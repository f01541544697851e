"""The train / eval loop: Adam + cosine, Ω, state reset after every batch, monitors, checkpoints.

Determinism: the shuffling of each epoch comes from a generator seeded by (seed, epoch) alone, the
global generators (dropout, ...) are saved in every checkpoint, and the checkpoint is taken at an
epoch boundary. A run resumed from its checkpoint therefore takes exactly the steps an uninterrupted
run would have taken; on the CPU the weights come out bit-identical.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ltsnn.engine.checkpoint import CheckpointError, rng_state, save_checkpoint, set_rng_state
from ltsnn.engine.metrics import Record, RunFolder, write_history
from ltsnn.engine.monitor import FiringRateMonitor, layer_thresholds
from ltsnn.tasks.classification.loss import ClassificationLoss, MeanThresholdTracker
from ltsnn.neurons import reset_states

Task = Any

SCHEDULERS = ("cosine", "constant")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and step."""


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


def test_loader(dataset: Dataset, *, batch_size: int, num_workers: int, pin_memory: bool = False) -> DataLoader:
    """Batches in dataset order. Its own generator (for the workers' seeds) keeps evaluation from drawing
    on the global one, so testing more or less often does not change the training run."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      pin_memory=pin_memory, generator=torch.Generator().manual_seed(0),
                      collate_fn=getattr(dataset, "collate_fn", None))


def make_scheduler(optimizer: torch.optim.Optimizer, kind: str, *, epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch learning-rate schedule. ``cosine``: lr·½(1 + cos(π e / epochs)), reaching 0 after the last
    epoch (CosineAnnealingLR with T_max = epochs, η_min = 0, in closed form so that a resumed run with
    more epochs follows the new schedule); ``constant``: lr throughout."""
    if kind == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 0.5 * (1.0 + math.cos(math.pi * e / epochs)))
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0)
    raise ValueError(f"unknown scheduler {kind!r}; expected one of {list(SCHEDULERS)}")


def _bar(iterable: Iterable, *, enabled: bool, desc: str, total: int) -> Any:
    if not enabled:
        return iterable
    from tqdm import tqdm                                       # optional dependency: only with progress bars
    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)


def train_one_epoch(task: Task, loader: DataLoader, *, optimizer: torch.optim.Optimizer,
                    omega: MeanThresholdTracker, epoch: int, step: int, device: torch.device | str = "cpu",
                    progress: bool = False) -> tuple[dict[str, Any], int]:
    """One pass over ``loader``, one optimizer step per batch.

    Args:
        epoch: 1-based, for messages. step: optimizer steps taken before this epoch.
    Returns:
        ``({"loss", ...}, step)``: the sample-weighted mean loss over the epoch with the task's training
        metrics (classification: ``acc``), and the step count after it.
    Raises:
        NonFiniteLossError: naming the epoch and the (1-based) step whose loss was not finite; the
            optimizer has not stepped on it.
    """
    model = task.model
    model.train()
    total_loss, seen = 0.0, 0
    meter = task.meter(split="train")
    bar = _bar(loader, enabled=progress, desc=f"epoch {epoch} train", total=len(loader))
    for i, (frames, target) in enumerate(bar):
        frames, target = frames.to(device), task.to_device(target, device)
        out = task(frames, target, omega=omega.value)
        loss = float(out["loss"].detach())
        if not math.isfinite(loss):
            raise NonFiniteLossError(f"non-finite loss ({loss}) at epoch {epoch}, step {step + 1} "
                                     f"(batch {i + 1} of {len(loader)})")
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        optimizer.step()
        reset_states(model)                                     # the next batch starts from rest
        step += 1
        omega.after_step(model)                                 # Ω for the next batch: a one-batch lag
        n = meter.update(out, target)
        total_loss += loss * n
        seen += n
        if progress:
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
    return {"loss": total_loss / max(seen, 1), **meter.result()}, step


@torch.no_grad()
def evaluate(task: Task, loader: DataLoader, *, omega: float, device: torch.device | str = "cpu",
             progress: bool = False) -> dict[str, Any]:
    """Loss, the task's test metrics and per-layer firing rates over ``loader``.

    Returns:
        ``{"loss": float, **metrics, "firing_rates": {layer: rate}, "n": samples}``; classification's metric
        is ``acc`` (argmax of the time-mean logits, in [0, 1]), detection's ``map``, ``map50``, per-class AP, ...
    """
    model = task.model
    model.eval()
    total_loss, seen = 0.0, 0
    meter = task.meter(split="test")
    with FiringRateMonitor(model) as monitor:
        for frames, target in _bar(loader, enabled=progress, desc="test", total=len(loader)):
            frames, target = frames.to(device), task.to_device(target, device)
            out = task(frames, target, omega=omega)
            reset_states(model)
            n = meter.update(out, target)
            total_loss += float(out["loss"]) * n
            seen += n
    return {"loss": total_loss / max(seen, 1), **meter.result(), "firing_rates": monitor.rates(), "n": seen}


def fit(model: nn.Module, *, train_set: Dataset, test_set: Dataset, loss: ClassificationLoss | None = None,
        omega_mode: str, epochs: int, lr: float, weight_decay: float, scheduler: str, batch_size: int, num_workers: int,
        seed: int, run_dir: str | Path, checkpoint_every: int, config: Mapping[str, Any],
        model_args: Mapping[str, Any], device: str = "cpu", progress: bool = False,
        resume: Mapping[str, Any] | None = None, log: Callable[[str], None] = print,
        task: Task | None = None) -> list[Record]:
    """Train ``model`` for ``epochs`` epochs, testing after each, and keep the run folder up to date.

    Every epoch appends a record (see :mod:`ltsnn.engine.metrics`) to ``metrics.jsonl`` and
    ``thresholds.csv``, logs one line, redraws the plots when it writes ``checkpoints/last.pt`` (every
    ``checkpoint_every`` epochs and after the last), and writes ``checkpoints/best.pt`` on a new best
    value of the task's test metric (classification: accuracy; detection: mAP50).

    Args:
        model: the plain model (not wrapped or compiled), built after :func:`seed_everything` so that its
            initialisation is seeded.
        loss, omega_mode: the classification loss and how Ω is kept (:class:`ltsnn.tasks.classification.loss.MeanThresholdTracker`).
        task: instead of ``loss``, the task to train, e.g. a :class:`~ltsnn.engine.task.DetectionTask`
            (its ``model`` must be ``model``).
        seed: fixes the data order of every epoch (with the epoch number).
        config, model_args: stored as they are in every checkpoint (the engine does not read them).
        resume: a checkpoint from :func:`ltsnn.engine.checkpoint.load_checkpoint` to continue from; the run
            restarts at the epoch after it, with its weights, optimizer, scheduler, Ω, RNG and history.
    Returns:
        The records of all epochs, the resumed ones included.
    Raises:
        NonFiniteLossError: the train or test loss was not finite. The checkpoints are left as they
            were: the last good one is named in the message.
    """
    folder = RunFolder(run_dir)
    folder.checkpoints.mkdir(parents=True, exist_ok=True)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = make_scheduler(optimizer, scheduler, epochs=epochs)
    omega = MeanThresholdTracker(omega_mode)
    if (task is None) == (loss is None):
        raise ValueError("fit: give either loss (classification) or task, not both or neither")
    if task is None:
        from ltsnn.tasks.classification.task import ClassificationTask
        task = ClassificationTask(model, loss)
    elif task.model is not model:
        raise ValueError("fit: task.model is not the model being trained")
    best_key = f"test_{task.metric}"
    start, step, history = 0, 0, []
    if resume is not None:
        if resume["epoch"] > epochs:
            raise CheckpointError(f"{folder.last}: the checkpoint is at epoch {resume['epoch']}, past the "
                                  f"{epochs} epochs asked for")
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        for group, base_lr in zip(optimizer.param_groups, sched.base_lrs):
            # The lr of the next epoch under this run's schedule (a no-op unless `epochs` changed).
            group["lr"] = base_lr * sched.lr_lambdas[0](sched.last_epoch)
        start, step, history = resume["epoch"], resume["step"], list(resume["history"])
        omega.value = resume["omega"]
        set_rng_state(resume["rng"])
        write_history(folder, history)                          # drop epochs logged after the checkpoint
    pin = str(device).startswith("cuda")
    test_batches = test_loader(test_set, batch_size=batch_size, num_workers=num_workers, pin_memory=pin)
    saved_epoch = start if resume is not None else None
    best_value = max((r[best_key] for r in history), default=-1.0)

    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        lr_now = optimizer.param_groups[0]["lr"]
        omega.start_epoch(model)
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)                          # per-item augmentation of this epoch
        loader = train_loader(train_set, batch_size=batch_size, num_workers=num_workers, seed=seed, epoch=epoch,
                              pin_memory=pin)
        try:
            train, step = train_one_epoch(task, loader, optimizer=optimizer, omega=omega, epoch=epoch + 1,
                                          step=step, device=device, progress=progress)
        except NonFiniteLossError as e:
            raise NonFiniteLossError(f"{e}; stopped, {_last_good(folder, saved_epoch)}") from None
        sched.step()
        test = evaluate(task, test_batches, omega=omega.value, device=device, progress=progress)
        if not math.isfinite(test["loss"]):
            raise NonFiniteLossError(f"non-finite test loss ({test['loss']}) after epoch {epoch + 1}, step {step}; "
                                     f"stopped, {_last_good(folder, saved_epoch)}")
        thresholds, fixed = layer_thresholds(model)
        record = {"epoch": epoch + 1, "step": step, "train_loss": train.pop("loss"),
                  **{f"train_{k}": v for k, v in train.items()}, "test_loss": test["loss"],
                  **{f"test_{k}": v for k, v in test.items() if k not in ("loss", "firing_rates", "n")},
                  "lr": lr_now, "omega": omega.value, "seconds": time.perf_counter() - t0, "thresholds": thresholds,
                  "fixed_layers": fixed, "firing_rates": test["firing_rates"]}
        history.append(record)
        write_history(folder, history)
        log(task.format_epoch(record, epochs=epochs))

        due = (epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs
        new_best = record[best_key] > best_value
        if due or new_best:
            state = _state(model, optimizer, sched, epoch=epoch + 1, step=step, omega=omega.value, config=config,
                           model_args=model_args, history=history)
            if due:
                save_checkpoint(folder.last, state)
                saved_epoch = epoch + 1
                task.write_plots(history, folder.plots)
            if new_best:
                best_value = record[best_key]
                save_checkpoint(folder.best, state)
    return history


def _last_good(folder: RunFolder, saved_epoch: int | None) -> str:
    if saved_epoch is None:
        return "no checkpoint was written yet"
    return f"the last good checkpoint is {folder.last} (epoch {saved_epoch})"


def _state(model: nn.Module, optimizer: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LRScheduler, *,
           epoch: int, step: int, omega: float, config: Mapping[str, Any], model_args: Mapping[str, Any],
           history: list[Record]) -> dict[str, Any]:
    return {"model": model.state_dict(), "model_args": dict(model_args), "optimizer": optimizer.state_dict(),
            "scheduler": sched.state_dict(), "epoch": epoch, "step": step, "omega": float(omega), "rng": rng_state(),
            "config": dict(config), "history": [dict(r) for r in history]}
