"""Randomized-smoothing certification (ltsnn.robust.certify): the binomial bounds against closed forms, scipy and a
simulation, and CERTIFY / PREDICT on a linear classifier whose smoothed probability is known in closed form."""

import math
from statistics import NormalDist

import pytest
import torch

from ltsnn.layers import EncodedModel, create_encoder
from ltsnn.robust import certify, certify_dataset, clopper_pearson_lower, predict, smoothed_classifier, snn_classifier
from ltsnn.robust.certify import ABSTAIN, binomial_upper_tail, regularized_incomplete_beta, two_sided_binomial_p


@pytest.mark.parametrize("a,b,x", [(1, 1, 0.3), (4, 1, 0.7), (1, 6, 0.2), (7, 7, 0.5), (3, 9, 0.05)])
def test_incomplete_beta_closed_forms(a, b, x):
    exact = {(1, 1): x, (4, 1): x ** 4, (1, 6): 1 - (1 - x) ** 6, (7, 7): 0.5}.get((a, b))
    if exact is None:                                           # I_x(a, b) = P(Binomial(a + b - 1, x) >= a)
        n = a + b - 1
        exact = sum(math.comb(n, i) * x ** i * (1 - x) ** (n - i) for i in range(a, n + 1))
    assert regularized_incomplete_beta(a, b, x) == pytest.approx(exact, rel=1e-12, abs=1e-15)


def test_clopper_pearson_closed_forms():
    for n, alpha in [(1, 0.05), (10, 0.05), (1000, 0.001)]:
        assert clopper_pearson_lower(n, n, alpha) == pytest.approx(alpha ** (1 / n), abs=1e-11)   # k = n
        assert clopper_pearson_lower(0, n, alpha) == 0.0
    lower = clopper_pearson_lower(37, 100, 0.05)                # the definition: P(X >= k | lower) = alpha
    assert binomial_upper_tail(37, 100, lower) == pytest.approx(0.05, rel=1e-9)
    with pytest.raises(ValueError, match="alpha"):
        clopper_pearson_lower(3, 10, 1.5)


def test_clopper_pearson_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for k, n, alpha in [(1, 10, 0.001), (5, 10, 0.05), (99, 100, 0.001), (9990, 10000, 0.001),
                        (50000, 100000, 0.001), (3, 1000, 0.01)]:
        assert clopper_pearson_lower(k, n, alpha) == pytest.approx(stats.beta.ppf(alpha, k, n - k + 1), abs=1e-10)
    for k, n in [(60, 100), (7, 10), (500, 1000), (0, 5)]:
        assert two_sided_binomial_p(k, n) == pytest.approx(stats.binomtest(k, n).pvalue, rel=1e-9)


@pytest.mark.parametrize("p", [0.3, 0.9, 0.99])
def test_clopper_pearson_coverage_on_a_simulated_binomial(p):
    n, trials, alpha = 50, 4000, 0.05
    torch.manual_seed(int(p * 100))
    k = torch.distributions.Binomial(n, torch.tensor(p)).sample((trials,)).long()
    bound = {int(v): clopper_pearson_lower(int(v), n, alpha) for v in k.unique()}
    lower = torch.tensor([bound[int(v)] for v in k])
    coverage = float((lower <= p).double().mean())
    assert coverage >= 1 - alpha - 3 * math.sqrt(alpha * (1 - alpha) / trials)
    assert float(lower.mean()) > p - 0.2                        # a bound, not a trivial 0


def test_the_two_sided_test_of_predict():
    assert two_sided_binomial_p(10, 10) == pytest.approx(2 * 0.5 ** 10)
    assert two_sided_binomial_p(5, 10) == 1.0


# ---------------------------------------------------------------------------------------------- a known margin

SIGMA = 0.05                                                    # small: x + noise stays inside [0, 1]


