"""The classification task: per-step logits scored by TET / MSE(Ω) or CE on the mean, and top-1 accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import torch
from torch import nn

from ltsnn.engine.metrics import Record, format_epoch
from ltsnn.tasks.classification.loss import ClassificationLoss

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


class ClassificationTask:
    """Runs ``model`` on a batch of event frames and scores it with ``loss``.

    The data side is batch-major (``[B, T, C, H, W]``, what collate gives); models are time-major.
    This is the one place where the layout changes.
    """

    metric = "acc"

    def __init__(self, model: nn.Module, loss: ClassificationLoss):
        self.model = model
        self.loss = loss

    def __call__(self, frames: Tensor, target: Tensor, *, omega: float) -> dict[str, Tensor]:
        """Forward one batch.

        Args:
            frames: ``[B, T, C, H, W]`` float event frames.
            target: ``[B]`` class ids.
            omega: Ω, the constant the MSE term pulls the logits towards (methods §1.5).
        Returns:
            ``{"loss": scalar, "outputs": per-step logits [T, B, K]}``.
        """
        if frames.dim() != 5:
            raise ValueError(f"expected a batch of frames [B, T, C, H, W], got shape {tuple(frames.shape)}")
        x_seq = frames.transpose(0, 1)                              # [B, T, C, H, W] -> [T, B, C, H, W]
        logits_seq = self.model(x_seq)                              # [T, B, K]
        return {"loss": self.loss(logits_seq, target, omega=omega), "outputs": logits_seq}

    def to_device(self, target: Tensor, device: torch.device | str) -> Tensor:
        return target.to(device)

    def meter(self, *, split: str) -> AccuracyMeter:
        """The meter of one pass over ``split`` ("train" or "test")."""
        return AccuracyMeter()

    def format_epoch(self, record: Record, *, epochs: int) -> str:
        return format_epoch(record, epochs=epochs)

    def write_plots(self, history: Sequence[Record], folder: Path, *, labels: Mapping[str, str] | None = None,
                    dpi: int = 100) -> list[Path]:
        """The run's curves: ``accuracy_loss.png``, ``thresholds.png``, ``firing_rates.png``."""
        from ltsnn.tasks.classification.plots import write_plots   # matplotlib: imported only when plotting
        return write_plots(history, folder, labels=labels, dpi=dpi)
