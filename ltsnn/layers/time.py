"""How a network takes its frames in time: as they are, or averaged into one static frame (methods §2.4)."""

from __future__ import annotations

import torch
from torch import nn

TIME_INPUTS = ("frames", "mean")


class TimeInput(nn.Module):
    """``[T_in, B, ...]`` frames -> the sequence the network runs on.

    - ``"frames"``: the frames unchanged (one network step per frame).
    - ``"mean"``: the time-average of the frames, repeated ``repeat`` times: ``[repeat, B, ...]``. With
      ``repeat=1`` this is the LM-HT code's DVS path (frames averaged into a single step) and what a QCFS ANN
      sees; with ``repeat=T`` it is the static-image input of a converted SNN (the same frame every step).
    """

    def __init__(self, mode: str = "frames", *, repeat: int = 1):
        super().__init__()
        if mode not in TIME_INPUTS:
            raise ValueError(f"unknown time_input {mode!r}; expected one of {list(TIME_INPUTS)}")
        if repeat < 1 or (mode == "frames" and repeat != 1):
            raise ValueError(f"time_input {mode!r} got mean_repeat={repeat}; expected an int >= 1, and 1 with 'frames'")
        self.mode, self.repeat = mode, int(repeat)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if self.mode == "frames":
            return x_seq
        mean = x_seq.mean(0, keepdim=True)                          # [T_in, B, ...] -> [1, B, ...]
        return mean.expand(self.repeat, *mean.shape[1:])            # [repeat, B, ...]

    def extra_repr(self) -> str:
        return f"{self.mode!r}" + (f", repeat={self.repeat}" if self.mode == "mean" else "")
