"""Training detectors: the detection task, overfitting one batch, the CLI run folder, and the §5.2 acceptance
rule on a reduced MovingShapes-DVS (regression tests for broken pipelines)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from ltsnn.cli import main
from ltsnn.data.datasets.moving_shapes import moving_shapes
from ltsnn.data.box_filter import box_filter_preset
from ltsnn.tasks.detection.loss import YoloLoss
from ltsnn.engine import load_checkpoint
from ltsnn.engine import RunData, fit, make_optimizer, make_scheduler, seed_everything
from ltsnn.tasks.detection.task import DetectionTask
from ltsnn.models import create_model
from ltsnn.neurons import reset_states

REPO = Path(__file__).resolve().parents[3]
DATA = dict(root=None, n_time_bins=4, bin_by="duration", seed=0)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("shapes_cache"))


def _task(model, data, **kw) -> DetectionTask:
    return DetectionTask(model, YoloLoss(model.grid, model.num_boxes, model.num_classes, model.input_size, **kw),
                         decode_options={"conf_threshold": 0.01}, class_names=data.classes,
                         sensor_size=data.sensor_size, box_filter=box_filter_preset("none"))


def test_readouts_score_the_time_mean_or_every_step(cache_dir):
    data = moving_shapes(split="test", test_size=4, cache_dir=cache_dir, **DATA)
    torch.manual_seed(0)
    model = create_model("yolo_tiny", neuron={"options": {"decay": 1.0}}).train()     # BN on batch statistics
    frames = (torch.rand(4, 4, 2, 48, 64, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    targets = [data[i][1] for i in range(4)]
    loss = YoloLoss(model.grid, 2, 2, model.input_size)
    with torch.no_grad():
        pred_seq = model(frames.transpose(0, 1))                            # [T, B, K]
        assert not torch.allclose(pred_seq[0], pred_seq[-1])               # the steps differ
        reset_states(model)
        mean = DetectionTask(model, loss, decode_options={}, class_names=data.classes, sensor_size=(64, 48),
                             box_filter=None)(frames, targets)
        reset_states(model)
        per_step = DetectionTask(model, loss, readout="per_step", decode_options={}, class_names=data.classes,
                                 sensor_size=(64, 48), box_filter=None)(frames, targets)
    torch.testing.assert_close(mean["loss"], loss(pred_seq.mean(0), targets)["loss"])
    torch.testing.assert_close(per_step["loss"], torch.stack([loss(p, targets)["loss"] for p in pred_seq]).mean())
    assert not torch.allclose(mean["loss"], per_step["loss"])


def test_overfits_one_batch(cache_dir):
    # Spec §5.2 (i): a fixed batch of 8, Adam 1e-3: the loss falls from ≈ 7 to < 0.15 within 300 steps.
    data = moving_shapes(split="train", train_size=8, cache_dir=cache_dir, **DATA)
    seed_everything(0)
    model = create_model("yolo_tiny", neuron={"options": {"decay": 1.0}})
    task = _task(model, data)
    frames = torch.stack([data[i][0] for i in range(8)])
    targets = [data[i][1] for i in range(8)]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    while len(losses) < 300 and (not losses or losses[-1] >= 0.15):
        out = task(frames, targets)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        reset_states(model)
        losses.append(float(out["loss"].detach()))
    assert losses[0] > 2.0 and losses[-1] < 0.15, (losses[0], len(losses), losses[-1])


def _run_args(tmp_path: Path, name: str, *extra: str) -> list[str]:
    return [str(REPO / "configs" / "shapes_detection.yaml"), "data.options.train_size=32",
            "data.options.test_size=16", f"data.cache_dir={tmp_path / 'cache'}", "data.batch_size=16",
            "train.epochs=2", f"train.out_dir={tmp_path}", f"train.name={name}", "train.progress=never",
            "detection.examples=4", "data.augment.frames_flip.p=0.5", *extra]


@pytest.mark.slow
def test_cli_run_folder_eval_and_bit_identical_resume(tmp_path, capsys):
    assert main(["train", *_run_args(tmp_path, "straight")]) == 0
    out = capsys.readouterr().out
    assert "mAP50" in out and "examples:" in out
    run = tmp_path / "straight"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for r in records:
        assert 0 <= r["test_map50"] <= 1 and 0 <= r["test_map"] <= r["test_map50"]
        assert set(r["test_per_class_ap50"]) == {"car", "pedestrian"}
        assert set(r["thresholds"]) == set(r["firing_rates"]) and len(r["thresholds"]) == 4
        assert {"train_loss_xy", "train_loss_noobj", "test_loss_cls"} <= set(r)
    assert (run / "thresholds.csv").read_text().count("\n") == 3
    for png in ("plots/loss_map.png", "plots/thresholds.png", "report/examples.png", "report/loss_map.png"):
        assert (run / png).stat().st_size > 1000, png
    report = (run / "report" / "report.md").read_text()
    assert "mAP50" in report and "| pedestrian |" in report
    assert json.loads((run / "report" / "report.json").read_text())["test"]["map50"] == pytest.approx(
        records[-1]["test_map50"])

    assert main(["eval", str(run)]) == 0
    assert f"mAP50 {records[-1]['test_map50']:.4f}" in capsys.readouterr().out

    assert main(["train", *_run_args(tmp_path, "resumed", "train.epochs=1")]) == 0
    assert main(["train", "--resume", str(tmp_path / "resumed"), "train.epochs=2"]) == 0
    a = load_checkpoint(run / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_detector_and_data_set_must_match(tmp_path, capsys):
    assert main(["train", *_run_args(tmp_path, "wrong", "model.name=vgg_tiny")]) == 2
    assert "not a detector" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- acceptance (§5.2)


class _Targets(Dataset):
    """``base`` with each item's target replaced by ``target(base, i)`` (a broken training set)."""

    def __init__(self, base, target):
        self.base, self.target = base, target

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        return self.base[i][0], self.target(self.base, i)

    def __getattr__(self, name):
        return getattr(self.base, name)


