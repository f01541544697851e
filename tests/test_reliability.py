"""Nothing lost, nothing silently wrong (issue 14): each test reproduces one finding of the probe of the
landed code and fails on the code before the fix."""

import os

import numpy as np
import pytest
import torch
import yaml

from ltsnn.cli import main
from ltsnn.data import make_events
from ltsnn.engine import RunFolder, load_checkpoint, save_checkpoint
from ltsnn.engine import checkpoint as checkpoint_module
from ltsnn.tasks.classification import ClassificationTask
from tiny_run import one_error_line, records, register_tiny_datasets, tiny_args


@pytest.fixture(autouse=True)
def tiny_data(monkeypatch):
    register_tiny_datasets(monkeypatch)


def raw_checkpoint(path):
    return torch.load(path, map_location="cpu", weights_only=True)


# ---------------------------------------------------------------------------------------------- 1. finite or nothing

def test_a_nan_channel_stops_the_run_naming_the_tensor_and_no_bad_checkpoint_is_written(tmp_path, monkeypatch,
                                                                                       capsys):
    # One output channel of the first conv turns NaN in epoch 2: the loss stays finite (the channel just stops
    # spiking), so only a check of the weights can notice.
    steps = {"n": 0}
    real_after_step = ClassificationTask.after_step

    def poison_at_step_4(self):
        real_after_step(self)
        steps["n"] += 1
        if steps["n"] == 4:                                     # 3 steps per epoch: the first step of epoch 2
            conv = next(m for m in self.model.modules() if isinstance(m, torch.nn.Conv2d))
            conv.weight.data[0] = float("nan")

    monkeypatch.setattr(ClassificationTask, "after_step", poison_at_step_4)
    assert main(["train", *tiny_args(tmp_path, epochs=3)]) == 1
    line = one_error_line(capsys)
    assert "non-finite values in features.0" in line and "weight" in line and "after epoch 2" in line
    assert "last good checkpoint" in line and "epoch 1" in line
    folder = RunFolder(tmp_path / "run")
    for path in (folder.last, folder.best):
        ckpt = load_checkpoint(path)                            # refuses a non-finite one
        assert ckpt["epoch"] == 1
    assert [r["epoch"] for r in records(folder.root)] == [1]


def test_eval_refuses_a_non_finite_checkpoint(tmp_path, capsys):
    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 0
    folder = RunFolder(tmp_path / "run")
    state = raw_checkpoint(folder.last)
    state["model"] = {k: v.float().fill_(float("nan")) if v.is_floating_point() else v
                      for k, v in state["model"].items()}
    save_checkpoint(folder.last, {k: v for k, v in state.items() if k not in ("format", "version")})
    capsys.readouterr()
    assert main(["eval", str(folder.root)]) == 2
    line = one_error_line(capsys)
    assert str(folder.last) in line and "non-finite values in" in line


def test_divergence_stops_the_run_before_any_checkpoint(tmp_path, capsys):
    assert main(["train", *tiny_args(tmp_path, epochs=2), "optim.lr=1e6"]) == 1
    line = one_error_line(capsys)
    assert "diverging" in line and "optim.lr" in line
    folder = RunFolder(tmp_path / "run")
    assert not folder.best.exists() and not folder.last.exists()


def test_divergence_can_be_a_warning(tmp_path, capsys):
    assert main(["train", *tiny_args(tmp_path, epochs=2), "optim.lr=1e6", "train.on_divergence=warn"]) == 0
    out = capsys.readouterr().out
    assert out.count("warning: diverging") == 2                # once per epoch, not once per step


# ---------------------------------------------------------------------------------------------- 5. recovery

def test_a_run_that_died_before_its_first_checkpoint_can_be_restarted_or_resumed(tmp_path, monkeypatch, capsys):
    class Crash(Exception):
        pass

    def crash(*a, **kw):
        raise Crash

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", crash)
    with pytest.raises(Crash):
        main(["train", *tiny_args(tmp_path, epochs=1)])
    monkeypatch.undo()
    register_tiny_datasets(monkeypatch)
    folder = RunFolder(tmp_path / "run")
    assert folder.metrics.is_file() and not folder.last.exists()

    assert main(["train", "--resume", str(folder.root)]) == 0           # --resume: starts from epoch 1
    assert "stopped before its first checkpoint" in capsys.readouterr().out
    assert [r["epoch"] for r in records(folder.root)] == [1] and folder.last.is_file()

    folder.last.unlink()                                                 # same again, by starting it anew
    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 0
    assert "no checkpoint" in capsys.readouterr().out
    assert [r["epoch"] for r in records(folder.root)] == [1]


def test_resuming_a_finished_run_does_nothing(tmp_path, capsys):
    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 0
    folder = RunFolder(tmp_path / "run")
    report = folder.report / "report.md"
    before = report.stat().st_mtime_ns, folder.last.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["train", "--resume", str(folder.root)]) == 0
    assert "has finished its 1 epochs; nothing to do" in capsys.readouterr().out
    assert (report.stat().st_mtime_ns, folder.last.stat().st_mtime_ns) == before


