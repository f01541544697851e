"""The ``ltsnn`` CLI end to end on a tiny fake data set: run folder, resume, non-finite loss, errors, ablation."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from ltsnn.cli import main
from ltsnn.engine import load_checkpoint
from ltsnn.tasks.classification import ClassificationTask
from ltsnn.engine import loop
from ltsnn.models import MODELS
from ltsnn.neurons import NeuronSpec
from ltsnn.models.vgg import SpikingVGG

from tiny_run import one_error_line, records, register_tiny_datasets, tiny_args

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def tiny_data(monkeypatch):
    register_tiny_datasets(monkeypatch)


@pytest.fixture
def tiny_dropout_model(monkeypatch):
    """A model with dropout, so that resuming must restore the global RNG to be bit-identical."""
    def build(*, in_channels, num_classes, input_size, neuron: NeuronSpec = NeuronSpec()):
        """Tiny VGG with a dropout layer (tests only)"""
        return SpikingVGG("8C3-AP2-8C3-AP2-FC16-FC4", in_channels=in_channels, num_classes=num_classes,
                          input_size=input_size, neuron=neuron, dropout=0.5, name="tiny_dropout")
    monkeypatch.setitem(MODELS, "tiny_dropout", build)


def test_two_epoch_run_writes_a_complete_run_folder(tmp_path, capsys):
    assert main(["train", *tiny_args(tmp_path)]) == 0
    out = capsys.readouterr().out
    run = tmp_path / "run"
    for rel in ("config.yaml", "metrics.jsonl", "thresholds.csv", "checkpoints/last.pt", "checkpoints/best.pt",
                "plots/accuracy_loss.png", "plots/thresholds.png", "plots/firing_rates.png", "report/report.md",
                "report/report.json", "report/energy.png"):
        assert (run / rel).is_file(), rel
    assert not (run / "report" / "quantized.safetensors").exists()             # a float model has nothing to export
    assert "; energy per sample: this SNN (T = " in out and "the same network run once as an ANN" in out
    assert "the same size as float" in out and "smaller than float" not in out
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]      # no temp files left
    h = records(run)
    assert [r["epoch"] for r in h] == [1, 2]
    assert h[1]["train_loss"] < h[0]["train_loss"]
    layers = list(h[-1]["thresholds"])
    assert len(layers) == 3 and h[-1]["fixed_layers"] == [layers[0]]           # vgg_tiny: first layer fixed
    assert h[-1]["thresholds"][layers[0]] == 1.0 and h[-1]["thresholds"][layers[1]] != 1.0
    assert set(h[-1]["firing_rates"]) == set(layers)
    assert all(0 <= v <= 1 for v in h[-1]["firing_rates"].values())
    assert h[0]["lr"] == pytest.approx(5e-3) and h[1]["lr"] == pytest.approx(2.5e-3)    # cosine over 2 epochs
    csv_lines = (run / "thresholds.csv").read_text().splitlines()
    assert csv_lines[0] == ",".join(["epoch", f"{layers[0]} (fixed)", *layers[1:]]) and len(csv_lines) == 3
    # One line per epoch with the learned thresholds, then the summary.
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 2 and all("vth" in line and layers[1] in line for line in epoch_lines)
    assert "final thresholds per layer:" in out and f"{h[-1]['thresholds'][layers[1]]:.4f}" in out
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["data"]["name"] == "tiny" and stored["loss"]["w_mse"] == 0.45
    assert load_checkpoint(run / "checkpoints" / "last.pt")["config"] == stored

    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"accuracy {100 * h[-1]['test_acc']:.2f}%" in out and layers[1] in out


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, monkeypatch, tiny_dropout_model, capsys):
    args = ["model.name=tiny_dropout"]
    assert main(["train", *tiny_args(tmp_path, "straight"), *args]) == 0

    class Crash(Exception):
        pass

    real_epoch = loop.train_one_epoch

    def crash_in_epoch_2(*a, epoch, **kw):
        if epoch == 2:
            raise Crash
        return real_epoch(*a, epoch=epoch, **kw)

    monkeypatch.setattr(loop, "train_one_epoch", crash_in_epoch_2)
    with pytest.raises(Crash):
        main(["train", *tiny_args(tmp_path, "resumed"), *args])
    monkeypatch.setattr(loop, "train_one_epoch", real_epoch)
    assert load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")["epoch"] == 1
    assert main(["train", "--resume", str(tmp_path / "resumed")]) == 0
    assert "resuming after epoch 1" in capsys.readouterr().out

    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert (a["epoch"], a["step"], a["task"]["omega"]) == (b["epoch"], b["step"], b["task"]["omega"])

    def drop_time(rs):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rs]
    assert drop_time(records(tmp_path / "straight")) == drop_time(records(tmp_path / "resumed"))


def test_resume_refuses_to_change_the_run(tmp_path, capsys):
    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 0
    assert main(["train", "--resume", str(tmp_path / "run"), "optim.lr=0.1"]) == 2
    assert "optim.lr" in one_error_line(capsys)
    assert main(["train", "--resume", str(tmp_path / "run"), "train.epochs=0"]) == 2
    assert "train.epochs: expected a value >= 1" in one_error_line(capsys)
    # More epochs is allowed: the run continues from its checkpoint.
    assert main(["train", "--resume", str(tmp_path / "run"), "train.epochs=2"]) == 0
    assert [r["epoch"] for r in records(tmp_path / "run")] == [1, 2]
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), "train.epochs=1"]) == 2
    assert "expected train.epochs >= 2" in one_error_line(capsys)
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]["epochs"] == 2


def test_non_finite_loss_stops_with_epoch_and_step_and_keeps_the_checkpoint(tmp_path, monkeypatch, capsys):
    real_call = ClassificationTask.__call__
    calls = {"train": 0}

    def nan_at_step_5(self, frames, target):
        out = real_call(self, frames, target)
        if self.model.training:
            calls["train"] += 1
            if calls["train"] == 5:                              # 3 steps per epoch: epoch 2, step 5
                out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(ClassificationTask, "__call__", nan_at_step_5)
    assert main(["train", *tiny_args(tmp_path)]) == 1
    line = one_error_line(capsys)
    assert "epoch 2, step 5" in line and "last good checkpoint" in line and "epoch 1" in line
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == 1 and ckpt["step"] == 3
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert [r["epoch"] for r in records(tmp_path / "run")] == [1]


@pytest.mark.parametrize("argv, expected", [
    (["train", "model.nmae=x"], "learn_first_threshold, name, neuron"),
    (["train", "trian.epochs=1"], "unknown section 'trian'"),
    (["train", "train.epochs=abc"], "train.epochs: expected int"),
    (["train", "train.epochs"], "expected CONFIG.yaml or section.key=value"),
    (["train", "train.epochs="], "train.epochs: expected int"),
    (["train", "a.yaml", "b.yaml"], "at most one CONFIG.yaml"),
    (["train", "missing.yaml"], "missing.yaml not found"),
    (["train", "data.name=tiny", "model.name=nope"], "unknown model 'nope'"),
    (["train", "data.name=tiny", "model.neuron=nope"], "unknown neuron 'nope'"),
    (["train", "data.name=nope"], "unknown data set 'nope'; expected one of"),
    (["train", "data.options.colour=1"], "data set 'ndigits' got unknown option(s) ['colour']"),
    (["eval", "missing.pt"], "missing.pt: no such file; expected an ltsnn checkpoint"),
    (["report", "missing"], "missing: no such folder; expected a run folder"),
    (["train", "model.quant_bits=3", "model.quant_coeff=ltsnn_code"],
     "model.quant_bits=3: SAWB coeff 'ltsnn_code' has no coefficients for 3-bit weights; expected bits in [4, 8]"),
    (["train", "model.quant_coeff=dorefa"], "model.quant_coeff: expected one of ibm, ibm_new, ltsnn_code"),
    (["frobnicate"], "invalid choice"),
    (["ablation", "data.name=tiny", "--seeds", "a,b"], "--seeds: expected comma-separated int"),
])
def test_user_errors_exit_2_with_one_line(argv, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert expected in one_error_line(capsys)
    assert not (tmp_path / "runs").exists()                     # nothing half-made


def test_foreign_checkpoints_and_wrong_input_shape_exit_2(tmp_path, capsys):
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": {}}, plain)
    for path in (text, plain):
        assert main(["eval", str(path)]) == 2
        line = one_error_line(capsys)
        assert str(path) in line and "not an ltsnn checkpoint" in line

    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run"), "data.name=tiny16"]) == 2
    assert "expects input [T, B, 2, 12, 12]" in one_error_line(capsys)
    assert main(["eval", str(tmp_path / "run"), "model.name=vgg9"]) == 2
    assert "cannot change model.name" in one_error_line(capsys)
    assert main(["eval", str(tmp_path / "run"), "data.seed=1"]) == 2       # another split: training samples
    assert "cannot change data.seed" in one_error_line(capsys)
    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 2       # the folder exists: resume or rename
    assert "--resume" in one_error_line(capsys)


def test_quantized_run_reports_exports_evaluates_and_resumes(tmp_path, capsys):
    quant = ["model.quant_bits=4", "model.quant_linear=true"]
    assert main(["train", *tiny_args(tmp_path, "q"), *quant]) == 0
    out = capsys.readouterr().out
    run = tmp_path / "q"
    assert "4-bit SAWB weights (ibm)" in out and f"report {run / 'report' / 'report.md'}: test acc" in out
    for name in ("report.md", "report.json", "accuracy_loss.png", "thresholds.png", "firing_rates.png", "energy.png",
                 "quantized.safetensors"):
        assert (run / "report" / name).is_file(), name
    h = records(run)
    report = json.loads((run / "report" / "report.json").read_text())
    assert report["test"]["acc"] == h[-1]["test_acc"] and "last.pt (epoch 2)" in report["source"]
    assert [v["label"] for v in report["neurons"].values()] == ["LIF1", "LIF2", "LIF3"]
    assert {n: v["threshold"] for n, v in report["neurons"].items()} == h[-1]["thresholds"]
    ops = report["synaptic"]
    assert [v["input"] for v in ops["layers"].values()] == ["real", "spikes", "spikes", "spikes"]
    assert ops["time_steps"] == 3 and ops["total"]["ann_energy_pj"] > 0
    size = report["size"]
    # Float: conv biases 16 + 32 + 64, BN γ and β 2·112, the FC bias 4 and 2 learnable thresholds = 342.
    assert size["quantized_parameters"] == size["parameters"] - 342
    assert size["compression"] > 5
    # NeuroBench's names: activation sparsity is 1 - the neuron-weighted mean firing rate of the three layers.
    nb, neurons = report["neurobench"], report["neurons"].values()
    fired = sum(v["firing_rate"] * v["neurons"] for v in neurons) / sum(v["neurons"] for v in neurons)
    counts = [v["neurons"] for v in neurons]                       # per sample and step: C·H·W, halved by each pool
    assert counts[0] == 2 * counts[1] == 4 * counts[2] > 0                  # 16·H·W, 32·H/2·W/2, 64·H/4·W/4
    assert nb["activation_sparsity"] == pytest.approx(1 - fired) and nb["parameter_count"] == size["parameters"]
    assert 0 <= nb["connection_sparsity"] < 1 and nb["footprint_bytes"] > size["mb"] * 1e6
    assert load_checkpoint(run / "checkpoints" / "last.pt")["model_args"]["quant"] == {
        "bits": 4, "coeff": "ibm", "include_linear": True}
    md = (run / "report" / "report.md").read_text()
    assert "| conv1 | `features.0.0` | real |" in md and "quantized.safetensors" in md

    assert main(["eval", str(run)]) == 0
    assert f"accuracy {100 * h[-1]['test_acc']:.2f}%" in capsys.readouterr().out
    assert main(["report", str(run), "--checkpoint", "best", "--e-ac", "0.5", "--first-layer", "sop"]) == 0
    report = json.loads((run / "report" / "report.json").read_text())
    assert "best.pt" in report["source"] and report["synaptic"]["e_ac_pj"] == 0.5
    assert report["synaptic"]["first_layer"] == "sop"
    capsys.readouterr()
    assert main(["report", str(run), "model.quant_bits=8"]) == 2
    assert "report rebuilds the model from the checkpoint: cannot change model.quant_bits" in one_error_line(capsys)

    # Resuming a quantised run continues it exactly (the optimizer state matches the quantised parameters).
    assert main(["train", *tiny_args(tmp_path, "q1", epochs=1), *quant]) == 0
    assert main(["train", "--resume", str(tmp_path / "q1"), "train.epochs=2"]) == 0
    a = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "q1" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ablation_writes_the_table_and_reuses_finished_runs(tmp_path, capsys):
    argv = ["ablation", *tiny_args(tmp_path, "abl", epochs=1), "--modes", "fixed,sgp", "--seeds", "0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    table = (tmp_path / "abl" / "ablation.md").read_text()
    assert "| fixed | 1 |" in table and "| sgp | 1 |" in table and table.strip() in out
    assert table.count("(n = 1, no interval)") == 4 and "± 0.00" not in table     # one seed: no spread to show
    summary = json.loads((tmp_path / "abl" / "ablation.json").read_text())["summary"]
    assert summary["fixed"]["fixed_layers"] == list(summary["fixed"]["thresholds_mean"])    # all fixed
    assert len(summary["sgp"]["fixed_layers"]) == 1
    assert (tmp_path / "abl" / "sgp-seed0" / "checkpoints" / "last.pt").is_file()
    # Running it again trains nothing: the finished runs are read back, and the table is the same.
    assert main(argv) == 0
    assert "epoch 1/1" not in capsys.readouterr().out
    assert (tmp_path / "abl" / "ablation.md").read_text() == table


def test_ablation_interval_needs_two_seeds():
    from ltsnn.cli.runs import _mean_pm_std, _mean_std
    assert _mean_pm_std(*_mean_std([0.9])) == "90.00 (n = 1, no interval)"
    assert _mean_pm_std(*_mean_std([0.9, 0.92])) == "91.00 ± 1.41"


def test_models_lists_models_neurons_and_data_sets(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "vgg_tiny" in out and "lif" in out and "tiny16" in out and "data sets:" in out and "ndigits" in out


def test_python_dash_m(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "ltsnn", "models"], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0 and "vgg_tiny" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "ltsnn", "train", "train.epoch=1"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "valid: checkpoint_every" in bad.stderr


def test_missing_cli_extra_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "yaml", None)                   # as if pyyaml were not installed
    assert main(["train", "train.epochs=1"]) == 2
    assert "pip install 'ltsnn[cli]'" in one_error_line(capsys)


def test_hybrid_pipeline_qcfs_ann_convert_and_fine_tune(tmp_path, capsys):
    """LM-HT hybrid training from the CLI: QCFS ANN -> `convert` (IF at two T, LM-HT) -> `train.init_from`."""
    qcfs = ["model.name=resnet20", "model.neuron=qcfs", "model.options.time_input=mean", "loss.preset=custom",
            "loss.kind=mean_ce"]
    assert main(["train", *tiny_args(tmp_path, name="ann", epochs=1), *qcfs]) == 0
    ann = tmp_path / "ann"
    out = capsys.readouterr().out                               # an ANN: no SNN verdict, no empty spike plots
    assert "as an ANN (one pass, all MACs); no SNN comparison" in out and "× less" not in out
    assert not (ann / "plots" / "thresholds.png").exists() and not (ann / "report" / "firing_rates.png").exists()
    assert "no spiking neurons" in (ann / "report" / "report.md").read_text()
    assert main(["convert", str(ann), "--to", "if", "--steps", "2,4"]) == 0
    assert main(["convert", str(ann), "--to", "lmht", "--levels", "2", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "QCFS ANN resnet20" in out and out.count("  if-T") == 2 and "  lmht-L2-T2" in out
    lmht_run = ann / "converted" / "lmht-L2-T2"
    conversion = json.loads((lmht_run / "conversion.json").read_text())
    ckpt = load_checkpoint(lmht_run / "checkpoints" / "last.pt")
    assert ckpt["model_args"]["kwargs"]["neuron"]["name"] == "lmht" and ckpt["model_args"]["kwargs"]["mean_repeat"] == 2
    assert ckpt["model"]["stem.1.input_scale"] == 2.0                      # ×L on the first LM-HT layer
    ann_lams = load_checkpoint(ann / "checkpoints" / "last.pt")["model"]
    assert float(ckpt["model"]["stem.1.v_th"]) == float(ann_lams["stem.1.lam"]) == conversion["thresholds"]["stem.1"]
    # The converted run evaluates like any run, and reproduces the accuracy convert printed.
    assert main(["eval", str(lmht_run)]) == 0
    assert f"accuracy {100 * conversion['test_acc']:.2f}%" in capsys.readouterr().out

    init = f"train.init_from={lmht_run / 'checkpoints' / 'last.pt'}"
    assert main(["train", *tiny_args(tmp_path, name="finetune", epochs=1), "loss.preset=custom",
                 "loss.kind=mean_ce", init]) == 0
    tuned = load_checkpoint(tmp_path / "finetune" / "checkpoints" / "last.pt")
    assert tuned["model_args"] == ckpt["model_args"] and tuned["config"]["model"]["neuron"] == "lmht"
    assert not torch.equal(tuned["model"]["stem.1.M"], ckpt["model"]["stem.1.M"])   # the T-GIM was trained
    assert tuned["model"]["stem.1.v_th"] == ckpt["model"]["stem.1.v_th"]             # θ is not
    # A model key that disagrees with the checkpoint would be ignored: it is an error instead.
    capsys.readouterr()
    assert main(["train", *tiny_args(tmp_path, name="bad"), init, "model.name=vgg9"]) == 2
    assert "model.name cannot be set" in one_error_line(capsys)
    assert main(["convert", str(tmp_path / "finetune"), "--to", "if"]) == 2
    assert "expected a QCFS ANN" in one_error_line(capsys)


def test_overrides_may_follow_the_options(tmp_path, capsys):
    assert main(["train", *tiny_args(tmp_path, epochs=1)]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "run"), "--checkpoint", "best", "data.batch_size=8"]) == 0
    assert main(["report", str(tmp_path / "run"), "--checkpoint", "best", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in one_error_line(capsys)
