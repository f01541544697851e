"""Input encoders (ltsnn.functional.encode, ltsnn.layers.encoding): their law, their seeds, their gradient,
and how a config selects them and a checkpoint rebuilds them."""

import math

import pytest
import torch

from ltsnn.build import model_args_for, model_from_args
from ltsnn.config import ConfigError, load_config
from ltsnn.functional.encode import bernoulli_straight_through, poisson_encode, rsc_encode
from ltsnn.layers import ENCODERS, EncodedModel, create_encoder, encoder_of

LEVELS = torch.linspace(0, 1, 11, dtype=torch.float64)          # p = 0, 0.1, ..., 1


def test_poisson_spike_rate_is_the_intensity_within_binomial_error():
    n = 4000                                                    # steps, each an independent Bernoulli(p)
    x_seq = LEVELS.view(1, 1, 1, 1, -1).expand(n, 3, 1, 1, -1)
    s_seq = poisson_encode(x_seq, generator=torch.Generator().manual_seed(0))
    rate = s_seq.mean(0)                                        # [3, 1, 1, 11]
    std = (LEVELS * (1 - LEVELS) / n).sqrt()                    # the binomial standard error of a rate
    assert set(s_seq.unique().tolist()) == {0.0, 1.0}
    assert torch.all((rate - LEVELS).abs() <= 5 * std + 1e-12)  # exact at p = 0 and p = 1
    assert float((rate - LEVELS).abs().max()) > 0               # random in between, not the intensity itself
    var = s_seq.var(0)                                          # the smoothing noise: variance p (1 - p)
    assert torch.allclose(var, (LEVELS * (1 - LEVELS)).expand_as(var), atol=0.03)


def test_poisson_steps_are_independent():
    s_seq = poisson_encode(torch.full((4000, 1, 1, 1, 1), 0.5), generator=torch.Generator().manual_seed(1))
    a, b = s_seq[:-1].flatten(), s_seq[1:].flatten()
    corr = torch.corrcoef(torch.stack([a, b]))[0, 1]
    assert abs(float(corr)) < 5 / math.sqrt(4000)


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan")])
@pytest.mark.parametrize("encode", [lambda x, g: poisson_encode(x, generator=g),
                                    lambda x, g: rsc_encode(x, sigma=0.1, generator=g)])
def test_intensities_outside_0_1_are_refused(encode, bad):
    x_seq = torch.full((2, 1, 1, 2, 2), 0.5)
    x_seq[0, 0, 0, 0, 0] = bad
    with pytest.raises(ValueError, match=r"expects pixel intensities in \[0, 1\]") as e:
        encode(x_seq, torch.Generator())
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name,options", [("poisson", {}), ("rsc", {"sigma": 0.2})])
def test_the_same_seed_gives_the_same_spikes(name, options):
    x_seq = torch.rand(6, 4, 1, 5, 5, generator=torch.Generator().manual_seed(9))
    a = create_encoder(name, seed=7, **options)(x_seq)
    torch.manual_seed(123)                                      # the global stream does not matter
    torch.rand(100)
    b = create_encoder(name, seed=7, **options)(x_seq)
    c = create_encoder(name, seed=8, **options)(x_seq)
    assert torch.equal(a, b) and not torch.equal(a, c)
    enc = create_encoder(name, seed=7, **options)
    first, second = enc(x_seq), enc(x_seq)                      # the stream advances between calls ...
    assert torch.equal(first, a) and not torch.equal(first, second)
    assert torch.equal(enc.reseed()(x_seq), a)                  # ... and starts again on reseed


def test_straight_through_gradient_is_the_identity():
    p = torch.rand(3, 2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).requires_grad_()
    w = torch.randn(3, 2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    s = bernoulli_straight_through(p, generator=torch.Generator().manual_seed(4))
    (s * w).sum().backward()
    assert torch.equal(p.grad, w)                               # ∂s/∂p := 1
    assert torch.equal(s, torch.bernoulli(p.detach(), generator=torch.Generator().manual_seed(4)))


def _clipped_gaussian_mean(mu: float, sigma: float) -> float:
    """E[clip(mu + sigma Z, 0, 1)], float64: E[max(Y, 0)] - E[max(Y - 1, 0)] with E[max(Y - a, 0)] =
    (mu - a) Φ((mu - a)/σ) + σ φ((mu - a)/σ)."""
    def excess(a):
        z = (mu - a) / sigma
        return (mu - a) * 0.5 * (1 + math.erf(z / math.sqrt(2))) + sigma * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return excess(0.0) - excess(1.0)


def test_rsc_rate_is_the_mean_of_the_clipped_smoothed_intensity():
    sigma, n = 0.4, 20000                                       # n samples, each one noise draw
    x = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0], dtype=torch.float64)
    x_seq = x.view(1, 1, 1, 1, -1).expand(2, n, 1, 1, -1)
    s_seq = rsc_encode(x_seq, sigma=sigma, generator=torch.Generator().manual_seed(5))
    rate = s_seq.mean((0, 1)).flatten()
    expected = torch.tensor([_clipped_gaussian_mean(float(v), sigma) for v in x], dtype=torch.float64)
    # a spike's variance is at most 1/4; over 2 steps that share one noise draw, the rate's at most 1/(4n) x 2
    assert torch.all((rate - expected).abs() <= 5 * math.sqrt(0.5 / n))
    assert abs(float(expected[0]) - 0.0) > 0.1                  # the clip lifts a black pixel: not Poisson


