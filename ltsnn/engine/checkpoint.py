"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a dict of tensors and plain Python values only (no pickled objects), so loading one
cannot run code. It holds everything needed to continue a run bit for bit on the CPU:

    format, version       the marker that tells an ltsnn checkpoint from any other file
    model                 the state dict of the plain (unwrapped, uncompiled) model
    model_args            {"name": ..., "kwargs": {...}}: how to rebuild the model with create_model
    optimizer, scheduler  their state dicts
    epoch, step           epochs completed, optimizer steps taken
    omega                 Ω of the loss at the time of saving
    rng                   the torch (CPU and CUDA), numpy and python ``random`` generator states
    config                the resolved run config as nested dicts (stored, never read, by the engine)
    history               the per-epoch metric records so far
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ltsnn.files import write_atomic

FORMAT = "ltsnn-checkpoint"
VERSION = 1
REQUIRED = ("model", "model_args", "optimizer", "scheduler", "epoch", "step", "omega", "rng", "config", "history")


class CheckpointError(Exception):
    """A checkpoint that is missing or is not an ltsnn checkpoint; the message is one line."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (plus the format marker) to ``path`` atomically (:func:`ltsnn.files.write_atomic`):
    a crash at any point leaves either the previous checkpoint or the new one, never a truncated file."""
    write_atomic(path, lambda f: torch.save({"format": FORMAT, "version": VERSION, **state}, f))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, on the CPU.

    Raises:
        CheckpointError: the file is missing, cannot be read without unpickling arbitrary objects, or
            lacks the ltsnn marker or one of the keys listed in the module docstring.
    """
    path = Path(path)
    expected = "expected an ltsnn checkpoint written by `ltsnn train` (RUN_DIR/checkpoints/last.pt)"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file; {expected}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:                                      # torch raises many types for foreign files
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not an ltsnn checkpoint ({reason[:120]}); {expected}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an ltsnn checkpoint (no {FORMAT!r} marker); {expected}")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path}: ltsnn checkpoint version {state.get('version')!r}, "
                              f"this ltsnn reads version {VERSION}")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"{path}: incomplete ltsnn checkpoint, missing {missing}")
    return state


def rng_state() -> dict[str, Any]:
    """Every global random generator's state, as tensors and ints (loadable with ``weights_only=True``)."""
    _, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
