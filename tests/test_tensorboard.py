"""``train.log=[jsonl, tensorboard]``: the event file holds metrics.jsonl's numbers per epoch and the plots."""

import doctest
import importlib.util

import pytest

import ltsnn.engine.tensorboard as tensorboard_module
from ltsnn.cli import main
from ltsnn.config import ConfigError, load_config

from tiny_run import one_error_line, records, register_tiny_datasets, tiny_args

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


@pytest.fixture(autouse=True)
def tiny_data(monkeypatch):
    register_tiny_datasets(monkeypatch)


def read_events(folder):
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


@pytest.mark.slow
def test_the_event_file_holds_each_epochs_record_and_the_plots(tmp_path):
    assert main(["train", *tiny_args(tmp_path, epochs=2), "train.log=[jsonl,tensorboard]"]) == 0
    run = tmp_path / "run"
    history = records(run)
    events = read_events(run / "tensorboard")
    scalars = events.Tags()["scalars"]

    def curve(tag):
        return {e.step: e.value for e in events.Scalars(tag)}

    per_record = {"loss/train": "train_loss", "loss/test": "test_loss", "acc/train": "train_acc",
                  "acc/test": "test_acc", "lr": "lr", "omega": "omega"}
    for tag, key in per_record.items():
        assert curve(tag) == {r["epoch"]: pytest.approx(r[key], rel=1e-6) for r in history}, tag
    layers = list(history[-1]["thresholds"])
    assert layers and set(history[-1]["firing_rates"]) == set(layers)
    for layer in layers:
        assert curve(f"thresholds/{layer}") == {r["epoch"]: pytest.approx(r["thresholds"][layer], rel=1e-6)
                                               for r in history}
        assert curve(f"firing_rates/{layer}") == {r["epoch"]: pytest.approx(r["firing_rates"][layer], rel=1e-6)
                                                 for r in history}
    assert "epoch" not in scalars and "step" not in scalars

    pngs = sorted(p.stem for p in (run / "plots").glob("*.png"))
    assert pngs == ["accuracy_loss", "firing_rates", "thresholds"]
    assert sorted(events.Tags()["images"]) == [f"plots/{name}" for name in pngs]
    last = events.Images("plots/thresholds")[-1]
    assert [i.step for i in events.Images("plots/thresholds")] == [1, 2]              # redrawn with each checkpoint
    assert last.encoded_image_string == (run / "plots" / "thresholds.png").read_bytes()
    assert (last.height, last.width) > (100, 100)


def test_the_default_writes_no_event_file(tmp_path):
    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 0
    assert (tmp_path / "run" / "metrics.jsonl").is_file()
    assert not (tmp_path / "run" / "tensorboard").exists()


def test_an_unknown_sink_is_one_line_naming_the_key_and_the_choices(tmp_path, capsys):
    assert main(["train", *tiny_args(tmp_path, epochs=1), "train.log=[jsonl,wandb]"]) != 0
    line = one_error_line(capsys)
    assert "train.log" in line and "jsonl, tensorboard" in line and "'wandb'" in line
    with pytest.raises(ConfigError, match="train.log: expected list"):
        load_config(None, ["train.log=tensorboard"])


def test_a_missing_tensorboard_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ConfigError, match=r"needs the tensorboard package: pip install 'ltsnn\[tensorboard\]'"):
        load_config(None, ["train.log=[jsonl,tensorboard]"])
    assert load_config(None, ["train.log=[jsonl]"]).train.log == ["jsonl"]


@pytest.mark.slow
def test_a_resumed_run_drops_what_was_logged_after_its_checkpoint(tmp_path):
    """A run killed after logging epoch 2 but before checkpointing it: resumed from epoch 1, epoch 2 appears
    once, with the value of the resumed run."""
    from torch.utils.tensorboard import SummaryWriter
    assert main(["train", *tiny_args(tmp_path, epochs=1), "train.log=[jsonl,tensorboard]"]) == 0
    with SummaryWriter(str(tmp_path / "run" / "tensorboard")) as killed:        # the lost epoch's curves
        killed.add_scalar("loss/train", 123.0, global_step=2)
    assert main(["train", "--resume", str(tmp_path / "run"), "train.epochs=2"]) == 0
    events = read_events(tmp_path / "run" / "tensorboard")
    assert [e.step for e in events.Scalars("loss/train")] == [1, 2]
    assert [e.value for e in events.Scalars("loss/train")] == [pytest.approx(r["train_loss"], rel=1e-6)
                                                             for r in records(tmp_path / "run")]


def test_docstring_examples_run():
    result = doctest.testmod(tensorboard_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
