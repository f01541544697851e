"""Turning trained models into something else: integer weights for deployment (and, later, ANN -> SNN)."""

from ltsnn.convert.export import export_quantized, save_quantized
from ltsnn.convert.nir import from_nir, to_nir

__all__ = ["export_quantized", "from_nir", "save_quantized", "to_nir"]
