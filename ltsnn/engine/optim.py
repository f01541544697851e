"""Optimizers and learning-rate schedules, chosen by name.

LT-SNN trains with Adam and a cosine schedule (methods §1.8); its Table 8 compares SGD with momentum
and a separate learning rate for the thresholds, which :func:`make_optimizer` offers as
``threshold_lr`` (the thresholds then form their own parameter group). A QCFS activation's λ counts as a
threshold: it becomes the converted SNN's threshold, and with one small learning rate it barely moves from
its initial value (docs/results.md, the N-Fashion conversion study).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ltsnn.neurons import threshold_parameters
from ltsnn.neurons.qcfs import QCFS

OPTIMIZERS = ("adam", "sgd")
SCHEDULERS = ("cosine", "constant")


def make_optimizer(model: nn.Module, name: str = "adam", *, lr: float, weight_decay: float = 0.0,
                   momentum: float = 0.9, threshold_lr: float | None = None) -> torch.optim.Optimizer:
    """The optimizer of ``model``'s parameters.

    Args:
        name: ``"adam"`` (default, as LT-SNN) or ``"sgd"`` (with ``momentum``).
        threshold_lr: the learning rate of the thresholds (learnable ``v_th`` and QCFS's λ); ``None``: the
            same as every other parameter (one group). Otherwise the thresholds are the second parameter group.
    Example:
        >>> from ltsnn.models import create_model
        >>> model = create_model("vgg_tiny", in_channels=2, num_classes=10, input_size=32)
        >>> opt = make_optimizer(model, "sgd", lr=0.1, threshold_lr=0.01)
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        >>> ann = create_model("resnet20", in_channels=1, num_classes=10, input_size=28, neuron="qcfs")
        >>> len(make_optimizer(ann, lr=1e-3, threshold_lr=0.05).param_groups[1]["params"])   # the 19 λ
        19
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {list(OPTIMIZERS)}")
    if threshold_lr is None:
        groups = [{"params": list(model.parameters())}]
    else:
        threshold_like = threshold_parameters(model) + [m.lam for m in model.modules() if isinstance(m, QCFS)]
        thresholds = {id(p) for p in threshold_like}
        groups = [{"params": [p for p in model.parameters() if id(p) not in thresholds]},
                  {"params": threshold_like, "lr": threshold_lr}]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)


def _schedule(kind: str, epochs: int) -> Callable[[int], float]:
    if kind == "cosine":
        return lambda e: 0.5 * (1.0 + math.cos(math.pi * e / epochs))
    if kind == "constant":
        return lambda e: 1.0
    raise ValueError(f"unknown scheduler {kind!r}; expected one of {list(SCHEDULERS)}")


def make_scheduler(optimizer: torch.optim.Optimizer, kind: str, *, epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-epoch learning-rate schedule. ``cosine``: lr·½(1 + cos(π e / epochs)), reaching 0 after the last
    epoch (CosineAnnealingLR with T_max = epochs, η_min = 0, in closed form so that a resumed run with
    more epochs follows the new schedule); ``constant``: lr throughout. Every parameter group follows it."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(kind, epochs))


def restore_optimizer(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR,
                      state: dict) -> None:
    """Load a checkpoint's optimizer and scheduler states, then set each group's lr to the one of the next
    epoch under *this* schedule (a no-op unless the number of epochs changed since the checkpoint)."""
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    for group, base_lr, fn in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group["lr"] = base_lr * fn(scheduler.last_epoch)
