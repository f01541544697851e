"""Fused backends of :mod:`ltsnn.functional`: the same equations in one pass over time, each tested against it.

A backend implements the raw interface of one neuron on flattened, contiguous ``[T, N]`` tensors of one
dtype (see :mod:`ltsnn.kernels.lif`); :func:`lif_multistep` takes the functional API's arguments plus
``backend`` and picks the implementation:

- ``"torch"``   the float64-checkable reference :func:`ltsnn.functional.neuron.lif_multistep` (the definition);
- ``"numba"``   CPU kernels JIT-compiled by numba (:mod:`ltsnn.kernels.lif_numba`, optional dependency);
- ``"triton"``  GPU kernels (:mod:`ltsnn.kernels.lif_triton`; CPU tensors only under ``TRITON_INTERPRET=1``);
- ``"auto"``    triton for CUDA tensors, numba for CPU ones, falling back to torch with a one-line notice.

The same template serves SpikeYOLO's I-LIF (:func:`ilif_multistep`, :mod:`ltsnn.kernels.ilif`), the
M-HT / conversion IF neuron (:func:`mht_multistep`) and LM-HT's recurrence (:func:`lmht_multistep`, the
T-GIM matmul in torch; both :mod:`ltsnn.kernels.mht`), on numba only: CUDA tensors run them on torch.

numba and triton are imported only when first used, so the package works without either.

Example:
    >>> import torch
    >>> from ltsnn.kernels import lif_multistep
    >>> spikes, v_last = lif_multistep(torch.full((3, 1, 2), 0.7), 1.0, backend="torch")
    >>> spikes[:, 0, 0].tolist()
    [0.0, 1.0, 0.0]
"""

from ltsnn.kernels.ilif import ilif_multistep
from ltsnn.kernels.lif import BACKENDS, lif_multistep, resolve_backend
from ltsnn.kernels.mht import lmht_multistep, mht_multistep

__all__ = ["BACKENDS", "ilif_multistep", "lif_multistep", "lmht_multistep", "mht_multistep", "resolve_backend"]
