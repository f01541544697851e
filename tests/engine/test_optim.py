"""Optimizers by name, the thresholds' own learning rate, and resuming with several parameter groups."""

import math

import pytest
import torch

from ltsnn.engine.optim import make_optimizer, make_scheduler, restore_optimizer
from ltsnn.models import create_model
from ltsnn.neurons import threshold_parameters


@pytest.fixture
def model():
    torch.manual_seed(0)
    return create_model("vgg_tiny", in_channels=2, num_classes=4, input_size=12)


def test_adam_is_one_group_by_default(model):
    opt = make_optimizer(model, lr=1e-3, weight_decay=1e-4)
    assert type(opt) is torch.optim.Adam and len(opt.param_groups) == 1
    assert opt.param_groups[0]["weight_decay"] == 1e-4
    assert len(opt.param_groups[0]["params"]) == len(list(model.parameters()))


def test_sgd_with_momentum_and_a_threshold_group(model):
    opt = make_optimizer(model, "sgd", lr=0.1, momentum=0.8, threshold_lr=0.01)
    assert type(opt) is torch.optim.SGD and [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert all(g["momentum"] == 0.8 for g in opt.param_groups)
    thresholds = threshold_parameters(model)
    assert len(thresholds) == 2                                 # vgg_tiny: first layer fixed, two learn
    assert {id(p) for p in opt.param_groups[1]["params"]} == {id(p) for p in thresholds}
    every = [p for g in opt.param_groups for p in g["params"]]
    assert len(every) == len(set(map(id, every))) == len(list(model.parameters()))


def test_the_threshold_group_takes_its_own_step(model):
    opt = make_optimizer(model, "sgd", lr=0.1, momentum=0.0, threshold_lr=0.0)
    before = [p.detach().clone() for p in threshold_parameters(model)]
    weight = model.features[0][0].weight.detach().clone()
    model(torch.rand(3, 2, 2, 12, 12)).square().mean().backward()
    opt.step()
    assert all(torch.equal(b, p) for b, p in zip(before, threshold_parameters(model)))     # lr 0
    assert not torch.equal(weight, model.features[0][0].weight)


def test_unknown_optimizer_lists_the_known_ones(model):
    with pytest.raises(ValueError, match=r"unknown optimizer 'rmsprop'; expected one of \['adam', 'sgd'\]"):
        make_optimizer(model, "rmsprop", lr=1e-3)


def test_restore_follows_the_new_schedule_in_every_group(model):
    opt = make_optimizer(model, "sgd", lr=0.1, threshold_lr=0.01)
    sched = make_scheduler(opt, "cosine", epochs=4)
    for _ in range(2):
        opt.step()
        sched.step()
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
    again = make_optimizer(model, "sgd", lr=0.1, threshold_lr=0.01)
    longer = make_scheduler(again, "cosine", epochs=8)          # the resumed run asks for more epochs
    restore_optimizer(again, longer, state)
    factor = 0.5 * (1 + math.cos(math.pi * 2 / 8))
    assert [g["lr"] for g in again.param_groups] == pytest.approx([0.1 * factor, 0.01 * factor])
