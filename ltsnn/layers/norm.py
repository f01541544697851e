"""Batch normalisation for spiking layers: plain BN over T·B, and threshold-dependent BN."""

from __future__ import annotations

from torch import nn


def batchnorm_bt(channels: int) -> nn.BatchNorm2d:
    """Plain BatchNorm2d, to be used inside :class:`SeqToBatch` (statistics over T·B·H·W per channel).

    This is what the TET, LT-SNN and LM-HT codes call "tdBN" (γ init 1, no α·V_th), methods §4.1.
    """
    return nn.BatchNorm2d(channels)


class TdBatchNorm2d(nn.BatchNorm2d):
    """tdBN (Zheng et al. 2021): BN over (T, B, H, W) per channel with γ initialised to α·V_th.

    Use inside :class:`SeqToBatch`. ``alpha`` is 1 except on the two BNs whose outputs are added in a
    residual block, where 1/√2 keeps the variance of the sum at about V_th² (methods §4.1).
    """

    def __init__(self, channels: int, *, alpha: float = 1.0, v_th: float = 1.0, eps: float = 1e-5,
                 momentum: float = 0.1):
        super().__init__(channels, eps=eps, momentum=momentum)
        self.alpha, self.v_th = alpha, v_th
        nn.init.constant_(self.weight, alpha * v_th)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if hasattr(self, "alpha"):
            nn.init.constant_(self.weight, self.alpha * self.v_th)
