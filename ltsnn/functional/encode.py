"""Coding a static image as spikes: Poisson (rate) coding and randomized-smoothing coding (methods §7).

A static data set repeats the image over T (direct coding, ``x_seq[t] = x``); a stochastic code replaces each
step by a draw whose mean is the intensity. The sampler has no derivative, so the spikes carry the
straight-through gradient ``∂s/∂p := 1`` of most SNN codes (§7): attacks and training see the network through
the rate ``p`` the spikes are drawn from.

Example:
    >>> import torch
    >>> x_seq = torch.full((4, 1, 1, 2, 2), 0.5, requires_grad=True)
    >>> s_seq = poisson_encode(x_seq, generator=torch.Generator().manual_seed(0))
    >>> sorted(s_seq.unique().tolist())
    [0.0, 1.0]
    >>> s_seq.sum().backward(); x_seq.grad.unique().tolist()          # straight through
    [1.0]
"""

from __future__ import annotations

import torch


def check_intensities(x: torch.Tensor, *, what: str) -> None:
    """One-line ValueError unless every value of ``x`` is an intensity in [0, 1] (a spike probability)."""
    if x.numel() and (bool(x.min() < 0) or bool(x.max() > 1) or bool(torch.isnan(x).any())):
        raise ValueError(f"{what} expects pixel intensities in [0, 1] (before any mean/std normalisation), got "
                         f"values in [{float(x.min()):.4g}, {float(x.max()):.4g}]")


def bernoulli_straight_through(p: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Spikes ``s ~ Bernoulli(p)`` elementwise, with the gradient of ``p`` (``∂s/∂p := 1``).

    ``p``: probabilities in [0, 1], any shape; returns 0/1 values of ``p``'s shape and dtype.
    """
    spikes = torch.bernoulli(p.detach(), generator=generator)
    return p + (spikes - p).detach()                            # value: the spikes; gradient: identity


def poisson_encode(x_seq: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Poisson (rate) coding: every step, every pixel spikes with probability its intensity.

    ``x_seq``: ``[T, B, C, H, W]`` intensities in [0, 1] (a static image repeated over T); returns 0/1 spikes
    of the same shape, independent over steps and pixels, with ``E[s] = x`` and variance ``x (1 - x)``.
    """
    check_intensities(x_seq, what="poisson coding")
    return bernoulli_straight_through(x_seq, generator=generator)


def rsc_encode(x_seq: torch.Tensor, *, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Randomized-smoothing coding, our reading (docs/methods/rsc.md): Poisson coding of a Gaussian-smoothed image.

    One Gaussian draw ``ε ~ N(0, σ² I)`` per sample, shared by all T steps, is added to the intensities and the
    result clipped to [0, 1]; each step then spikes with that probability:
    ``s_t ~ Bernoulli(clip(x + ε, 0, 1))``. ``sigma = 0`` is Poisson coding; a larger ``sigma`` trades clean
    accuracy for robustness, and the Gaussian part makes the coded network a Gaussian-smoothed classifier
    whose certified L2 radius is ``σ Φ⁻¹(p_A)`` (Cohen et al. 2019). The gradient passes straight through the
    sampler and through the clip where it is not saturated.

    ``x_seq``: ``[T, B, ...]`` intensities in [0, 1]; returns 0/1 spikes of the same shape.

    Example:
        >>> s_seq = rsc_encode(torch.full((1000, 2, 1), 0.5), sigma=0.3, generator=torch.Generator().manual_seed(0))
        >>> s_seq.mean(0).flatten().tolist() != [0.5, 0.5]             # each sample's own smoothed rate
        True
    """
    check_intensities(x_seq, what="rsc coding")
    if not sigma >= 0:
        raise ValueError(f"rsc coding: sigma must be >= 0, got {sigma!r}")
    noise = torch.randn((1, *x_seq.shape[1:]), generator=generator, device=x_seq.device, dtype=x_seq.dtype)
    return bernoulli_straight_through((x_seq + sigma * noise).clamp(0, 1), generator=generator)
