"""``ltsnn prune`` end to end on the tests' tiny data: rounds, the table, the rewind snapshot, and the round
folders read back by eval, resume and the integer export."""

import csv
import json
import math

import pytest
import torch

from ltsnn.build import EVAL_KEYS, build_run, restore
from ltsnn.cli import main
from ltsnn.cli import prune as prune_cli
from ltsnn.cli.common import Parser, UsageError
from ltsnn.config import ConfigError, load_config
from ltsnn.convert.export import export_quantized
from ltsnn.engine import load_checkpoint
from ltsnn.engine import plots as engine_plots
from ltsnn.engine.metrics import best_record
from ltsnn.engine.prune import magnitude_scores, prunable_layers, prune_model
from ltsnn.layers.prune import add_masks, masked_layers
from ltsnn.tasks.classification import plots as classification_plots

from tiny_run import register_tiny_datasets, tiny_args


FAST = ["train.neuron_backend=torch"]                               # no kernel compilation in these tests


@pytest.fixture(autouse=True)
def tiny_data(monkeypatch):
    register_tiny_datasets(monkeypatch)
    for module in (engine_plots, classification_plots):            # every round draws its plots: not tested here
        monkeypatch.setattr(module, "save_figure", lambda fig, path, plt, *, dpi: plt.close(fig) or path)


def prune(*argv):
    """Run ``ltsnn prune argv`` through its own module (independent of how ltsnn.cli lists commands)."""
    parser = Parser(prog="ltsnn")
    prune_cli.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["prune", *map(str, argv)])
    return args.run(args)


def masks_of(checkpoint):
    return {k: v for k, v in load_checkpoint(checkpoint)["model"].items() if k.endswith(".mask")}


def pruned_run(tmp_path):
    """A 1-epoch quantised run with a validation split, pruned over 2 rounds of 50 %, rewound to epoch 1."""
    assert main(["train", *tiny_args(tmp_path, epochs=1), *FAST, "data.val_fraction=0.25", "model.quant_bits=4"]) == 0
    run = tmp_path / "run"
    assert prune(run, "--rounds", 2, "--rate", 0.5, "--rewind", "epoch:1", "--epochs", 1) == 0
    return run


def test_two_rounds_prune_rewind_retrain_and_read_back(tmp_path, capsys):
    run = pruned_run(tmp_path)

    # The rewind point: the run replayed for 1 epoch of its schedule is the run's own state after epoch 1.
    snapshot = torch.load(run / "prune" / "rewind.pt", weights_only=True)["model"]
    dense = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    assert snapshot.keys() == dense.keys() and all(torch.equal(snapshot[k], dense[k]) for k in dense)

    # Exact sparsity per round, nested masks, pruned weights zero in the trained checkpoints.
    m1, m2 = masks_of(run / "prune/round_1/checkpoints/last.pt"), masks_of(run / "prune/round_2/checkpoints/last.pt")
    n = sum(m.numel() for m in m1.values())
    alive1, alive2 = sum(int(m.sum()) for m in m1.values()), sum(int(m.sum()) for m in m2.values())
    assert alive1 == n - math.floor(n * 0.5) and alive2 == alive1 - math.floor(alive1 * 0.5)
    assert all((m2[k] <= m1[k]).all() for k in m1)
    restored = restore(run / "prune/round_2/checkpoints/last.pt", allowed=())
    for name, m in masked_layers(restored.model).items():
        assert (restored.model.get_submodule(name).weight[~m.mask] == 0).all()

    # The table: each round's checkpoint chosen on validation.
    rows = list(csv.DictReader((run / "prune.csv").open()))
    assert [r["round"] for r in rows] == ["0", "1", "2"]
    assert [float(r["sparsity"]) for r in rows] == pytest.approx([0, 1 - alive1 / n, 1 - alive2 / n])
    history = load_checkpoint(run / "prune/round_2/checkpoints/last.pt")["history"]
    best = best_record(history)
    assert rows[2]["checkpoint"] == "best" and float(rows[2]["test_acc"]) == pytest.approx(best["test_acc"])
    assert float(rows[2]["val_acc"]) == pytest.approx(best["val_acc"])
    table = json.loads((run / "prune.json").read_text())
    assert table["options"]["criterion"] == "magnitude" and len(table["rounds"]) == 3

    # eval, the integer export and resume read the masks back.
    capsys.readouterr()
    assert main(["eval", str(run / "prune/round_2")]) == 0
    assert f"accuracy {100 * history[-1]['test_acc']:.2f}%" in capsys.readouterr().out
    codes = export_quantized(restored.model)
    for name, m in masked_layers(restored.model).items():
        if f"{name}.weight" in codes:                                         # the conv layers are quantised
            assert (codes[f"{name}.weight"][0][~m.mask] == 0).all()


