"""What every spiking neuron module shares: one forward that owns the membrane state, and how it is found.

A neuron subclass implements :meth:`SpikingNeuron.multistep`, one pure pass over the sequence that takes
the starting membrane and returns the outputs and the final membrane; the base decides where the sequence
starts (from rest, or from the carried membrane when streaming) and keeps the final membrane, so no
subclass handles state. A neuron with a firing threshold registers it with
:meth:`SpikingNeuron.register_threshold`; the base itself has none.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


LOW_PRECISION = (torch.float16, torch.bfloat16)


class SpikingNeuron(nn.Module):
    """Base of the spiking neuron modules: input and output ``[T, B, ...]``.

    Every forward starts from rest (:meth:`resting_state`) unless ``stream`` is True, in which case it
    continues from the membrane the previous forward left (``v``) until :meth:`reset`. ``v`` always holds
    the membrane after the last step, for monitors and for streams.

    ``threshold_grads`` lists the gradient modes under which the neuron can learn its threshold; it is
    empty for neurons whose threshold is fixed (LM-HT) or that have none (I-LIF).

    Example:
        >>> import torch
        >>> from ltsnn.neurons import LIFNeuron
        >>> lif = LIFNeuron()
        >>> x_seq = torch.full((3, 1, 2), 0.7)                  # [T, B, N]
        >>> torch.equal(lif(x_seq), lif(x_seq))                # each call starts from rest
        True
        >>> lif.stream = True                                   # continue a long recording chunk by chunk
        >>> torch.equal(lif(x_seq), lif(x_seq))
        False
    """

    threshold_grads: tuple[str, ...] = ()
    # False for neurons whose step t depends on all T inputs (LM-HT's T-GIM): a chunk is not a sequence prefix.
    streamable: bool = True

    def __init__(self):
        super().__init__()
        self.v: torch.Tensor | None = None
        self._stream = False

    @property
    def stream(self) -> bool:
        """Whether each forward continues from the membrane the previous one left. Switching it (either
        way) forgets the membrane, so a stream never continues from a forward that was not part of it."""
        return self._stream

    @stream.setter
    def stream(self, on: bool) -> None:
        if on and not self.streamable:
            raise ValueError(f"{type(self).__name__} mixes all T steps of a sequence, so it cannot be fed a "
                             f"stream in chunks (expected stream=False)")
        self._stream = bool(on)
        self.reset()

    @classmethod
    def threshold_options(cls, threshold_grad: str, *, learn: bool) -> dict[str, Any]:
        """The constructor keywords that realise a model's ``threshold_grad`` (see :class:`NeuronSpec`).

        ``"fixed"`` (or ``learn=False``, a layer whose threshold the model keeps fixed) gives
        ``learn_threshold=False``; any mode of ``threshold_grads`` gives ``learn_threshold=True`` with that
        gradient. Neurons without a learnable threshold take no keyword and accept only ``"fixed"``.

        Raises:
            ValueError: listing the accepted values, for a mode this neuron does not know.
        """
        accepted = ("fixed", *cls.threshold_grads)
        if threshold_grad not in accepted:
            raise ValueError(f"{cls.__name__}: unknown threshold_grad {threshold_grad!r}; expected one of "
                             f"{list(accepted)}")
        if not cls.threshold_grads:
            return {}
        if threshold_grad == "fixed" or not learn:
            return {"learn_threshold": False}
        return {"learn_threshold": True, "threshold_grad": threshold_grad}

    @classmethod
    def check_threshold_grad(cls, threshold_grad: str) -> None:
        """Raise a ValueError listing :attr:`threshold_grads` unless ``threshold_grad`` is one of them."""
        if threshold_grad not in cls.threshold_grads:
            raise ValueError(f"{cls.__name__}: unknown threshold_grad {threshold_grad!r}; expected one of "
                             f"{list(cls.threshold_grads)} (a fixed threshold is learn_threshold=False)")

    def register_threshold(self, init: torch.Tensor, *, learn: bool) -> None:
        """Register the threshold ``v_th``: an ``nn.Parameter`` when ``learn``, else a buffer, so that
        ``state_dict`` and ``.to()`` see it either way."""
        if learn:
            self.v_th = nn.Parameter(init)
        else:
            self.register_buffer("v_th", init)

    @property
    def learnable(self) -> bool:
        """Whether the neuron learns a threshold (False for a fixed one, and for neurons without one)."""
        return isinstance(getattr(self, "v_th", None), nn.Parameter)

    def resting_state(self) -> torch.Tensor | float:
        """The membrane a sequence starts from: 0, unless a subclass keeps its own (e.g. θ/2 for conversion)."""
        return 0.0

    def multistep(self, x_seq: torch.Tensor, v_init: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass over the sequence: ``(outputs [T, B, ...], membrane after the last step [B, ...])``."""
        raise NotImplementedError

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        v_init = self.v if self.stream and self.v is not None else self.resting_state()
        if x_seq.dtype in LOW_PRECISION:
            # Mixed precision: the membrane, threshold and surrogate stay in float32 (a float16 membrane
            # loses small charges, exp() in the sigmoid surrogate overflows); spikes are exact in any dtype.
            y_seq, self.v = self.multistep(x_seq.float(), v_init)
            return y_seq.to(x_seq.dtype)
        y_seq, self.v = self.multistep(x_seq, v_init)
        return y_seq

    def reset(self) -> None:
        """Forget the membrane: the next call starts from rest even when streaming."""
        self.v = None


def check_decay(decay: float, *, where: str) -> float:
    """The membrane decay (leak factor) as a float, which must lie in (0, 1]: above 1 the membrane grows
    without input, at or below 0 it forgets or flips sign every step.

    Example:
        >>> check_decay(0.5, where="LIFNeuron")
        0.5
    """
    if not 0 < decay <= 1:
        raise ValueError(f"{where}: decay={decay!r}; expected a value in (0, 1]")
    return float(decay)


def find_neurons(module: nn.Module) -> list[tuple[str, SpikingNeuron]]:
    """Every spiking neuron in ``module`` as (qualified name, neuron), in module order; ``module`` itself,
    named ``""``, when it is a neuron.

    Example:
        >>> from torch import nn
        >>> from ltsnn.neurons import LIFNeuron, find_neurons
        >>> [name for name, _ in find_neurons(nn.Sequential(nn.Identity(), LIFNeuron()))]
        ['1']
        >>> [name for name, _ in find_neurons(LIFNeuron())]
        ['']
    """
    return [(name, m) for name, m in module.named_modules() if isinstance(m, SpikingNeuron)]


def threshold_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The learnable firing thresholds (``v_th`` parameters) of the neurons of ``module``, in module order."""
    return [neuron.v_th for _, neuron in find_neurons(module) if neuron.learnable]


def reset_states(module: nn.Module) -> None:
    """Reset every neuron of ``module`` (``module`` itself included): the next forward starts from rest."""
    for _, neuron in find_neurons(module):
        neuron.reset()
