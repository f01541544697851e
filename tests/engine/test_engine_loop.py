"""Task, loop and monitors: layout, reset after every batch, Ω, data order, schedule, thresholds, firing rates."""

import math

import pytest
import torch
from torch.utils.data import TensorDataset

from ltsnn.tasks.classification import ClassificationTask
from ltsnn.engine import (FiringRateMonitor, evaluate, layer_thresholds,
                          seed_everything, train_loader, train_one_epoch)
from ltsnn.engine import loop
from ltsnn.engine.optim import make_scheduler
from ltsnn.tasks.classification.loss import ClassificationLoss, mean_threshold
from ltsnn.models import create_model
from ltsnn.neurons import find_neurons as neuron_layers, reset_states

T, B, K, SIZE = 3, 8, 4, 12


@pytest.fixture
def model():
    seed_everything(0)
    return create_model("vgg_tiny", in_channels=2, num_classes=K, input_size=SIZE)


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    frames = (torch.rand(2 * B, T, 2, SIZE, SIZE, generator=g) < 0.3).float()      # [N, T, C, H, W]
    return TensorDataset(frames, torch.arange(2 * B) % K)


def states(model):
    return [m.v for _, m in neuron_layers(model)]


def test_task_transposes_once_and_returns_per_step_logits(model, data):
    task = ClassificationTask(model, ClassificationLoss())
    frames, target = data[:B]
    out = task(frames, target)
    assert out["outputs"].shape == (T, B, K) and out["loss"].dim() == 0
    with pytest.raises(ValueError, match=r"expected a batch of frames \[B, T, C, H, W\]"):
        task(frames[0], target)


def test_same_batch_twice_gives_the_same_output(model, data):
    task = ClassificationTask(model, ClassificationLoss())
    loader = loop.test_loader(data, batch_size=B, num_workers=0)
    a, b = (evaluate(task, loader) for _ in range(2))
    assert a == b
    assert all(v is None for v in states(model))               # evaluate resets after every batch
    # In train mode (BN on batch statistics: every layer spikes) the reset is what makes the second
    # pass equal to the first; without it the second pass starts from the first one's membrane.
    model.train()
    frames, target = data[:B]
    with torch.no_grad():
        first = task(frames, target)["outputs"]
        reset_states(model)
        again = task(frames, target)["outputs"]
        for _, m in neuron_layers(model):                       # a stream starts from rest ...
            m.stream = True
        streamed = task(frames, target)["outputs"]
        carried = task(frames, target)["outputs"]               # ... and continues from the last membrane
    assert torch.equal(first, again) and torch.equal(first, streamed) and not torch.equal(first, carried)


def test_train_epoch_resets_state_and_tracks_omega(model, data):
    task = ClassificationTask(model, ClassificationLoss())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    task.start_epoch()
    omega = task.omega
    loader = train_loader(data, batch_size=B, num_workers=0, seed=0, epoch=0)
    stats, step = train_one_epoch(task, loader, optimizer=optimizer, epoch=1, step=10)
    assert step == 12 and 0 <= stats["acc"] <= 1 and math.isfinite(stats["loss"])
    assert all(v is None for v in states(model))
    assert omega.value == mean_threshold(model) != 1.0          # updated after the last step


def test_data_order_depends_only_on_seed_and_epoch(data):
    def order(seed, epoch):
        return torch.cat([t for _, t in train_loader(data, batch_size=4, num_workers=0, seed=seed, epoch=epoch)])

    torch.manual_seed(123)
    a = order(0, 1)
    torch.manual_seed(456)                                      # the global generator plays no part
    assert torch.equal(a, order(0, 1))
    assert not torch.equal(a, order(0, 2)) and not torch.equal(a, order(1, 1))


def test_test_loader_leaves_the_global_generator_alone(data):
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    list(loop.test_loader(data, batch_size=4, num_workers=0))
    assert torch.equal(torch.rand(2), expected)


def test_cosine_schedule_per_epoch():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched = make_scheduler(opt, "cosine", epochs=4)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1e-3 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="expected one of"):
        make_scheduler(opt, "step", epochs=4)


def test_thresholds_list_fixed_layers_too():
    model = create_model("vgg_tiny", in_channels=2, num_classes=K, input_size=SIZE, neuron={"threshold_grad": "stsg"})
    values, fixed = layer_thresholds(model)
    names = [n for n, _ in neuron_layers(model)]
    assert list(values) == names and len(names) == 3
    assert fixed == names[:1] and all(v == 1.0 for v in values.values())
    all_fixed = create_model("vgg_tiny", in_channels=2, num_classes=K, input_size=SIZE, neuron={"threshold_grad": "fixed"})
    assert layer_thresholds(all_fixed)[1] == names


def test_firing_rate_monitor_counts_spikes_and_removes_its_hooks(model, data):
    model.eval()
    frames, _ = data[:B]
    spikes = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: spikes.setdefault(n, o.clone()))
             for n, m in neuron_layers(model)]
    with FiringRateMonitor(model) as monitor, torch.no_grad():
        model(frames.transpose(0, 1))                           # [B, T, ...] -> [T, B, ...]
    for h in hooks:
        h.remove()
    rates = monitor.rates()
    assert rates == pytest.approx({n: float(s.mean()) for n, s in spikes.items()})
    assert rates[next(iter(rates))] > 0
    assert all(not m._forward_hooks for _, m in neuron_layers(model))


def test_the_run_loader_keeps_its_workers_and_gives_the_same_batches_for_any_worker_count():
    from ltsnn.data.datasets import AugmentedFrames, FrameDataset
    from ltsnn.data.transforms import create_transform
    from ltsnn.engine import RunData

    g = torch.Generator().manual_seed(0)
    frames = (torch.rand(20, 3, 2, 8, 8, generator=g) < 0.3).numpy().astype("float32")
    base = FrameDataset(frames, torch.arange(20).numpy() % 4, classes=list("abcd"))
    train = AugmentedFrames(base, create_transform("frames_roll", max_shift=2), seed=1)
    runs = {}
    for workers in (0, 2):
        data = RunData(train, base, batch_size=6, num_workers=workers, seed=3)
        runs[workers] = [[x for x, _ in data.train_batches(epoch)] for epoch in range(2)]
        assert data.train_batches(0) is data.train_batches(1)          # one loader (its workers persist)
        assert data.train_batches(0).persistent_workers == (workers > 0)
    for a, b in zip(runs[0], runs[2], strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    # Epoch 1 reshuffles and redraws the augmentation; both follow (seed, epoch) alone.
    assert not torch.equal(torch.cat(runs[0][0]), torch.cat(runs[0][1]))
    reference = [x for x, _ in train_loader(train, batch_size=6, num_workers=0, seed=3, epoch=1)]
    assert all(torch.equal(x, y) for x, y in zip(runs[0][1], reference, strict=True))   # the same order as ever