def test_round_folders_resume_and_the_pruning_continues(tmp_path):
    run = pruned_run(tmp_path)
    m2 = masks_of(run / "prune/round_2/checkpoints/last.pt")
    assert main(["train", "--resume", str(run / "prune/round_2"), "train.epochs=2"]) == 0
    assert all(torch.equal(m2[k], v) for k, v in masks_of(run / "prune/round_2/checkpoints/last.pt").items())
    again = restore(run / "prune/round_2/checkpoints/last.pt", allowed=EVAL_KEYS)
    for name, m in masked_layers(again.model).items():
        assert (again.model.get_submodule(name).weight[~m.mask] == 0).all()

    # Running it again continues (the finished rounds are reused); other options are refused.
    before = (run / "prune/round_1/checkpoints/last.pt").stat().st_mtime_ns
    assert prune(run, "--rounds", 3, "--rate", 0.5, "--rewind", "epoch:1", "--epochs", 1) == 0
    assert (run / "prune/round_1/checkpoints/last.pt").stat().st_mtime_ns == before
    assert len(list(csv.DictReader((run / "prune.csv").open()))) == 4
    with pytest.raises(UsageError, match=r"other options \(rate 0.5 -> 0.3\)"):
        prune(run, "--rounds", 3, "--rate", 0.3, "--rewind", "epoch:1", "--epochs", 1)
    with pytest.raises(UsageError, match="already pruned"):
        prune(run / "prune/round_1", "--rounds", 1, "--rate", 0.5, "--rewind", "init", "--epochs", 1)


def test_rewind_to_init_is_the_runs_seeded_initialisation(tmp_path):
    assert main(["train", *tiny_args(tmp_path, epochs=1), *FAST, "data.val_fraction=0"]) == 0
    run = tmp_path / "run"
    assert prune(run, "--rounds", 1, "--rate", 0.3, "--rewind", "init", "--epochs", 1, "--include", "no_classifier") == 0
    snapshot = torch.load(run / "prune" / "rewind.pt", weights_only=True)["model"]
    fresh = build_run(load_config(run / "config.yaml")).model.state_dict()
    assert all(torch.equal(snapshot[k], fresh[k]) for k in fresh)
    row = list(csv.DictReader((run / "prune.csv").open()))[1]
    assert row["checkpoint"] == "last" and row["val_acc"] == ""               # no validation split: the last epoch
    assert not any(k.startswith("head") for k in masks_of(run / "prune/round_1/checkpoints/last.pt"))


def test_the_sf_criterion_prunes_other_weights_than_magnitude(tmp_path, capsys):
    assert main(["train", *tiny_args(tmp_path, epochs=1), *FAST]) == 0
    run = tmp_path / "run"
    assert prune(run, "--rounds", 1, "--rate", 0.5, "--rewind", "none", "--epochs", 1, "--criterion", "sf") == 0
    assert "spiking-firing score in 2 layer(s) (features.3.0, features.6.0)" in capsys.readouterr().out
    sf = masks_of(run / "prune/round_1/checkpoints/last.pt")
    dense = restore(run / "checkpoints/last.pt", allowed=()).model
    add_masks(dense, prunable_layers(dense))
    prune_model(dense, magnitude_scores(dense), rate=0.5)
    by_magnitude = {f"{k}.parametrizations.weight.0.mask": m.mask for k, m in masked_layers(dense).items()}
    assert sum(int(m.sum()) for m in sf.values()) == sum(int(m.sum()) for m in by_magnitude.values())
    assert not torch.equal(sf["features.3.0.parametrizations.weight.0.mask"],
                           by_magnitude["features.3.0.parametrizations.weight.0.mask"])
    assert json.loads((run / "prune.json").read_text())["options"]["sf_mix"] == "global_mixed"


@pytest.mark.parametrize("argv, message", [
    (["--rewind", "epoch:x"], "expected init, none or epoch:K"),
    (["--rewind", "epoch:5"], "the run trained 1 epochs"),
    (["--rate", "1.5"], "prune rate=1.5"),
    (["--epochs", "-1"], "expected --rounds >= 1 and --epochs >= 1"),
    (["model.name=vgg9"], "cannot change model.name"),
    (["--criterion", "sf", "--scope", "local"], "expected no --scope"),
])
def test_user_errors(tmp_path, argv, message):
    assert main(["train", *tiny_args(tmp_path, epochs=1), *FAST]) == 0
    overrides = [a for a in argv if "=" in a]
    flags = {"--rounds": "1", "--rate": "0.5", "--rewind": "init", **dict(zip(argv[::2], argv[1::2]))}
    flags = [x for kv in flags.items() if kv[0].startswith("--") for x in kv]
    with pytest.raises((UsageError, ValueError, ConfigError), match=message):
        prune(tmp_path / "run", *overrides, *flags)
