"""Optional numba compilation of the readers' sequential decoders.

The EVT 2.0 / 3.0, DAT, AEDAT 2.0 and AEDAT 4 readers each have two paths that give identical
events and identical errors: a numpy one (always available) and a compiled loop, written in the
subset of Python that numba compiles, used when numba is importable. numba is an optional
dependency (``pip install 'ltsnn[fast]'``); nothing imports it until a reader first decodes.

Kernels are compiled with ``numba.njit(cache=True, nogil=True)`` on their first call and cached
on disk (in ``__pycache__`` beside the reader, or numba's user cache when that is read-only), so
only the first process ever pays the compile (a second or two per reader); later ones load it in
milliseconds.

Set the environment variable ``LTSNN_IO_NUMPY=1`` to force the numpy paths (read at every
decode, so tests can switch it per call).

Example:
    >>> import os
    >>> def double(a):
    ...     return 2 * a
    >>> os.environ[NUMPY_ENV] = "1"
    >>> compiled(double) is None
    True
    >>> del os.environ[NUMPY_ENV]
"""

from __future__ import annotations

import os
from collections.abc import Callable

NUMPY_ENV = "LTSNN_IO_NUMPY"

_COMPILED: dict[Callable, Callable] = {}
_NUMBA_MISSING = False


def compiled(kernel: Callable) -> Callable | None:
    """``kernel`` compiled by numba (memoised), or None when numba is missing or ``LTSNN_IO_NUMPY`` is set."""
    global _NUMBA_MISSING
    if os.environ.get(NUMPY_ENV, "") not in ("", "0") or _NUMBA_MISSING:
        return None
    if kernel not in _COMPILED:
        try:
            import numba
        except ModuleNotFoundError:
            _NUMBA_MISSING = True
            return None
        _COMPILED[kernel] = numba.njit(cache=True, nogil=True)(kernel)
    return _COMPILED[kernel]
