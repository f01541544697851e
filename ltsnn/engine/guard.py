"""Stop a run that went wrong before it writes a bad checkpoint: non-finite values and divergence.

A NaN in one output channel of a convolution does not make the loss NaN (the channel just stops
spiking), and a learning rate of 1e6 trains to chance with a finite loss of 1e15: both used to end
in a ``best.pt``. The checks here cost one read of the parameters per epoch and one comparison per step:

- :func:`first_non_finite`: the first parameter or floating-point buffer holding NaN or ±inf;
- :class:`DivergenceGuard`: a step loss far above the running median of the recent ones, or a learned
  threshold outside a sane range.

Every stop is a :class:`TrainingStopped` error with a one-line message; the loop adds where the run
can be continued from.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ltsnn.neurons import find_neurons

DIVERGENCE_ACTIONS = ("stop", "warn", "off")


class TrainingStopped(RuntimeError):
    """Training was stopped because continuing would produce or save a broken model; one-line message."""


class NonFiniteLossError(TrainingStopped):
    """The loss became NaN or infinite; the message names the epoch and step."""


class NonFiniteWeightsError(TrainingStopped):
    """A parameter or buffer holds NaN or ±inf; the message names the first such tensor."""


class DivergenceError(TrainingStopped):
    """The loss or a learned threshold left its sane range; the message names the value and the limit."""


def first_non_finite(tensors: nn.Module | dict[str, torch.Tensor]) -> str | None:
    """Describe the first parameter or floating-point buffer of a module (or tensor of a state dict) that
    holds a NaN or an infinity, e.g. ``"features.0.weight (3 of 432 values)"``; None when all are finite.

    Example:
        >>> from torch import nn
        >>> conv = nn.Conv2d(1, 2, 3)
        >>> first_non_finite(conv) is None
        True
        >>> _ = conv.weight.data[1].fill_(float("nan"))
        >>> first_non_finite(conv)
        'weight (9 of 18 values)'
    """
    named = tensors.items() if isinstance(tensors, dict) else (
        *tensors.named_parameters(), *tensors.named_buffers())
    for name, t in named:
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            bad = t.numel() - int(torch.isfinite(t.detach()).sum())
            if bad:
                return f"{name} ({bad} of {t.numel()} values)"
    return None


@dataclass
class DivergenceGuard:
    """Watches the step losses and the learned thresholds of a run.

    A step whose loss exceeds ``loss_factor`` × max(median of the last ``window`` step losses, ``loss_floor``)
    diverges (checked from the ``warmup``-th step on); so does a learned threshold outside
    (``threshold_min``, ``threshold_max``], checked after each epoch. ``action`` says what then happens:
    ``"stop"`` raises :class:`DivergenceError`, ``"warn"`` hands the message to ``warn`` once per epoch,
    ``"off"`` checks nothing. The floor keeps a run whose loss has fallen near 0 from stopping on one
    harder batch.

    Example:
        >>> guard = DivergenceGuard(loss_factor=100)
        >>> for loss in [2.3, 2.2, 2.1, 2.0, 1.9]:
        ...     guard.check_loss(loss, where="step")
        >>> guard.check_loss(1e6, where="epoch 1, step 6")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ltsnn.engine.guard.DivergenceError: diverging: loss 1e+06 at epoch 1, step 6 is over 100 x the median 2.1 ...
    """

    action: str = "stop"
    loss_factor: float = 1000.0
    threshold_min: float = 0.0
    threshold_max: float = 1000.0
    window: int = 100
    warmup: int = 5
    loss_floor: float = 0.1
    warn: Callable[[str], None] = print
    _recent: deque = field(init=False, repr=False)
    _warned: bool = field(init=False, default=False, repr=False)

    def __post_init__(self):
        if self.action not in DIVERGENCE_ACTIONS:
            raise ValueError(f"unknown divergence action {self.action!r}; expected one of {list(DIVERGENCE_ACTIONS)}")
        if not self.loss_factor > 1:
            raise ValueError(f"divergence loss_factor must be > 1, got {self.loss_factor}")
        if not self.threshold_min < self.threshold_max:
            raise ValueError(f"threshold range ({self.threshold_min}, {self.threshold_max}] is empty")
        self._recent = deque(maxlen=self.window)

    def start_epoch(self) -> None:
        """Allow one warning again (in ``"warn"`` mode each epoch says at most once that it diverges)."""
        self._warned = False

    def check_loss(self, loss: float, *, where: str) -> None:
        """Compare one finite step loss with the recent ones; ``where`` ("epoch 2, step 7") goes in the message."""
        if self.action == "off":
            return
        if len(self._recent) >= self.warmup:
            median = statistics.median(self._recent)
            if loss > self.loss_factor * max(median, self.loss_floor):
                self._diverged(f"loss {loss:.4g} at {where} is over {self.loss_factor:g} x the median {median:.4g} "
                               f"of the last {len(self._recent)} steps (train.divergence_factor)")
        self._recent.append(loss)

    def check_thresholds(self, model: nn.Module, *, where: str) -> None:
        """Every learned threshold must lie in (threshold_min, threshold_max]."""
        if self.action == "off":
            return
        for name, neuron in find_neurons(model):
            if not neuron.learnable:
                continue
            v = neuron.v_th.detach()
            outside = (v <= self.threshold_min) | (v > self.threshold_max)
            if bool(outside.any()):
                value = float(v[outside].flatten()[0])
                self._diverged(f"the threshold of {name or 'the neuron'} is {value:.4g} {where}, outside "
                               f"({self.threshold_min:g}, {self.threshold_max:g}] (train.threshold_min/max)")
                return

    def _diverged(self, message: str) -> None:
        text = f"diverging: {message}; stop it with a lower optim.lr, or train.on_divergence=warn"
        if self.action == "stop":
            raise DivergenceError(text)
        if not self._warned:
            self._warned = True
            self.warn(f"warning: {text.replace(', or train.on_divergence=warn', '')}")


def check_loss_finite(loss: float, *, where: str) -> None:
    """Raise :class:`NonFiniteLossError` naming ``where`` unless ``loss`` is finite."""
    if not math.isfinite(loss):
        raise NonFiniteLossError(f"non-finite loss ({loss}) at {where}")
