"""Mixed precision: the forward under ``torch.autocast``, and a gradient scaler for float16.

``fp32`` runs as before. ``bf16`` autocasts convolutions and matrix products to bfloat16 (same range as
float32, no scaler needed; on the CPU and on GPUs that have it). ``fp16`` autocasts to float16 on CUDA
and scales the loss so small gradients do not underflow. Neurons keep their membrane, threshold and
surrogate in float32 whatever the input (:class:`ltsnn.neurons.SpikingNeuron`), since a float16
membrane loses the small charges of a slow leak and exp() in the sigmoid surrogate overflows at 11.
"""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager

import torch

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """The arithmetic of a run's forward and backward passes on ``device``.

    Example:
        >>> import torch
        >>> p = Precision("bf16", "cpu")
        >>> with p.autocast():
        ...     y = torch.nn.Linear(4, 2)(torch.ones(1, 4))
        >>> y.dtype
        torch.bfloat16

    Raises:
        ValueError: an unknown name, or fp16 on the CPU (autocast has no float16 CPU kernels for convs).
    """

    def __init__(self, name: str = "fp32", device: str = "cpu"):
        if name not in PRECISIONS:
            raise ValueError(f"unknown precision {name!r}; expected one of {list(PRECISIONS)}")
        self.name, self.device_type = name, torch.device(device).type
        if name == "fp16" and self.device_type == "cpu":
            raise ValueError("precision fp16 needs a CUDA device (use bf16 on the CPU)")
        self.scaler = torch.amp.GradScaler(self.device_type) if name == "fp16" else None

    def autocast(self) -> ContextManager[Any]:
        """The context to run forward passes (and the loss) in."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=_DTYPES[self.name])

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """``loss.backward(); optimizer.step()``, with the loss scaled (and the step skipped on inf/NaN
        gradients, as the scaler does) under fp16."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


FP32 = Precision()
