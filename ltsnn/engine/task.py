"""The classification task: one batch in, the loss and the per-step outputs out."""

from __future__ import annotations

import torch
from torch import nn

from ltsnn.losses import ClassificationLoss

Tensor = torch.Tensor


class ClassificationTask:
    """Runs ``model`` on a batch of event frames and scores it with ``loss``.

    The data side is batch-major (``[B, T, C, H, W]``, what collate gives); models are time-major.
    This is the one place where the layout changes.
    """

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