def _linear_case(z: float):
    """A two-class linear classifier and an image whose smoothed top-class probability is p_A = Φ(z): with
    margin m = w·x + b, P(w·(x + σε) + b > 0) = Φ(m / (σ‖w‖)); the certified radius tends to m / ‖w‖."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, generator=g, dtype=torch.float64)
    x = torch.full((1, 4, 4), 0.5, dtype=torch.float64)
    b = z * SIGMA * float(w.norm()) - float(w @ x.flatten())
    classify = lambda images: torch.stack([images.flatten(1) @ w + b, torch.zeros(len(images), dtype=w.dtype)], 1)
    return classify, x, z * SIGMA                               # the true radius m / ‖w‖ = z σ


def test_certified_radius_approaches_sigma_times_the_inverse_normal_of_p_a():
    classify, x, true_radius = _linear_case(z=1.5)              # p_A = Φ(1.5) ≈ 0.933
    radii = []
    for n in (100, 1000, 100_000):
        sample = smoothed_classifier(classify, noise="gaussian", sigma=SIGMA, seed=n)
        c, radius = certify(sample, x, sigma=SIGMA, n0=100, n=n, alpha=0.001, num_classes=2, batch=20_000)
        assert c == 0
        radii.append(radius)
    assert all(r <= true_radius for r in radii)                 # a lower bound (each fails w.p. <= alpha)
    assert radii[0] < radii[1] < radii[2]
    # the gap at n = 1e5: about 3.1 standard errors of p_A, mapped through σ Φ⁻¹
    p_a = NormalDist().cdf(1.5)
    gap = SIGMA * 3.1 * math.sqrt(p_a * (1 - p_a) / 100_000) / NormalDist().pdf(1.5)
    assert true_radius - radii[2] < 2 * gap


def test_certify_abstains_at_the_decision_boundary_and_predict_decides_away_from_it():
    classify, x, _ = _linear_case(z=0.0)                        # p_A = 1/2
    sample = smoothed_classifier(classify, noise="gaussian", sigma=SIGMA, seed=1)
    assert certify(sample, x, sigma=SIGMA, n0=100, n=2000, alpha=0.001, num_classes=2) == (ABSTAIN, 0.0)
    assert predict(sample, x, n=2000, alpha=0.001, num_classes=2) == ABSTAIN
    clear, x, _ = _linear_case(z=2.0)
    assert predict(smoothed_classifier(clear, noise="gaussian", sigma=SIGMA), x, n=500, alpha=0.001,
                   num_classes=2) == 0


def test_certified_accuracy_table():
    classify, x, true_radius = _linear_case(z=1.5)
    sample = smoothed_classifier(classify, noise="gaussian", sigma=SIGMA)
    items = [(x, 0), (x, 1)]                                    # the second is labelled wrongly
    rows, table = certify_dataset(sample, items, sigma=SIGMA, n0=50, n=2000, alpha=0.01, num_classes=2,
                                  radii=[0.0, 0.5 * true_radius, 2 * true_radius])
    assert [r["correct"] for r in rows] == [True, False] and rows[0]["radius"] > 0.5 * true_radius
    assert [t["certified_accuracy"] for t in table] == [0.5, 0.5, 0.0]


def test_encoder_noise_draws_nothing_itself():
    model = EncodedModel(create_encoder("rsc", sigma=0.3, seed=2), torch.nn.Flatten(2))
    classify = snn_classifier(model, 4)                         # [B, 1, 2, 2] -> [B, 4] mean spike counts
    x = torch.tensor([[[[0.9, 0.1], [0.1, 0.1]]]])
    sample = smoothed_classifier(classify, noise="encoder", sigma=0.3)
    labels = sample(x.expand(500, 1, 2, 2))
    assert 0.5 < float((labels == 0).double().mean()) < 1      # the encoder's randomness, not a constant
    with pytest.raises(ValueError, match="noise: expected one of gaussian, encoder"):
        smoothed_classifier(classify, noise="laplace", sigma=0.3)
