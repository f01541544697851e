"""Input encoders for static images, chosen by name (``model.encoder``), and the model they feed.

Each encoder maps the ``[T, B, C, H, W]`` intensities of a static data set (the image repeated over T) to what
the network's first layer sees. Stochastic ones draw from their own ``torch.Generator``, seeded with ``seed``
(the run's ``train.seed``) on first use on each device, so the same seed gives the same spikes whatever else
drew random numbers; :meth:`Encoder.reseed` starts the stream again. The training loop restarts it at a named
position (:func:`restart_encoders`: each epoch, each evaluation), so the draws need no checkpoint: a resumed
run and ``ltsnn eval`` draw what the uninterrupted run drew. The maths is in :mod:`ltsnn.functional.encode`.

Example:
    >>> import torch
    >>> enc = create_encoder("poisson", seed=3)
    >>> x_seq = torch.full((8, 2, 1, 4, 4), 0.25)
    >>> first = enc(x_seq); _ = enc.reseed(); torch.equal(first, enc(x_seq))
    True
    >>> create_encoder("rsc", noise=0.1)
    Traceback (most recent call last):
    ...
    ValueError: encoder 'rsc' got unknown option(s) ['noise']; valid: ['seed', 'sigma']
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from torch import nn

from ltsnn.functional.encode import poisson_encode, rsc_encode
from ltsnn.registry import Registry

ENCODERS = Registry("encoder")
register_encoder = ENCODERS.register


class Encoder(nn.Module):
    """Base of the encoders: ``[T, B, C, H, W]`` intensities -> ``[T, B, C, H, W]`` network input.

    Attributes:
        seed: seeds the generator. stochastic: whether two calls on the same input may differ (attacks then
            average gradients over draws, certification counts over them).
        sigma: the std of the Gaussian smoothing noise inside the code (0: none, no L2 certificate of its own).
    """

    stochastic = False
    sigma = 0.0

    def __init__(self, *, seed: int = 0):
        super().__init__()
        self.seed = int(seed)
        self._stream: tuple[int, ...] = ()
        self._generators: dict[torch.device, torch.Generator] = {}

    def generator(self, device: torch.device) -> torch.Generator:
        """This encoder's generator on ``device``, seeded when first asked for: with :attr:`seed`, or after
        :meth:`restart` with a seed derived from (:attr:`seed`, stream)."""
        if device not in self._generators:
            seed = self.seed
            if self._stream:
                seed = int(np.random.SeedSequence([self.seed % 2**64, *self._stream]).generate_state(1, np.uint64)[0])
            self._generators[device] = torch.Generator(device).manual_seed(seed)
        return self._generators[device]

    def reseed(self, seed: int | None = None) -> "Encoder":
        """Start the random stream again from ``seed`` (default: :attr:`seed`); returns self."""
        self.seed = self.seed if seed is None else int(seed)
        self._stream = ()
        self._generators.clear()
        return self

    def restart(self, *stream: int) -> "Encoder":
        """Start the random stream at the position named by ``stream`` (ints >= 0, e.g. a phase and an epoch):
        the draws then depend on (:attr:`seed`, ``stream``) alone, whatever was drawn before; returns self."""
        if any(not isinstance(s, int) or s < 0 for s in stream):
            raise ValueError(f"restart: stream must be ints >= 0, got {stream!r}")
        self._stream = tuple(stream)
        self._generators.clear()
        return self

    def extra_repr(self) -> str:
        return f"seed={self.seed}"


@register_encoder("direct")
class DirectEncoder(Encoder):
    """direct coding: the intensities themselves every step (the first layer sees real values)"""

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return x_seq


@register_encoder("poisson")
class PoissonEncoder(Encoder):
    """Poisson (rate) coding: s_t ~ Bernoulli(x) per step and pixel, straight-through gradient"""

    stochastic = True

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return poisson_encode(x_seq, generator=self.generator(x_seq.device))


@register_encoder("rsc")
class RSCEncoder(Encoder):
    """randomized-smoothing coding (ours): s_t ~ Bernoulli(clip(x + N(0, sigma^2), 0, 1)), noise shared over T"""

    stochastic = True

    def __init__(self, *, sigma: float = 0.25, seed: int = 0):
        super().__init__(seed=seed)
        if not (isinstance(sigma, (int, float)) and sigma >= 0):
            raise ValueError(f"encoder 'rsc': sigma must be a number >= 0, got {sigma!r}")
        self.sigma = float(sigma)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, seed={self.seed}"

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return rsc_encode(x_seq, sigma=self.sigma, generator=self.generator(x_seq.device))


def create_encoder(name: str, **options) -> Encoder:
    """The encoder registered as ``name`` with its ``options`` (``seed``, and e.g. ``sigma`` for ``rsc``)."""
    factory = ENCODERS.lookup(name)
    valid = sorted(p for p in inspect.signature(factory).parameters if p != "self")
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"encoder {name!r} got unknown option(s) {unknown}; valid: {valid}")
    return factory(**options)


class EncodedModel(nn.Module):
    """A model whose input passes an encoder first: ``network(encoder(x_seq))``, ``[T, B, C, H, W]`` -> ``[T, B, K]``.

    The network's weights sit under ``network.`` in the state dict (the encoder has none); its ``name``,
    ``in_channels`` and ``input_size`` are shown here too.

    Example:
        >>> import torch
        >>> model = EncodedModel(create_encoder("poisson"), torch.nn.Flatten(2))
        >>> model(torch.full((3, 2, 1, 2, 2), 0.5)).shape
        torch.Size([3, 2, 4])
    """

    def __init__(self, encoder: Encoder, network: nn.Module):
        super().__init__()
        self.encoder, self.network = encoder, network
        for attr in ("name", "in_channels", "input_size"):
            if hasattr(network, attr):
                setattr(self, attr, getattr(network, attr))

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.network(self.encoder(x_seq))


def restart_encoders(model: nn.Module, *stream: int) -> None:
    """:meth:`Encoder.restart` every encoder inside ``model`` at ``stream``.

    Example:
        >>> import torch
        >>> model = EncodedModel(create_encoder("poisson", seed=1), torch.nn.Identity())
        >>> x_seq = torch.full((4, 1, 1, 8, 8), 0.5)
        >>> restart_encoders(model, 0, 3); first = model(x_seq); _ = model(x_seq)
        >>> restart_encoders(model, 0, 3); torch.equal(first, model(x_seq))
        True
    """
    for module in model.modules():
        if isinstance(module, Encoder):
            module.restart(*stream)


def encoder_of(model: nn.Module) -> Encoder:
    """The encoder ``model`` codes its input with: an :class:`EncodedModel`'s, else direct coding."""
    return model.encoder if isinstance(model, EncodedModel) else DirectEncoder()
