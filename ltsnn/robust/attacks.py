"""White-box attacks on a classifier of static images: FGSM and PGD under L∞ or L2 (the customary protocol of
methods §7, ours), with Expectation over Transformation for stochastic encoders.

An attack sees a *classifier*: images ``[B, C, H, W]`` in [0, 1] -> logits ``[B, K]``. For a spiking model,
:func:`snn_classifier` repeats the image over T, runs the model's forward over the whole sequence and averages
its ``[T, B, K]`` outputs over time, so the gradient is the surrogate gradient through BPTT (and straight
through a Poisson / RSC sampler). The attacked loss is the cross-entropy of that time-averaged output.

Example: on a linear classifier, FGSM moves every pixel by ε against the true class
    >>> import torch
    >>> classifier = lambda x: torch.cat([x.flatten(1).sum(1, keepdim=True), torch.zeros(len(x), 1)], 1)
    >>> x_adv = fgsm(classifier, torch.full((1, 1, 2, 2), 0.5), torch.tensor([0]), eps=0.1)
    >>> x_adv.flatten().tolist()
    [0.4000000059604645, 0.4000000059604645, 0.4000000059604645, 0.4000000059604645]
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ltsnn.functional.surrogate import get_surrogate
from ltsnn.neurons import find_neurons, reset_states

NORMS = ("linf", "l2")
Classifier = Callable[[torch.Tensor], torch.Tensor]             # images [B, C, H, W] -> logits [B, K]


def snn_classifier(model: nn.Module, n_time_bins: int) -> Classifier:
    """``model`` (``[T, B, C, H, W]`` -> ``[T, B, K]``) as a classifier of static images: the image repeated
    over ``n_time_bins`` steps (direct input; an encoded model codes it), outputs averaged over time."""
    def classify(images: torch.Tensor) -> torch.Tensor:
        x_seq = images.unsqueeze(0).expand(n_time_bins, *images.shape)    # [B, C, H, W] -> [T, B, C, H, W]
        logits = model(x_seq).mean(0)                                     # [T, B, K] -> [B, K]
        reset_states(model)                                   # as the engine does after each batch
        return logits
    return classify


@contextmanager
def attack_surrogate(model: nn.Module, surrogate: str | None) -> Iterator[nn.Module]:
    """Within the block, every neuron of ``model`` that has a surrogate gradient uses ``surrogate`` (at its default
    width) instead of its own; None changes nothing. A surrogate of compact support (the triangle) is zero for
    a membrane far from the threshold, so a trained network can show no input gradient at all and look robust
    (gradient masking); attacking through a surrogate with full support (``atan``, ``sigmoid``) is the
    BPDA-style remedy (Athalye et al. 2018). The forward pass, hence every prediction, is unchanged. Neurons
    with a gradient of their own (I-LIF, LM-HT, DSR, QCFS) keep it."""
    if surrogate is None:
        yield model
        return
    get_surrogate(surrogate)                                    # a ValueError listing the names
    neurons = [n for _, n in find_neurons(model) if hasattr(n, "surrogate") and hasattr(n, "width")]   # the LIF
    saved = [(n.surrogate, n.width) for n in neurons]
    try:
        for n in neurons:
            n.surrogate, n.width = surrogate, None
        yield model
    finally:
        for n, (name, width) in zip(neurons, saved):
            n.surrogate, n.width = name, width


def static_images(frames: torch.Tensor) -> torch.Tensor:
    """The image ``[B, C, H, W]`` of a static batch ``[B, T, C, H, W]`` (the same frame at every step)."""
    if frames.dim() != 5 or not torch.equal(frames, frames[:, :1].expand_as(frames)):
        raise ValueError(f"attacks expect a static data set (frames [B, T, C, H, W] with the same frame at every "
                         f"step, e.g. fashion_static), got frames of shape {tuple(frames.shape)} that change over T")
    return frames[:, 0]


def _check(eps: float, norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm: expected one of {', '.join(NORMS)}, got {norm!r}")
    if not eps >= 0:
        raise ValueError(f"eps: expected a number >= 0, got {eps!r}")


def input_gradient(classifier: Classifier, x: torch.Tensor, y: torch.Tensor, *, n_eot: int = 1) -> torch.Tensor:
    """∂/∂x of the summed cross-entropy of ``classifier(x)`` against labels ``y``, averaged over ``n_eot`` calls
    (Expectation over Transformation: a stochastic encoder draws anew on each call). ``x``: ``[B, ...]``."""
    if n_eot < 1:
        raise ValueError(f"n_eot: expected an int >= 1, got {n_eot!r}")
    grad = torch.zeros_like(x)
    for _ in range(n_eot):
        x_in = x.detach().requires_grad_(True)
        loss = F.cross_entropy(classifier(x_in), y, reduction="sum")    # sum: each sample's gradient its own
        grad += torch.autograd.grad(loss, x_in)[0]
    return grad / n_eot


def _per_sample_l2(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))    # [B] -> [B, 1, 1, 1]


def _ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent unit step of the norm: sign(g) for L∞, g/‖g‖₂ for L2 (0 where g is 0)."""
    if norm == "linf":
        return grad.sign()
    return grad / _per_sample_l2(grad).clamp_min(1e-12)


