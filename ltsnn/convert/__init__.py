"""Turning trained models into something else: integer weights for deployment (and, later, ANN -> SNN)."""

from ltsnn.convert.export import export_quantized, save_quantized

__all__ = ["export_quantized", "save_quantized"]
