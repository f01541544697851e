"""Model registry: ``create_model(name, **kw)`` and ``list_models()``."""

from __future__ import annotations

import inspect

from torch import nn

from ltsnn.registry import Registry

MODELS = Registry("model")
register_model = MODELS.register


def create_model(name: str, **kw) -> nn.Module:
    """Build the model registered as ``name``. Unknown names and options are errors that list the valid ones."""
    fn = MODELS.lookup(name)
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kw) - set(params))
        if unknown:
            raise ValueError(f"model {name!r} got unknown option(s) {unknown}; valid: {sorted(params)}")
    return fn(**kw)


def list_models() -> dict[str, str]:
    """Name -> one-line description of every registered model."""
    return MODELS.describe()
