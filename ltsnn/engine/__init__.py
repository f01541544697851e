"""Training engine: the task, the train / eval loop, monitors, checkpoints and the run folder.

The engine takes explicit arguments only (models, data sets, numbers); turning a config into them is
the CLI's job (:mod:`ltsnn.cli`).
"""

from ltsnn.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ltsnn.engine.loop import (SCHEDULERS, NonFiniteLossError, evaluate, fit, seed_everything, test_loader,
                               train_loader, train_one_epoch)
from ltsnn.engine.metrics import RunFolder
from ltsnn.engine.monitor import FiringRateMonitor, layer_thresholds, neuron_layers

__all__ = ["SCHEDULERS", "CheckpointError", "FiringRateMonitor", "NonFiniteLossError",
           "RunFolder", "evaluate", "fit", "layer_thresholds", "load_checkpoint", "neuron_layers", "save_checkpoint",
           "seed_everything", "test_loader", "train_loader", "train_one_epoch"]
