"""Certified L2 robustness by randomized smoothing: Cohen, Rosenfeld & Kolter (ICML 2019), PREDICT and CERTIFY.

The smoothed classifier ``g(x) = argmax_c P(f(x + ε) = c)``, ``ε ~ N(0, σ² I)``, is constant within the L2 ball
of radius ``σ Φ⁻¹(p_A)`` around ``x`` when the top class has probability at least ``p_A`` (Cohen et al.,
Theorem 1). CERTIFY picks the top class from ``n0`` noisy draws, counts it in ``n`` fresh draws, and
certifies ``σ Φ⁻¹(p_A_lower)`` with ``p_A_lower`` the one-sided ``1 - α`` Clopper-Pearson bound; it abstains
when ``p_A_lower < 1/2``. PREDICT abstains unless the top two counts differ significantly (binomial test at
level α). The binomial bounds are computed here, from the regularized incomplete beta function (no scipy).

Two noises (docs/methods/rsc.md): ``"gaussian"`` adds ``N(0, σ²)`` to the image (the standard version; the
noisy image is clipped to [0, 1] inside the base classifier, which leaves the guarantee intact); ``"encoder"``
adds nothing and lets the model's own encoder draw: for the RSC encoder, whose code is Poisson spikes of a
Gaussian-smoothed image, the coded network is itself a smoothed classifier with ``σ`` the encoder's sigma.

Example:
    >>> round(clopper_pearson_lower(10, 10, 0.05), 6) == round(0.05 ** (1 / 10), 6)   # k = n: α^(1/n)
    True
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Callable, Iterable, Sequence

import torch

from ltsnn.robust.attacks import Classifier

NOISES = ("gaussian", "encoder")
ABSTAIN = -1
Sampler = Callable[[torch.Tensor], torch.Tensor]                # images [N, C, H, W] -> one noisy label each [N]


# ---------------------------------------------------------------------------------------------- binomial bounds

def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """``I_x(a, b)``, the beta distribution's CDF, by Lentz's continued fraction (Numerical Recipes §6.4),
    on the side of ``x`` where it converges fast (``I_x(a, b) = 1 - I_{1-x}(b, a)``).

    Example:
        >>> round(regularized_incomplete_beta(3, 1, 0.5), 12)          # I_x(a, 1) = x^a
        0.125
    """
    if not (a > 0 and b > 0 and 0 <= x <= 1):
        raise ValueError(f"incomplete beta: expected a > 0, b > 0 and x in [0, 1], got a={a}, b={b}, x={x}")
    if x in (0.0, 1.0):
        return x
    if x > (a + 1) / (a + b + 2):
        return 1.0 - regularized_incomplete_beta(b, a, 1.0 - x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 100_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),             # even step
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):  # odd step
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, p)``: ``I_p(k, n - k + 1)`` (1 for k <= 0, 0 for k > n)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return regularized_incomplete_beta(k, n - k + 1, p)


def clopper_pearson_lower(k: int, n: int, alpha: float) -> float:
    """The one-sided ``1 - alpha`` Clopper-Pearson lower bound on a binomial proportion from ``k`` successes
    in ``n`` trials: the ``p`` with ``P(X >= k | p) = alpha`` (0 when k = 0), by bisection to 1e-12."""
    if not (0 <= k <= n and n >= 1):
        raise ValueError(f"clopper_pearson_lower: expected 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a value in (0, 1), got {alpha!r}")
    if k == 0:
        return 0.0
    low, high = 0.0, 1.0                                        # the tail grows with p
    while high - low > 1e-12:
        mid = (low + high) / 2
        low, high = (mid, high) if binomial_upper_tail(k, n, mid) < alpha else (low, mid)
    return low


def two_sided_binomial_p(k: int, n: int) -> float:
    """The exact two-sided p-value of ``k`` successes in ``n`` trials under ``p = 1/2`` (symmetric:
    ``2 P(X >= max(k, n - k))``, at most 1).

    Example:
        >>> round(two_sided_binomial_p(10, 10) * 2 ** 10, 9)           # 10 of 10: 2 / 2^10
        2.0
    """
    if not 0 <= k <= n:
        raise ValueError(f"two_sided_binomial_p: expected 0 <= k <= n, got k={k}, n={n}")
    return min(1.0, 2 * binomial_upper_tail(max(k, n - k), n, 0.5))


# ---------------------------------------------------------------------------------------------- the smoothed classifier

def smoothed_classifier(classifier: Classifier, *, noise: str, sigma: float, seed: int = 0) -> Sampler:
    """One noisy label per image: ``argmax classifier(clip(x + σ ε, 0, 1))`` for ``noise="gaussian"`` (ε from a
    generator seeded with ``seed``), ``argmax classifier(x)`` for ``"encoder"`` (the model's encoder draws)."""
    if noise not in NOISES:
        raise ValueError(f"noise: expected one of {', '.join(NOISES)}, got {noise!r}")
    if not sigma > 0:
        raise ValueError(f"sigma: expected a value > 0, got {sigma!r}")
    generators: dict[torch.device, torch.Generator] = {}

    @torch.no_grad()
    def sample(images: torch.Tensor) -> torch.Tensor:
        if noise == "gaussian":
            g = generators.setdefault(images.device, torch.Generator(images.device).manual_seed(seed))
            eps = torch.randn(images.shape, generator=g, device=images.device, dtype=images.dtype)
            images = (images + sigma * eps).clamp(0, 1)
        return classifier(images).argmax(1)
    return sample


def sample_counts(sample: Sampler, x: torch.Tensor, *, num: int, num_classes: int, batch: int) -> torch.Tensor:
    """How often each class comes out of ``num`` noisy draws of the image ``x`` ``[C, H, W]``: int64 ``[K]``."""
    counts = torch.zeros(num_classes, dtype=torch.int64)
    remaining = num
    while remaining > 0:
        size = min(batch, remaining)
        labels = sample(x.unsqueeze(0).expand(size, *x.shape))
        counts += torch.bincount(labels.cpu(), minlength=num_classes)[:num_classes]
        remaining -= size
    return counts


def predict(sample: Sampler, x: torch.Tensor, *, n: int, alpha: float, num_classes: int, batch: int = 100) -> int:
    """Cohen et al.'s PREDICT: the top class of ``n`` draws, or :data:`ABSTAIN` (-1) unless it beats the
    runner-up in a two-sided binomial test at level ``alpha`` (then wrong with probability at most alpha)."""
    counts = sample_counts(sample, x, num=n, num_classes=num_classes, batch=batch)
    top2 = counts.topk(2)
    n_a, n_b = int(top2.values[0]), int(top2.values[1])
    return int(top2.indices[0]) if two_sided_binomial_p(n_a, n_a + n_b) <= alpha else ABSTAIN


def certify(sample: Sampler, x: torch.Tensor, *, sigma: float, n0: int, n: int, alpha: float, num_classes: int,
            batch: int = 100) -> tuple[int, float]:
    """Cohen et al.'s CERTIFY: ``(class, radius)``, the top class of ``n0`` selection draws and the L2 radius
    ``σ Φ⁻¹(p_A_lower)`` from ``n`` estimation draws, or ``(ABSTAIN, 0.0)`` when ``p_A_lower < 1/2``."""
    if not (n0 >= 1 and n >= 1):
        raise ValueError(f"certify: expected n0 >= 1 and n >= 1, got n0={n0}, n={n}")
    c_a = int(sample_counts(sample, x, num=n0, num_classes=num_classes, batch=batch).argmax())
    n_a = int(sample_counts(sample, x, num=n, num_classes=num_classes, batch=batch)[c_a])
    p_a = clopper_pearson_lower(n_a, n, alpha)
    if p_a < 0.5:
        return ABSTAIN, 0.0
    return c_a, sigma * NormalDist().inv_cdf(p_a)                # p_a < 1: the bisection stops below 1


def certify_dataset(sample: Sampler, items: Iterable[tuple[torch.Tensor, int]], *, sigma: float, n0: int, n: int,
                    alpha: float, num_classes: int, radii: Sequence[float], batch: int = 100
                    ) -> tuple[list[dict], list[dict]]:
    """CERTIFY every (image ``[C, H, W]``, label) of ``items``. Returns the per-image rows
    ``{"index", "label", "predict", "radius", "correct"}`` and the certified accuracy at each of ``radii``:
    ``{"radius", "certified_accuracy", "n"}``, the share of images classified correctly with a radius >= r."""
    rows = []
    for index, (x, label) in enumerate(items):
        c, radius = certify(sample, x, sigma=sigma, n0=n0, n=n, alpha=alpha, num_classes=num_classes, batch=batch)
        rows.append({"index": index, "label": int(label), "predict": c, "radius": radius,
                     "correct": c == int(label)})
    total = max(len(rows), 1)
    table = [{"radius": float(r), "certified_accuracy": sum(row["correct"] and row["radius"] >= r for row in rows)
              / total, "n": len(rows)} for r in radii]
    return rows, table