def test_a_crash_between_the_two_checkpoints_leaves_a_consistent_pair(tmp_path, monkeypatch):
    # A new best after epoch 1 writes best.pt and last.pt. A crash between the two must not leave a best.pt
    # that disagrees with the history the resumed run ends with.
    real_save = checkpoint_module.save_checkpoint
    written = []

    class Crash(Exception):
        pass

    def crash_between_best_and_last(path, state):
        written.append(state["epoch"])
        if state["epoch"] >= 2 and written.count(state["epoch"]) == 2:      # a new best after epoch 1
            raise Crash
        real_save(path, state)

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", crash_between_best_and_last)
    with pytest.raises(Crash):
        main(["train", *tiny_args(tmp_path, epochs=3), "optim.lr=2e-2"])
    monkeypatch.undo()
    register_tiny_datasets(monkeypatch)
    folder = RunFolder(tmp_path / "run")
    assert main(["train", "--resume", str(folder.root)]) == 0
    history = records(folder.root)
    best = max(history, key=lambda r: r["test_acc"])              # first maximum, as the checkpointer keeps it
    assert load_checkpoint(folder.best)["epoch"] == best["epoch"]
    assert load_checkpoint(folder.last)["epoch"] == 3


def test_dead_temporaries_are_removed_when_a_run_starts(tmp_path):
    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 0
    folder = RunFolder(tmp_path / "run")
    dead_pid = 2 ** 22 + 12345                                  # above Linux's pid_max: never alive
    stale = folder.checkpoints / f".last.pt.{dead_pid}.x1y2.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert main(["train", "--resume", str(folder.root), "train.epochs=2"]) == 0
    assert not stale.exists()


# ---------------------------------------------------------------------------------------------- 6, 8. bad input

@pytest.mark.parametrize("extra, expected", [
    (["model.neuron=ilif", "model.threshold_grad=fixed", "model.neuron_options.decay=5"],
     "decay=5; expected a value in (0, 1]"),
    (["model.neuron_options.decay=-1"], "LIFNeuron: decay=-1; expected a value in (0, 1]"),
    (["model.options.dropout=2.0"], "dropout=2.0; expected a probability in [0, 1)"),
    (["loss.preset=custom", "loss.w_tet=-1"], "loss.w_tet: expected a value >= 0"),
    (["data.n_time_bins=100000"], "data.n_time_bins: expected a value in [1, 1000]"),
    (["train.device=cuda:3"], "train.device: device 'cuda:3' is not available on this machine"),
    (["data.augment.frames_flip.q=0.5"], "data.augment.frames_flip:"),
    (["train.threshold_min=2", "train.threshold_max=1"], "train.threshold_min=2.0 must be below"),
])
def test_bad_values_are_one_line_errors_and_leave_nothing_behind(tmp_path, capsys, extra, expected):
    assert main(["train", *tiny_args(tmp_path, epochs=1), *extra]) == 2
    assert expected in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_duplicate_yaml_keys_are_rejected(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 0.1\n  name: adam\n  lr: 0.2\n")
    assert main(["train", str(path), *tiny_args(tmp_path, epochs=1)]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and "duplicate key 'lr'" in line and "line 4" in line


def test_out_dir_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    args = [a for a in tiny_args(tmp_path, epochs=1) if not a.startswith("train.out_dir")]
    assert main(["train", *args, f"train.out_dir={tmp_path / 'afile'}"]) == 2
    assert "is a file; expected a folder" in one_error_line(capsys)


def test_a_damaged_metrics_file_is_named(tmp_path, capsys):
    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 0
    folder = RunFolder(tmp_path / "run")
    folder.metrics.write_text(folder.metrics.read_text()[:40] + "\n")
    capsys.readouterr()
    assert main(["report", str(folder.root)]) == 2
    line = one_error_line(capsys)
    assert str(folder.metrics) in line and "line 1" in line


@pytest.mark.parametrize("damage, expected", [
    (lambda s: s.update(model=[1, 2]), "'model' is a list, expected a dict"),
    (lambda s: s.update(epoch="3"), "'epoch' is a str, expected a int"),
    (lambda s: s["model"].update({"features.0.weight": 3}), "'model' must map names to tensors"),
])
def test_malformed_pickle_free_checkpoints_are_one_line_errors(tmp_path, capsys, damage, expected):
    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 0
    folder = RunFolder(tmp_path / "run")
    state = raw_checkpoint(folder.last)
    damage(state)
    torch.save(state, folder.last)
    capsys.readouterr()
    assert main(["eval", str(folder.root)]) == 2
    assert expected in one_error_line(capsys)


def test_a_shape_mismatch_in_a_checkpoint_is_a_one_line_error(tmp_path, capsys):
    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 0
    folder = RunFolder(tmp_path / "run")
    state = raw_checkpoint(folder.last)
    key = next(k for k in state["model"] if k.endswith("weight"))
    state["model"][key] = torch.zeros(1)
    torch.save(state, folder.last)
    capsys.readouterr()
    assert main(["eval", str(folder.root)]) == 2
    line = one_error_line(capsys)
    assert str(folder.last) in line and key in line


def test_stored_config_keeps_the_guard_settings(tmp_path):
    assert main(["train", *tiny_args(tmp_path, epochs=1), "train.divergence_factor=50"]) == 0
    stored = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert stored["train"]["divergence_factor"] == 50.0 and stored["train"]["on_divergence"] == "stop"
    assert os.access(tmp_path / "run" / "config.yaml", os.R_OK)


def test_inspect_refuses_a_sensor_guessed_from_a_corrupt_coordinate(tmp_path):
    from ltsnn.cli.data import write_frames_png
    events = make_events(np.array([0, 10]), np.array([3, 12_000]), np.array([2, 5]), np.array([1, 0]))
    with pytest.raises(ValueError, match="states no sensor size; expected coordinates below 8192"):
        write_frames_png(events, None, tmp_path / "x.png", n_time_bins=2, title="f.dat")
