"""Layers that work on time-major sequences ``[T, B, ...]``."""

from ltsnn.layers.attention import AdvanceSpatialAttention, MultiDimAttention, TemporalAttention
from ltsnn.layers.encoding import ENCODERS, EncodedModel, Encoder, create_encoder, encoder_of, restart_encoders
from ltsnn.layers.norm import TdBatchNorm2d, batchnorm_bt
from ltsnn.layers.seq import SeqToBatch
from ltsnn.layers.time import TIME_INPUTS, TimeInput

__all__ = ["SeqToBatch", "TIME_INPUTS", "TdBatchNorm2d", "TimeInput", "batchnorm_bt",
           "ENCODERS", "EncodedModel", "Encoder", "create_encoder", "encoder_of", "restart_encoders",
           "AdvanceSpatialAttention", "MultiDimAttention", "TemporalAttention"]