def _shuffled(base):
    perm = np.random.default_rng(0).permutation(len(base))
    return _Targets(base, lambda b, i: b[int(perm[i])][1])


def _rows_cols_swapped(base):
    # Spec §5.2 (b) without a library option: the box's row fraction becomes its column fraction and vice versa.
    h, w = base.input_size

    def swap(b, i):
        t = b[i][1]
        x, y, bw, bh = t["boxes"].unbind(1)
        return {**t, "boxes": torch.stack([y * w / h, x * h / w, bh * w / h, bw * h / w], dim=1)}
    return _Targets(base, swap)


def _train_ap50(variant: str, cache_dir: str, tmp_path: Path) -> list[float]:
    train = moving_shapes(split="train", train_size=800, cache_dir=cache_dir, **DATA)
    test = moving_shapes(split="test", test_size=100, cache_dir=cache_dir, **DATA)
    train = {"correct": train, "shuffled": _shuffled(train), "swapped": _rows_cols_swapped(train),
             "dead": train}[variant]
    seed_everything(0)
    model = create_model("yolo_tiny", neuron={"options": {"decay": 1.0}})
    if variant == "dead":                                    # no spikes: a constant output
        for name, p in model.named_parameters():
            if name.endswith("v_th"):
                p.data.fill_(50.0)
                p.requires_grad_(False)
    optimizer = make_optimizer(model, lr=3e-3)
    history = fit(_task(model, test), RunData(train, test, batch_size=32), optimizer,
                  make_scheduler(optimizer, "cosine", epochs=4), epochs=4, run_dir=tmp_path / variant,
                  checkpoint_every=1000, log=lambda line: None)
    return [r["test_map50"] for r in history]


# The §5.2 rule (2000 / 400 samples, 6 epochs, ≈ 5 min) reduced to 800 / 100 samples, 4 epochs at lr 3e-3
# (≈ 20 s per run on one core). Measured AP50 after epoch 4 (2026-11-22, 2-core EPYC VM, 1 thread): correct
# 0.198, rows/columns swapped 0.008, labels shuffled 0.002, dead 0.000. (At lr 1e-3 the correct run reached
# only 0.046: too close to the broken ones for a test.)
ACCEPT = {"correct": 0.10, "shuffled": 0.02, "swapped": 0.05, "dead": 0.001}


@pytest.mark.slow
def test_acceptance_rule_separates_a_working_pipeline_from_broken_ones(cache_dir, tmp_path):
    correct = _train_ap50("correct", cache_dir, tmp_path)[-1]
    shuffled = _train_ap50("shuffled", cache_dir, tmp_path)[-1]
    swapped = _train_ap50("swapped", cache_dir, tmp_path)[-1]
    dead = _train_ap50("dead", cache_dir, tmp_path)[-1]
    assert correct >= ACCEPT["correct"], (correct, shuffled, swapped, dead)
    assert shuffled <= ACCEPT["shuffled"], (correct, shuffled, swapped, dead)
    assert swapped <= ACCEPT["swapped"] and swapped <= correct / 2, (correct, shuffled, swapped, dead)
    assert dead <= ACCEPT["dead"], (correct, shuffled, swapped, dead)
