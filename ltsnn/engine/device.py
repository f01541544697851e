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


MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def set_memory_format(model: torch.nn.Module, name: str) -> torch.nn.Module:
    """Lay ``model``'s 4-D weights (its convolutions) out as ``name`` (:data:`MEMORY_FORMATS`), in place.

    A convolution with channels-last weights gives channels-last outputs, so the feature maps follow; the
    fused LIF kernels run on them as they lie (:func:`ltsnn.kernels.lif.memory_order`).

    Example:
        >>> conv = set_memory_format(torch.nn.Conv2d(2, 4, 3), "channels_last")
        >>> conv(torch.zeros(1, 2, 5, 5)).is_contiguous(memory_format=torch.channels_last)
        True
    """
    if name not in MEMORY_FORMATS:
        raise ValueError(f"unknown memory format {name!r}; expected one of {', '.join(MEMORY_FORMATS)}")
    return model.to(memory_format=MEMORY_FORMATS[name])
