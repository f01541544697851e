"""Recycled CPU output buffers for the fused kernels.

glibc serves every block above 32 MiB with a fresh ``mmap`` and unmaps it on free, so each large tensor
PyTorch's CPU allocator hands out is new memory whose first touch costs a page fault per 4 KiB: 24-30 ms
per 90 MiB on the 2-vCPU dev VM (docs/benchmarks.md), as long as the LIF kernel that fills it. The kernels
ask for the same few sizes every training step (spikes, membrane, input gradient), so they take their
outputs from a :class:`BufferPool` instead: a buffer comes back to the pool when the last tensor viewing
it is freed, and is handed out again, already touched.

The tensors are ordinary CPU tensors over numpy memory (as ``torch.from_numpy`` gives), except that their
storage cannot be resized in place.

Example:
    >>> import torch
    >>> pool = BufferPool(limit_bytes=2**24, min_bytes=0)
    >>> a = pool.empty((4, 1024), torch.float32)
    >>> address = a.data_ptr()
    >>> del a                                          # the last view is gone: the buffer is free again
    >>> pool.empty((4, 1024), torch.float32).data_ptr() == address
    True
"""

from __future__ import annotations

import math
import threading
import weakref

import numpy as np
import torch


ALIGN = 64           # bytes: a cache line, and one AVX-512 vector


def _aligned(nbytes: int) -> np.ndarray:
    """``nbytes`` of uninitialised memory starting on an ALIGN boundary, as PyTorch's allocator gives. numpy's
    large arrays start 16 bytes into their mapping, so every 64-byte vector load of the kernels would straddle
    two cache lines (measured: the LIF forward + backward 82 against 76 ms, docs/benchmarks.md)."""
    raw = np.empty(nbytes + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start:start + nbytes]


class BufferPool:
    """Hands out uninitialised CPU tensors, reusing the memory of freed ones of the same byte size.

    Args:
        limit_bytes: most bytes kept while free; a buffer freed beyond it goes back to the OS.
        min_bytes: smaller tensors come straight from PyTorch (glibc already recycles small blocks).
    """

    def __init__(self, *, limit_bytes: int, min_bytes: int = 4 << 20):
        self.limit_bytes, self.min_bytes = limit_bytes, min_bytes
        self._free: dict[int, list[np.ndarray]] = {}
        self._free_bytes = 0
        # Reentrant: a finaliser (_give_back) may run inside empty() when the cyclic GC fires there.
        self._lock = threading.RLock()

    def empty(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised contiguous tensor of ``shape`` and ``dtype``."""
        np_dtype = torch.empty((), dtype=dtype).numpy().dtype
        nbytes = math.prod(shape) * np_dtype.itemsize
        if nbytes < max(self.min_bytes, 1):
            return torch.empty(shape, dtype=dtype)
        with self._lock:
            free = self._free.get(nbytes)
            buf = free.pop() if free else None
            if buf is not None:
                self._free_bytes -= nbytes
        if buf is None:
            buf = _aligned(nbytes)
        array = buf.view(np_dtype).reshape(shape)
        weakref.finalize(array, self._give_back, buf)     # fires once no tensor or view holds `array`
        return torch.from_numpy(array)

    def _give_back(self, buf: np.ndarray) -> None:
        with self._lock:
            if self._free_bytes + buf.nbytes <= self.limit_bytes:
                self._free.setdefault(buf.nbytes, []).append(buf)
                self._free_bytes += buf.nbytes

    def clear(self) -> None:
        """Return every free buffer to the OS."""
        with self._lock:
            self._free.clear()
            self._free_bytes = 0
