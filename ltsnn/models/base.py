"""SpikingModel: what every model shares (its input, the input check, and forward = head ∘ features)."""

from __future__ import annotations

import torch
from torch import nn

Size = int | tuple[int, int] | list[int]


def as_pair(size: Size) -> tuple[int, int]:
    """``size`` as ``(H, W)``: an int is a square."""
    if isinstance(size, int):
        return size, size
    if len(size) != 2:
        raise ValueError(f"input_size must be an int or (H, W), got {size!r}")
    return int(size[0]), int(size[1])


class SpikingModel(nn.Module):
    """Base of the models: time-major frames ``[T, B, C, H, W]`` -> per-step outputs ``[T, B, K]``.

    A subclass calls ``super().__init__(name=..., in_channels=..., input_size=...)``, builds its layers and
    implements :meth:`forward_features` and :meth:`forward_head`; :meth:`forward` checks the input and
    composes the two. Register it (or a function that builds it) with
    :func:`~ltsnn.models.register_model` so that ``create_model`` finds it.

    Attributes:
        name: for messages. in_channels: C. input_size: ``(H, W)``.

    Example:
        >>> import torch
        >>> from ltsnn.layers import SeqToBatch
        >>> class Linear(SpikingModel):
        ...     def __init__(self):
        ...         super().__init__(name="linear", in_channels=2, input_size=4)
        ...         self.fc = SeqToBatch(torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 3))
        ...     def forward_features(self, x_seq):
        ...         return x_seq
        ...     def forward_head(self, f_seq):
        ...         return self.fc(f_seq)
        >>> Linear()(torch.zeros(5, 1, 2, 4, 4)).shape
        torch.Size([5, 1, 3])
        >>> Linear()(torch.zeros(5, 1, 2, 4, 5))
        Traceback (most recent call last):
        ...
        ValueError: linear expects input [T, B, 2, 4, 4], got (5, 1, 2, 4, 5)
    """

    def __init__(self, *, name: str, in_channels: int, input_size: Size):
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"{name}: in_channels must be >= 1, got {in_channels}")
        self.name = name
        self.in_channels, self.input_size = int(in_channels), as_pair(input_size)

    def check_input(self, x_seq: torch.Tensor) -> None:
        """One-line ValueError for an input that is not ``[T, B, in_channels, H, W]``."""
        if x_seq.dim() != 5 or x_seq.shape[2] != self.in_channels or tuple(x_seq.shape[3:]) != self.input_size:
            raise ValueError(f"{self.name} expects input [T, B, {self.in_channels}, {self.input_size[0]}, "
                             f"{self.input_size[1]}], got {tuple(x_seq.shape)}")

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` frames -> ``[T, B, C', H', W']`` features."""
        raise NotImplementedError

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C', H', W']`` features -> per-step outputs ``[T, B, K]``."""
        raise NotImplementedError

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        self.check_input(x_seq)
        return self.forward_head(self.forward_features(x_seq))