def project(delta: torch.Tensor, *, eps: float, norm: str) -> torch.Tensor:
    """``delta`` ``[B, ...]`` projected per sample onto the ``norm`` ball of radius ``eps``.

    Example:
        >>> project(torch.tensor([[3.0, -4.0]]), eps=1.0, norm="l2").tolist()
        [[0.6000000238418579, -0.800000011920929]]
    """
    _check(eps, norm)
    if norm == "linf":
        return delta.clamp(-eps, eps)
    return delta * (eps / _per_sample_l2(delta).clamp_min(1e-12)).clamp(max=1)


def fgsm(classifier: Classifier, x: torch.Tensor, y: torch.Tensor, *, eps: float, norm: str = "linf",
         n_eot: int = 1) -> torch.Tensor:
    """Fast gradient (sign) method: one step of length ``eps`` up the loss, clamped to [0, 1] (Goodfellow et al.
    2015; the L2 version steps along the normalised gradient). Returns the adversarial images."""
    _check(eps, norm)
    grad = input_gradient(classifier, x, y, n_eot=n_eot)
    return (x + eps * _ascent_direction(grad, norm)).clamp(0, 1).detach()


def pgd(classifier: Classifier, x: torch.Tensor, y: torch.Tensor, *, eps: float, norm: str = "linf", steps: int = 10,
        step_size: float | None = None, random_start: bool = False, n_eot: int = 1, seed: int = 0) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018): ``steps`` ascent steps of ``step_size`` (default
    2.5·eps/steps), each projected back onto the ``eps`` ball around ``x`` and into [0, 1]; ``random_start``
    begins at a uniform point of the ball (drawn from ``seed``). Returns the adversarial images."""
    _check(eps, norm)
    if steps < 1:
        raise ValueError(f"steps: expected an int >= 1, got {steps!r}")
    alpha = 2.5 * eps / steps if step_size is None else step_size
    delta = torch.zeros_like(x)
    if random_start:
        g = torch.Generator(x.device).manual_seed(seed)
        if norm == "linf":
            delta = (torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype) * 2 - 1) * eps
        else:                                                   # uniform in the ball: direction x radius u^(1/d)
            d = x[0].numel()
            direction = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
            radius = eps * torch.rand(len(x), generator=g, device=x.device, dtype=x.dtype) ** (1 / d)
            delta = direction / _per_sample_l2(direction) * radius.view(-1, *([1] * (x.dim() - 1)))
        delta = (x + delta).clamp(0, 1) - x
    for _ in range(steps):
        grad = input_gradient(classifier, x + delta, y, n_eot=n_eot)
        delta = project(delta + alpha * _ascent_direction(grad, norm), eps=eps, norm=norm)
        delta = (x + delta).clamp(0, 1) - x                     # a valid image; stays inside the ball
    return (x + delta).detach()


@torch.no_grad()
def _correct(classifier: Classifier, x: torch.Tensor, y: torch.Tensor) -> int:
    return int((classifier(x).argmax(1) == y).sum())


def accuracy_under_attack(classifier: Classifier, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *,
                          eps: Sequence[float], norm: str = "linf", steps: int = 10, n_eot: int = 1,
                          random_start: bool = False, seed: int = 0,
                          source: Classifier | None = None) -> list[dict[str, float]]:
    """Accuracy on ``batches`` of (images ``[B, C, H, W]``, labels ``[B]``) under PGD with ``steps`` steps
    (FGSM when ``steps`` is 1 and there is no random start) at each radius of ``eps``; one row per radius:
    ``{"eps", "accuracy", "n"}``. A stochastic classifier is scored on one fresh draw per image, so the
    accuracy is also averaged over its randomness. ``eps = 0`` is the clean accuracy. With ``source``, the
    perturbations are crafted on that classifier (a transfer attack; ``n_eot`` is then its draws) and scored on
    ``classifier``."""
    source = classifier if source is None else source
    for e in eps:
        _check(e, norm)
    correct, n = [0] * len(eps), 0
    for images, labels in batches:
        n += len(labels)
        for i, e in enumerate(eps):
            if e == 0:
                x_adv = images
            elif steps == 1 and not random_start:
                x_adv = fgsm(source, images, labels, eps=e, norm=norm, n_eot=n_eot)
            else:
                x_adv = pgd(source, images, labels, eps=e, norm=norm, steps=steps, n_eot=n_eot,
                            random_start=random_start, seed=seed)
            correct[i] += _correct(classifier, x_adv, labels)
    return [{"eps": float(e), "accuracy": c / max(n, 1), "n": n} for e, c in zip(eps, correct)]
