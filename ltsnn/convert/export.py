"""Export of SAWB-quantised weights as integers with their scale (see :mod:`ltsnn.layers.quant`)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ltsnn.layers.prune import masked_layers
from ltsnn.layers.quant import quantized_layers

FORMAT = "ltsnn-quantized"


def export_quantized(model: nn.Module) -> dict[str, tuple[torch.Tensor, float]]:
    """The integer weights of every quantised layer of ``model``.

    Returns:
        ``"<layer>.weight"`` -> ``(q, scale)``: ``q`` an int8 tensor (int16 for the 8-bit mid-rise grid,
        whose codes reach ±255) of the weight's shape, ``scale`` the float step in weight units, so that
        ``q * scale`` is the weight the model computes with.
    """
    out, masks = {}, masked_layers(model)
    for name, quant in quantized_layers(model).items():
        layer = model.get_submodule(name)
        q, scale = quant.codes(layer.parametrizations.weight.original.detach())
        if name in masks:                                       # a pruned weight is 0, not the grid's ±1 code
            q = q * masks[name].mask
        out[f"{name}.weight"] = (q, scale)
    return out


def save_quantized(model: nn.Module, path: str | Path) -> Path:
    """Write the deployable model to a ``.safetensors`` file.

    Tensors: ``<layer>.weight.q`` (integer codes) and ``<layer>.weight.scale`` (0-d float32) for every
    quantised layer, and every other state-dict entry (biases, BatchNorm, thresholds) under its own name,
    float as trained. Metadata: ``format`` and ``layers`` (JSON: layer -> {bits, coeff}).
    """
    try:
        from safetensors.torch import save_file
    except ImportError:
        raise ModuleNotFoundError("saving quantised weights needs safetensors: pip install 'ltsnn[cli]'",
                                  name="safetensors") from None
    layers = quantized_layers(model)
    tensors = {}
    for name, (q, scale) in export_quantized(model).items():
        tensors[f"{name}.q"] = q.contiguous()
        tensors[f"{name}.scale"] = torch.tensor(scale, dtype=torch.float32)
    originals = {f"{name}.parametrizations.weight.original" for name in layers}
    for key, value in model.state_dict().items():
        if key not in originals:
            tensors[key] = value.detach().contiguous()
    meta = {"format": FORMAT,
            "layers": json.dumps({n: {"bits": q.bits, "coeff": q.coeff} for n, q in layers.items()})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)
    return path
