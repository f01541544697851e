"""Training engine, task-agnostic: the loop, optimizers, monitors, checkpoints, energy and the run folder.

The engine takes explicit arguments only (a :class:`Task`, data sets, numbers); it never imports a task,
the config or the CLI. Turning a config into those arguments is :mod:`ltsnn.build`'s job.
"""

from ltsnn.engine.checkpoint import CheckpointError, Checkpointer, load_checkpoint, save_checkpoint
from ltsnn.engine.guard import (DivergenceError, DivergenceGuard, NonFiniteLossError, NonFiniteWeightsError,
                                TrainingStopped, first_non_finite)
from ltsnn.engine.loop import RunData, evaluate, fit, seed_everything, test_loader, train_loader, train_one_epoch
from ltsnn.engine.metrics import RunFolder
from ltsnn.engine.monitor import FiringRateMonitor, layer_thresholds
from ltsnn.engine.optim import OPTIMIZERS, SCHEDULERS, make_optimizer, make_scheduler
from ltsnn.engine.task import Meter, Task

__all__ = ["OPTIMIZERS", "SCHEDULERS", "CheckpointError", "Checkpointer", "DivergenceError", "DivergenceGuard",
           "FiringRateMonitor", "Meter", "NonFiniteLossError", "NonFiniteWeightsError", "TrainingStopped",
           "first_non_finite", "RunData", "RunFolder", "Task", "evaluate", "fit", "layer_thresholds",
           "load_checkpoint", "make_optimizer", "make_scheduler", "save_checkpoint",
           "seed_everything", "test_loader", "train_loader", "train_one_epoch"]
