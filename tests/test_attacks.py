"""Attacks (ltsnn.robust.attacks): exact on a linear classifier, where the worst case has a closed form, and the
gradient-masking sanity checks (Athalye et al. 2018; Carlini et al. 2019) on a tiny trained SNN per encoder."""

import pytest
import torch
from torch import nn

from ltsnn.layers import EncodedModel, SeqToBatch, create_encoder
from ltsnn.neurons import create_neuron
from ltsnn.robust import (accuracy_under_attack, attack_surrogate, fgsm, input_gradient, pgd, project, snn_classifier,
                          static_images)

D = 16                                                          # pixels of a 1 x 4 x 4 image


def _linear(seed=0):
    """A two-class linear classifier on 1 x 4 x 4 images, float64: logits = W x + b."""
    g = torch.Generator().manual_seed(seed)
    w, b = torch.randn(2, D, generator=g, dtype=torch.float64), torch.randn(2, generator=g, dtype=torch.float64) * 0.1
    return (lambda x: x.flatten(1) @ w.T + b), w, b


def _images(n, seed=1):
    """Images well inside [0, 1] (0.3..0.7) so that a perturbation up to 0.3 never meets the clamp."""
    g = torch.Generator().manual_seed(seed)
    x = 0.3 + 0.4 * torch.rand(n, 1, 4, 4, generator=g, dtype=torch.float64)
    return x, torch.randint(0, 2, (n,), generator=g)


def _margin_rule(x, y, w, b, eps, norm):
    """Accuracy under the optimal attack on a linear 2-class model: correct iff the margin
    m = (w_y - w_j)·x + b_y - b_j exceeds eps times the dual norm of w_y - w_j (L1 for L∞, L2 for L2)."""
    dw = w[y] - w[1 - y]                                        # [N, D]
    margin = (dw * x.flatten(1)).sum(1) + b[y] - b[1 - y]
    dual = dw.abs().sum(1) if norm == "linf" else dw.norm(dim=1)
    return float((margin > eps * dual).double().mean())


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fgsm_finds_the_closed_form_worst_case_of_a_linear_model(norm):
    classify, w, b = _linear()
    x, y = _images(64)
    eps = 0.2
    dw = (w[y] - w[1 - y]).view(-1, 1, 4, 4)
    best = -eps * (dw.sign() if norm == "linf" else dw / dw.flatten(1).norm(dim=1).view(-1, 1, 1, 1))
    assert torch.allclose(fgsm(classify, x, y, eps=eps, norm=norm) - x, best, atol=1e-12)


@pytest.mark.parametrize("norm,random_start", [("linf", False), ("linf", True), ("l2", False), ("l2", True)])
def test_pgd_reaches_the_closed_form_worst_case_margin(norm, random_start):
    classify, w, b = _linear()
    x, y = _images(64)
    eps = 0.25
    x_adv = pgd(classify, x, y, eps=eps, norm=norm, steps=20, random_start=random_start, seed=3)
    delta = x_adv - x
    size = delta.flatten(1).abs().amax(1) if norm == "linf" else delta.flatten(1).norm(dim=1)
    assert torch.all(size <= eps + 1e-9)                        # inside the ball
    dw = w[y] - w[1 - y]
    dual = dw.abs().sum(1) if norm == "linf" else dw.norm(dim=1)
    drop = -(dw * delta.flatten(1)).sum(1)                      # how much the attack lowered the margin
    # from a random start, L2 PGD sheds the start's orthogonal part by a constant factor per step: close, not exact
    assert torch.allclose(drop, eps * dual, rtol=0.05 if random_start and norm == "l2" else 1e-9)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("steps", [1, 10])
def test_accuracy_versus_eps_follows_the_margin_rule_exactly(norm, steps):
    classify, w, b = _linear(seed=4)
    x, y = _images(400, seed=5)
    eps = [0.0, 0.01, 0.03, 0.1, 0.2, 0.3]
    rows = accuracy_under_attack(classify, [(x[:200], y[:200]), (x[200:], y[200:])], eps=eps, norm=norm,
                                 steps=steps)
    expected = [_margin_rule(x, y, w, b, e, norm) for e in eps]
    assert [r["accuracy"] for r in rows] == expected and rows[0]["n"] == 400
    assert expected[0] > expected[-1]                           # the grid is not trivial


