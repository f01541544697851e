"""The classification task: per-step logits scored by TET / MSE(Ω) or CE on the mean, and top-1 accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ltsnn.engine.metrics import Record, best_record, format_thresholds
from ltsnn.tasks.classification.loss import ClassificationLoss, MeanThresholdTracker

Tensor = torch.Tensor


class AccuracyMeter:
    """Top-1 accuracy of the time-mean logits."""

    def __init__(self):
        self.correct, self.seen = 0, 0

    def update(self, out: dict[str, Tensor], target: Tensor) -> int:
        """Count one batch; returns its size."""
        self.correct += int((out["outputs"].detach().mean(0).argmax(1) == target).sum())
        self.seen += target.shape[0]
        return target.shape[0]

    def result(self) -> dict[str, float]:
        return {"acc": self.correct / max(self.seen, 1)}

    def partial(self) -> dict[str, int]:
        """What was counted, as plain values (to combine the shards of a distributed pass)."""
        return {"correct": self.correct, "seen": self.seen}

    def add_partial(self, partial: dict[str, int]) -> None:
        """Count another shard's :meth:`partial` too."""
        self.correct += partial["correct"]
        self.seen += partial["seen"]


class ClassificationTask:
    """Runs ``model`` on a batch of event frames and scores it with ``loss``.

    The data side is batch-major (``[B, T, C, H, W]``, what collate gives); models are time-major.
    This is the one place where the layout changes.

    Args:
        model: maps ``[T, B, C, H, W]`` to per-step logits ``[T, B, K]``.
        loss: TET + MSE(Ω) or CE on the time-mean (:class:`ClassificationLoss`).
        mean_threshold: how Ω, the value the MSE term pulls the logits towards, is kept
            (:class:`MeanThresholdTracker`: ``official``, ``per_step`` or ``fixed``).
    Example:
        >>> import torch
        >>> from ltsnn.models import create_model
        >>> task = ClassificationTask(create_model("vgg_tiny", in_channels=2, num_classes=10, input_size=32))
        >>> out = task(torch.rand(4, 3, 2, 32, 32), torch.tensor([0, 1, 2, 3]))   # frames [B, T, C, H, W]
        >>> tuple(out["outputs"].shape), task.state_dict()
        ((3, 4, 10), {'omega': 1.0})
    """

    metric = "acc"

    def __init__(self, model: nn.Module, loss: ClassificationLoss = ClassificationLoss(), *,
                 mean_threshold: str = "official"):
        self.model = model
        self.network: nn.Module = model          # what a batch runs through (the engine may wrap the model)
        self.loss = loss
        self.omega = MeanThresholdTracker(mean_threshold)

    def __call__(self, frames: Tensor, target: Tensor) -> dict[str, Tensor]:
        """Forward one batch.

        Args:
            frames: ``[B, T, C, H, W]`` float event frames.
            target: ``[B]`` class ids.
        Returns:
            ``{"loss": scalar, "outputs": per-step logits [T, B, K]}``.
        """
        if frames.dim() != 5:
            raise ValueError(f"expected a batch of frames [B, T, C, H, W], got shape {tuple(frames.shape)}")
        x_seq = frames.transpose(0, 1)                              # [B, T, C, H, W] -> [T, B, C, H, W]
        logits_seq = self.network(x_seq)                            # [T, B, K]
        return {"loss": self.loss(logits_seq, target, omega=self.omega.value), "outputs": logits_seq}

    def to_device(self, target: Tensor, device: torch.device | str) -> Tensor:
        return target.to(device)

    def meter(self, *, split: str) -> AccuracyMeter:
        """The meter of one pass over ``split`` ("train" or "test")."""
        return AccuracyMeter()

    def start_epoch(self) -> None:
        self.omega.start_epoch(self.model)

    def after_step(self) -> None:
        self.omega.after_step(self.model)                           # Ω for the next batch: a one-batch lag

    def state_dict(self) -> dict[str, float]:
        return {"omega": float(self.omega.value)}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.omega.value = float(state["omega"])

    def describe(self, result: Mapping[str, float]) -> str:
        return f"accuracy {100 * result['acc']:.2f}%"

    def report_lines(self, test: Mapping[str, Any], history: Sequence[Record]) -> list[str]:
        """The report's Markdown lines on accuracy: the measured pass, the run's final and best epoch."""
        last, best = history[-1], best_record(history)
        chosen = (f"best.pt (epoch {best['epoch']}, chosen on validation accuracy {100 * best['val_acc']:.2f}%) "
                  f"test {100 * best['test_acc']:.2f}%" if best is not None else "no validation split, no best.pt")
        return [f"- test accuracy **{100 * test['acc']:.2f}%**, loss {test['loss']:.4f}",
                f"- over the run: final test accuracy {100 * last['test_acc']:.2f}% (epoch {last['epoch']}); {chosen}",
                "", "![accuracy and loss](accuracy_loss.png)", ""]

    def format_epoch(self, r: Record, *, epochs: int) -> str:
        """The one line printed after every epoch."""
        width = len(str(epochs))
        val = f"| val acc {100 * r['val_acc']:.2f}% " if "val_acc" in r else ""
        return (f"epoch {r['epoch']:>{width}}/{epochs} | train loss {r['train_loss']:.4f} "
                f"acc {100 * r['train_acc']:.2f}% {val}| test loss {r['test_loss']:.4f} acc {100 * r['test_acc']:.2f}% "
                f"| lr {r['lr']:.2e} | omega {r['omega']:.4f} | {r['seconds']:.1f} s "
                f"| vth {format_thresholds(r['thresholds'], r['fixed_layers'])}")

    def write_plots(self, history: Sequence[Record], folder: Path, *, labels: Mapping[str, str] | None = None,
                    dpi: int = 100) -> list[Path]:
        """The run's curves: ``accuracy_loss.png``, ``thresholds.png``, ``firing_rates.png``."""
        from ltsnn.tasks.classification.plots import write_plots   # matplotlib: imported only when plotting
        return write_plots(history, folder, labels=labels, dpi=dpi)