def test_rsc_noise_is_shared_by_the_steps_of_a_sample():
    sigma, steps = 0.1, 3000
    s_seq = rsc_encode(torch.full((steps, 400, 1, 1, 1), 0.5), sigma=sigma, generator=torch.Generator().manual_seed(6))
    per_sample = s_seq.mean(0).flatten()                        # ≈ clip(0.5 + σ ε_b) per sample
    expected_std = math.sqrt(sigma ** 2 + 0.25 / steps)         # shared noise + the Bernoulli rate error
    assert abs(float(per_sample.std()) / expected_std - 1) < 0.15


def test_rsc_gradient_passes_where_the_clip_does_not_saturate():
    sigma = 0.5
    x_seq = torch.rand(2, 3, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(7)).requires_grad_()
    rsc_encode(x_seq, sigma=sigma, generator=torch.Generator().manual_seed(8)).sum().backward()
    noise = torch.randn((1, 3, 1, 4, 4), generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    inside = ((x_seq.detach() + sigma * noise) > 0) & ((x_seq.detach() + sigma * noise) < 1)
    assert torch.equal(x_seq.grad, inside.expand_as(x_seq).double())
    assert 0 < inside.float().mean() < 1


def test_rsc_with_no_noise_has_the_poisson_law():
    x_seq = torch.full((4000, 1, 1, 1, 1), 0.3)
    rate = float(rsc_encode(x_seq, sigma=0.0, generator=torch.Generator().manual_seed(0)).mean())
    assert abs(rate - 0.3) < 5 * math.sqrt(0.21 / 4000)


def test_direct_coding_is_the_identity_and_the_registry_lists_the_encoders():
    assert {"direct", "poisson", "rsc"} <= set(ENCODERS)
    x_seq = torch.rand(2, 1, 1, 3, 3)
    assert create_encoder("direct")(x_seq) is x_seq
    assert not create_encoder("direct").stochastic and create_encoder("poisson").stochastic
    assert create_encoder("rsc", sigma=0.3).sigma == 0.3 and create_encoder("poisson").sigma == 0.0
    with pytest.raises(ValueError, match="unknown encoder 'gauss'"):
        create_encoder("gauss")
    with pytest.raises(ValueError, match="sigma must be a number >= 0"):
        create_encoder("rsc", sigma=-1)


def test_a_config_selects_the_encoder_and_a_checkpoint_rebuilds_it():
    class Static:
        in_channels, num_classes, input_size = 1, 3, (8, 8)

    cfg = load_config(None, ["model.encoder=rsc", "model.encoder_options.sigma=0.3", "train.seed=5",
                             "model.neuron_options.backend=torch"])       # no kernel compilation here
    args = model_args_for(cfg.model, Static(), seed=cfg.train.seed)
    assert args["encoder"] == {"name": "rsc", "options": {"sigma": 0.3, "seed": 5}}
    model = model_from_args(args)
    assert isinstance(model, EncodedModel) and model.encoder.sigma == 0.3 and model.in_channels == 1
    again = model_from_args(args)
    again.load_state_dict(model.state_dict())
    x_seq = torch.rand(3, 2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model.eval()(x_seq), again.eval()(x_seq))   # same weights, same seed: same spikes
    assert encoder_of(model) is model.encoder and not encoder_of(model.network).stochastic
    plain = model_args_for(load_config().model, Static())
    assert "encoder" not in plain                               # direct coding: the model and its keys as before
    assert not isinstance(model_from_args(plain), EncodedModel)


@pytest.mark.parametrize("override,match", [("model.encoder_options.noise=1", "unknown option"),
                                            ("model.encoder_options.seed=1", "seeded with train.seed"),
                                            ("model.encoder_options.sigma=-1", "sigma must be")])
def test_bad_encoder_options_are_one_line_config_errors(override, match):
    with pytest.raises(ConfigError, match=match) as e:
        load_config(None, ["model.encoder=rsc", override])
    assert "\n" not in str(e.value)
