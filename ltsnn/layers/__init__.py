"""Layers that work on time-major sequences ``[T, B, ...]``."""

from ltsnn.layers.norm import TdBatchNorm2d, batchnorm_bt
from ltsnn.layers.seq import SeqToBatch

__all__ = ["SeqToBatch", "TdBatchNorm2d", "batchnorm_bt"]