@pytest.mark.parametrize("steps", [1, 10])
def test_a_transfer_attack_uses_the_source_gradient(steps):
    """Crafted on the model itself, a transfer attack is the white-box one; crafted on the negated model, it pushes
    every image away from the boundary, so exactly the images with m + eps·||w_y - w_j||_1 > 0 stay correct."""
    classify, w, b = _linear(seed=4)
    x, y = _images(300, seed=6)
    eps = [0.0, 0.05, 0.2]
    white = accuracy_under_attack(classify, [(x, y)], eps=eps, steps=steps)
    assert accuracy_under_attack(classify, [(x, y)], eps=eps, steps=steps, source=classify) == white
    away = accuracy_under_attack(classify, [(x, y)], eps=eps, steps=steps, source=lambda z: -classify(z))
    assert [r["accuracy"] for r in away] == [_margin_rule(x, y, w, b, -e, "linf") for e in eps]
    assert away[-1]["accuracy"] > away[0]["accuracy"] > white[-1]["accuracy"]


def test_adversarial_images_stay_in_0_1():
    classify, w, b = _linear()
    x = torch.full((2, 1, 4, 4), 0.99, dtype=torch.float64)
    y = torch.tensor([0, 1])
    for x_adv in (fgsm(classify, x, y, eps=0.1), pgd(classify, x, y, eps=0.1, steps=5, random_start=True)):
        assert float(x_adv.min()) >= 0.89 - 1e-12 and float(x_adv.max()) <= 1.0


def test_projection_onto_the_balls():
    delta = torch.tensor([[3.0, -4.0]], dtype=torch.float64)
    assert project(delta, eps=1.0, norm="linf").tolist() == [[1.0, -1.0]]
    assert torch.allclose(project(delta, eps=1.0, norm="l2"), torch.tensor([[0.6, -0.8]], dtype=torch.float64))
    assert project(delta, eps=10.0, norm="l2").tolist() == delta.tolist()
    with pytest.raises(ValueError, match="norm: expected one of linf, l2"):
        project(delta, eps=1.0, norm="l1")


def test_eot_averages_the_gradient_over_draws():
    calls = []

    def noisy(x):                                               # a classifier whose gradient alternates in sign
        calls.append(1)
        return torch.stack([x.flatten(1).sum(1) * (1 if len(calls) % 2 else -3), torch.zeros(len(x))], 1)

    x, y = torch.full((1, 1, 2, 2), 0.5), torch.tensor([1])
    g = input_gradient(noisy, x, y, n_eot=2)
    single = [input_gradient(noisy, x, y) for _ in range(2)]
    assert len(calls) == 4 and torch.allclose(g, (single[0] + single[1]) / 2)


def test_static_images_refuses_frames_that_change_over_time():
    frames = torch.rand(2, 1, 1, 3, 3).expand(2, 4, 1, 3, 3)
    assert torch.equal(static_images(frames), frames[:, 0])
    with pytest.raises(ValueError, match="static data set"):
        static_images(torch.rand(2, 4, 1, 3, 3))


# ---------------------------------------------------------------------------------------------- a tiny trained SNN

T, SIDE = 4, 6


