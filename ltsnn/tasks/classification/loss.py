"""Classification losses on per-step logits ``[T, B, K]``: TET + MSE towards Ω, and CE on the mean.

LT-SNN (methods §1.5, TET §3)::

    L_TET = (1/T) Σ_t CE(O_t, y)
    L_MSE = mean over (T, B, K) of (O_t − Ω)²       (every logit is pulled towards the scalar Ω)
    L     = w_tet · L_TET + w_mse · L_MSE

Ω is the detached mean of the layer thresholds (Eq. 13), maintained by :class:`MeanThresholdTracker`
(named for what it holds: LM-HT has an unrelated ω).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ltsnn.neurons import threshold_parameters

Tensor = torch.Tensor

# (w_tet, w_mse, Ω mode) of each published weighting.
LOSS_PRESETS: dict[str, tuple[float, float, str]] = {
    "ltsnn_code": (0.55, 0.45, "official"),    # the official code with the archived λ = 0.45
    "ltsnn_eq12": (0.45, 0.55, "official"),    # the paper's Eq. 12 with β = 0.45
    "tet": (0.999, 0.001, "fixed"),            # TET's defaults, Ω ≡ 1
}
OMEGA_MODES = ("official", "per_step", "fixed")


def tet_loss(logits_seq: Tensor, target: Tensor, *, w_tet: float, w_mse: float, omega: float) -> Tensor:
    """w_tet · mean_t CE(O_t, y) + w_mse · mean (O − Ω)².  ``logits_seq``: [T, B, K]; ``target``: [B]."""
    T, B, K = logits_seq.shape
    ce = F.cross_entropy(logits_seq.flatten(0, 1), target.repeat(T))   # [T*B, K]: mean over t and b
    if w_mse == 0:
        return w_tet * ce
    mse = (logits_seq - omega).square().mean()
    return w_tet * ce + w_mse * mse


def mean_ce_loss(logits_seq: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of the time-mean logits (the usual SNN loss; LM-HT's)."""
    return F.cross_entropy(logits_seq.mean(0), target)


def mean_threshold(model: nn.Module) -> float:
    """Ω of Eq. 13: the mean over layers of each layer's (mean) learnable threshold; 1.0 if none learn."""
    vths = threshold_parameters(model)
    if not vths:
        return 1.0
    with torch.no_grad():
        return float(torch.stack([v.mean() for v in vths]).mean())


class MeanThresholdTracker:
    """Ω for the MSE term, as the official loop keeps it.

    ``official``: 1.0 at the start of every epoch, then after each optimizer step the mean of the current
    thresholds (so batch k sees the thresholds left by step k−1: a one-batch lag). ``per_step``: the same
    but never reset to 1.0 at epoch starts. ``fixed``: Ω ≡ 1 (TET).
    """

    def __init__(self, mode: str = "official"):
        if mode not in OMEGA_MODES:
            raise ValueError(f"unknown omega mode {mode!r}; expected one of {list(OMEGA_MODES)}")
        self.mode = mode
        self.value = 1.0

    def start_epoch(self, model: nn.Module) -> None:
        self.value = mean_threshold(model) if self.mode == "per_step" else 1.0

    def after_step(self, model: nn.Module) -> None:
        if self.mode != "fixed":
            self.value = mean_threshold(model)


@dataclass(frozen=True)
class ClassificationLoss:
    """The loss of a classification run: ``kind="tet"`` (TET + MSE(Ω)) or ``"mean_ce"``."""

    kind: str = "tet"
    w_tet: float = 0.55
    w_mse: float = 0.45

    def __post_init__(self):
        if self.kind not in ("tet", "mean_ce"):
            raise ValueError(f"unknown loss {self.kind!r}; expected 'tet' or 'mean_ce'")

    @classmethod
    def from_preset(cls, preset: str) -> tuple["ClassificationLoss", str]:
        """(loss, Ω mode) of a named preset; the error lists the presets."""
        if preset not in LOSS_PRESETS:
            raise ValueError(f"unknown loss preset {preset!r}; expected one of {sorted(LOSS_PRESETS)}")
        w_tet, w_mse, omega = LOSS_PRESETS[preset]
        return cls("tet", w_tet, w_mse), omega

    def __call__(self, logits_seq: Tensor, target: Tensor, *, omega: float) -> Tensor:
        if self.kind == "mean_ce":
            return mean_ce_loss(logits_seq, target)
        return tet_loss(logits_seq, target, w_tet=self.w_tet, w_mse=self.w_mse, omega=omega)
