import math

import pytest
import torch
from torch import nn

from ltsnn.tasks.classification.loss import (LOSS_PRESETS, ClassificationLoss, MeanThresholdTracker, mean_ce_loss, mean_threshold,
                          tet_loss)
from ltsnn.neurons import LIFNeuron

D = torch.float64


def test_tet_loss_by_hand():
    # T = 2, B = 1, K = 2. CE(O, y=0) = log(1 + e^{O1 - O0}).
    logits = torch.tensor([[[2.0, 0.0]], [[0.0, 1.0]]], dtype=D)
    y = torch.tensor([0])
    ce = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(1.0))) / 2
    mse = ((2 - 0.8) ** 2 + (0 - 0.8) ** 2 + (0 - 0.8) ** 2 + (1 - 0.8) ** 2) / 4
    got = tet_loss(logits, y, w_tet=0.55, w_mse=0.45, omega=0.8)
    assert float(got) == pytest.approx(0.55 * ce + 0.45 * mse, rel=1e-12)
    # TET is not CE of the mean logit.
    mean_ce = math.log(1 + math.exp(0.5 - 1.0))
    assert float(mean_ce_loss(logits, y)) == pytest.approx(mean_ce, rel=1e-12)
    assert float(tet_loss(logits, y, w_tet=1.0, w_mse=0.0, omega=0.0)) == pytest.approx(ce, rel=1e-12)


def test_presets():
    assert LOSS_PRESETS["ltsnn_code"][:2] == (0.55, 0.45)
    assert LOSS_PRESETS["ltsnn_eq12"][:2] == (0.45, 0.55)
    assert LOSS_PRESETS["tet"] == (0.999, 0.001, "fixed")
    loss, omega = ClassificationLoss.from_preset("ltsnn_eq12")
    assert (loss.w_tet, loss.w_mse, omega) == (0.45, 0.55, "official")
    with pytest.raises(ValueError, match="ltsnn_code"):
        ClassificationLoss.from_preset("paper")


def test_mse_has_no_gradient_to_thresholds():
    model = nn.Sequential(nn.Linear(3, 4), LIFNeuron())
    omega = mean_threshold(model)
    assert isinstance(omega, float)
    logits = torch.randn(2, 5, 4, requires_grad=True)
    tet_loss(logits, torch.zeros(5, dtype=torch.long), w_tet=0.5, w_mse=0.5, omega=omega).backward()
    assert model[1].v_th.grad is None


def _model_with_thresholds(values):
    model = nn.Sequential(*[LIFNeuron() for _ in values], LIFNeuron(learn_threshold=False, v_th=7.0))
    with torch.no_grad():
        for m, v in zip(model, values):
            m.v_th.fill_(v)
    return model


def test_mean_threshold_ignores_fixed_layers():
    assert mean_threshold(_model_with_thresholds([0.5, 1.5, 1.0])) == pytest.approx(1.0)
    assert mean_threshold(_model_with_thresholds([0.2, 0.4])) == pytest.approx(0.3)
    assert mean_threshold(nn.Sequential(LIFNeuron(learn_threshold=False))) == 1.0


def test_omega_tracker_official_lag_and_epoch_reset():
    model = _model_with_thresholds([0.2, 0.4])
    tr = MeanThresholdTracker("official")
    tr.start_epoch(model)
    assert tr.value == 1.0                  # first batch of every epoch uses 1.0
    tr.after_step(model)
    assert tr.value == pytest.approx(0.3)   # the next batch sees the thresholds after this step
    tr.start_epoch(model)
    assert tr.value == 1.0
    per_step = MeanThresholdTracker("per_step")
    per_step.start_epoch(model)
    assert per_step.value == pytest.approx(0.3)
    fixed = MeanThresholdTracker("fixed")
    fixed.after_step(model)
    assert fixed.value == 1.0
    with pytest.raises(ValueError, match="official"):
        MeanThresholdTracker("lagged")