def _two_bars(n, seed):
    """Class 0: the top half bright, class 1: the bottom half; intensities in [0, 1] with noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.15 * torch.rand(n, 1, SIDE, SIDE, generator=g)
    for i, k in enumerate(y.tolist()):
        x[i, 0, k * SIDE // 2:(k + 1) * SIDE // 2] += 0.6
    return x.clamp(0, 1), y


class TinySNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = SeqToBatch(nn.Flatten(), nn.Linear(SIDE * SIDE, 24))
        self.lif = create_neuron("lif", backend="torch")        # no kernel compilation in a unit test
        self.fc2 = SeqToBatch(nn.Linear(24, 2))

    def forward(self, x_seq):
        return self.fc2(self.lif(self.fc1(x_seq)))


def _train(classify_model, params, x, y, steps=150):
    torch.manual_seed(0)
    opt = torch.optim.Adam(params, lr=2e-2)
    for i in range(steps):
        idx = torch.arange(i * 32, (i + 1) * 32) % len(x)
        loss = nn.functional.cross_entropy(classify_model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.fixture(scope="module")
def trained():
    """A trained SNN per encoder, and a trained ANN for the transfer attack, on the same two-bar images."""
    x, y = _two_bars(512, seed=0)
    torch.manual_seed(0)
    models = {}
    for name, options in {"direct": {}, "poisson": {}, "rsc": {"sigma": 0.2}}.items():
        model = EncodedModel(create_encoder(name, seed=1, **options), TinySNN())
        _train(snn_classifier(model, T), model.parameters(), x, y)
        models[name] = model.eval()
    ann = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 24), nn.ReLU(), nn.Linear(24, 2))
    _train(ann, ann.parameters(), x, y)
    return models, ann.eval(), _two_bars(400, seed=1)


def _accuracy(classify, x, y):
    with torch.no_grad():
        return float((classify(x).argmax(1) == y).double().mean())


@pytest.mark.slow                                               # the fixture trains four networks (~10 s)
def test_the_sanity_checks_catch_a_masked_gradient(trained):
    """The triangle surrogate is zero away from the threshold: after training, the direct SNN shows almost no
    input gradient, so white-box PGD fails where an attack transferred from an ANN succeeds. Through a
    full-support surrogate (atan) the white-box attack is the stronger one again."""
    models, ann, (x, y) = trained
    model = models["direct"]
    x_transfer = pgd(ann, x, y, eps=0.3, steps=10)
    transfer = _accuracy(snn_classifier(model, T), x_transfer, y)
    masked = accuracy_under_attack(snn_classifier(model, T), [(x, y)], eps=[0.3], steps=10)[0]["accuracy"]
    assert masked > transfer + 0.2, (masked, transfer)
    with attack_surrogate(model, "atan"):
        unmasked = accuracy_under_attack(snn_classifier(model, T), [(x, y)], eps=[0.3], steps=10)[0]["accuracy"]
    assert unmasked <= transfer
    assert model.network.lif.surrogate == "triangle"            # restored after the block
    with pytest.raises(ValueError, match="unknown surrogate"):
        with attack_surrogate(model, "cosine"):
            pass


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ["direct", "poisson", "rsc"])
def test_no_gradient_masking_on_a_trained_snn(trained, encoder):
    """Accuracy falls to 0 as eps grows, more PGD steps never help the defender, and a transfer attack from
    the ANN is not stronger than the white-box one (through the atan surrogate; within the binomial error of
    scoring a stochastic encoder on one draw per image)."""
    models, ann, (x, y) = trained
    n_eot = 1 if encoder == "direct" else 4
    tol = 0.0 if encoder == "direct" else 3 * (2 * 0.25 / len(y)) ** 0.5
    with attack_surrogate(models[encoder], "atan") as model:
        classify = snn_classifier(model, T)
        eps = [0.0, 0.1, 0.2, 0.3, 0.4, 0.8]
        acc = [r["accuracy"] for r in accuracy_under_attack(classify, [(x, y)], eps=eps, steps=10, n_eot=n_eot)]
        assert acc[0] > 0.9, f"the tiny SNN did not learn: clean accuracy {acc[0]}"
        assert all(b <= a + tol for a, b in zip(acc, acc[1:])), f"accuracy rises with eps: {acc}"
        assert acc[-1] <= 0.02, f"accuracy stays at {acc[-1]} under a large eps: gradient masking? {acc}"
        few, many = (accuracy_under_attack(classify, [(x, y)], eps=[0.3], steps=s, n_eot=n_eot)[0]["accuracy"]
                     for s in (2, 20))
        assert many <= few + tol, f"PGD-20 ({many}) weaker than PGD-2 ({few})"
        transfer = _accuracy(classify, pgd(ann, x, y, eps=0.3, steps=10), y)
        white_box = accuracy_under_attack(classify, [(x, y)], eps=[0.3], steps=10, n_eot=n_eot)[0]["accuracy"]
        assert white_box <= transfer + tol, f"white-box {white_box} weaker than transfer {transfer}"
        assert white_box < acc[0] - 0.3                          # eps = 0.3 is a real attack on this data
