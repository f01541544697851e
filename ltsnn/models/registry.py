"""Model registry: ``create_model(name, **kw)`` and ``list_models()``."""

from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Register a model constructor under ``name``; its docstring's first line is the listing."""
    def wrap(fn):
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        MODELS[name] = fn
        return fn
    return wrap


def create_model(name: str, **kw) -> nn.Module:
    """Build the model registered as ``name``. Unknown names and options are errors that list the valid ones."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    fn = MODELS[name]
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kw) - set(params))
        if unknown:
            raise ValueError(f"model {name!r} got unknown option(s) {unknown}; valid: {sorted(params)}")
    return fn(**kw)


def list_models() -> dict[str, str]:
    """Name -> one-line description of every registered model."""
    return {n: (inspect.getdoc(fn) or "").splitlines()[0] if inspect.getdoc(fn) else "" for n, fn in sorted(MODELS.items())}
