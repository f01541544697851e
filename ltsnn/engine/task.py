"""The one thing the engine knows about what is learned: the :class:`Task` protocol.

A task owns the model and its loss. The loop hands it a batch and gets the loss and the outputs back;
a *meter* per pass turns the batches' outputs into the pass's metrics. Whatever a task keeps between
steps (classification: the mean threshold Ω that its MSE term pulls towards) lives in the task, is
saved through :meth:`Task.state_dict` in every checkpoint and is logged in every epoch record; the
engine never looks inside it. The tasks are in :mod:`ltsnn.tasks`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import torch
from torch import nn

Record = dict[str, Any]


class Meter(Protocol):
    """Accumulates one pass's metrics."""

    def update(self, out: dict[str, Any], target: Any) -> int:
        """Count one batch (``out`` is what the task returned for it); returns the batch's sample count."""

    def result(self) -> dict[str, Any]:
        """The pass's metrics, e.g. ``{"acc": 0.97}``; the loop records them as ``train_<k>`` / ``test_<k>``."""

    def partial(self) -> Any:
        """What was counted so far, as picklable plain values: a distributed pass gathers every rank's."""

    def add_partial(self, partial: Any) -> None:
        """Count another rank's :meth:`partial` too, so that :meth:`result` covers every shard once."""


class Task(Protocol):
    """What the loop trains and tests.

    Attributes:
        model: the plain model (not wrapped or compiled); its state dict is what checkpoints hold.
        network: the module a batch runs through: ``model`` itself, unless the engine wraps it (in
            ``DistributedDataParallel`` when several processes train the run).
        metric: the test metric (higher is better) that picks ``checkpoints/best.pt``, e.g. ``"acc"``.
    """

    model: nn.Module
    network: nn.Module
    metric: str

    def __call__(self, frames: torch.Tensor, target: Any) -> dict[str, Any]:
        """One batch ``[B, T, C, H, W]`` -> ``{"loss": scalar tensor, "outputs": per-step outputs, ...}``."""

    def to_device(self, target: Any, device: torch.device | str) -> Any:
        """The batch's targets on ``device``."""

    def meter(self, *, split: str) -> Meter:
        """A fresh meter for one pass over ``split`` (``"train"`` or ``"test"``)."""

    def start_epoch(self) -> None:
        """Called before each training epoch."""

    def after_step(self) -> None:
        """Called after each optimizer step (and the state reset)."""

    def state_dict(self) -> dict[str, Any]:
        """Plain numbers the task keeps between steps; saved in checkpoints and logged in each epoch record."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def describe(self, result: Mapping[str, Any]) -> str:
        """A pass's metrics in words, e.g. ``accuracy 97.50%``."""

    def report_lines(self, test: Mapping[str, Any], history: Sequence[Record]) -> list[str]:
        """Markdown lines on the task's metrics for the run report (``test``: :func:`evaluate`'s result)."""

    def format_epoch(self, record: Record, *, epochs: int) -> str:
        """The one line logged after each epoch."""

    def write_plots(self, history: Sequence[Record], folder: Path, *, labels: Mapping[str, str] | None = None,
                    dpi: int = 100) -> list[Path]:
        """The run's curves as PNG files in ``folder``; returns their paths."""
