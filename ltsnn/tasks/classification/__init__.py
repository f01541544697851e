"""Classification: TET / MSE loss presets, the mean-threshold tracker, accuracy, its plots."""

from ltsnn.tasks.classification.loss import (LOSS_PRESETS, OMEGA_MODES, ClassificationLoss, MeanThresholdTracker,
                                             mean_ce_loss, mean_threshold, tet_loss)
from ltsnn.tasks.classification.task import ClassificationTask

__all__ = ["LOSS_PRESETS", "OMEGA_MODES", "ClassificationLoss", "ClassificationTask", "MeanThresholdTracker",
           "mean_ce_loss", "mean_threshold", "tet_loss"]
