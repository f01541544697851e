"""Which device a run trains on, checked before anything is written."""

from __future__ import annotations

import torch


def available_devices() -> list[str]:
    """The devices this process can use: ``cpu``, then ``cuda:0`` ... ``cuda:N-1`` (and ``mps`` on a Mac)."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(name: str) -> str:
    """The device ``name`` as torch spells it, after checking that this machine has it.

    ``"auto"`` is the first CUDA device when there is one, else the CPU; ``"cuda"`` is the current CUDA
    device.

    Example:
        >>> resolve_device("cpu")
        'cpu'

    Raises:
        ValueError: one line naming the device and the available ones (``cuda`` on a machine without CUDA,
            ``cuda:3`` with two GPUs, a misspelt name).
    """
    available = available_devices()
    if name == "auto":
        return "cuda:0" if "cuda:0" in available else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is not None and device.type == "cpu":
        return "cpu"
    if device is not None and device.type == "cuda" and device.index is None and "cuda:0" in available:
        return "cuda"
    if device is None or str(device) not in available:
        raise ValueError(f"device {name!r} is not available on this machine; expected auto or one of "
                         f"{', '.join(available)}")
    return str(device)
