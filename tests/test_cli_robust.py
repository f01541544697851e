"""``ltsnn attack`` and ``ltsnn certify`` end to end on a tiny static data set trained for one epoch."""

import json

import pytest
import torch

import ltsnn.cli as cli
from ltsnn.cli import main, robust
from ltsnn.data import datasets as data_registry
from ltsnn.engine import loop


class TinyStatic(torch.utils.data.Dataset):
    """Two classes of 8x8 grey images (top or bottom half bright), repeated over T as fashion_static does."""

    classes = ["top", "bottom"]
    num_classes, in_channels, input_size = 2, 1, (8, 8)

    def __init__(self, *, split, n_time_bins, seed):
        g = torch.Generator().manual_seed(2 * seed + (split == "test"))
        n = 64 if split == "train" else 12
        self.labels = torch.arange(n) % 2
        images = 0.2 * torch.rand(n, 1, 8, 8, generator=g)
        for i, k in enumerate(self.labels.tolist()):
            images[i, 0, 4 * k:4 * k + 4] += 0.7
        self.frames = images.clamp(0, 1).unsqueeze(1).expand(n, n_time_bins, 1, 8, 8)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.frames[i], int(self.labels[i])


@pytest.fixture
def commands(monkeypatch):
    """The robust commands on the CLI (until cli/__init__ lists them) and the tiny data set in the registry."""
    if hasattr(cli, "COMMANDS"):                                # command -> (module, help line)
        for name in ("attack", "certify"):
            if name not in cli.COMMANDS:
                monkeypatch.setitem(cli.COMMANDS, name, ("robust", name))
    elif robust not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, robust))

    def build(*, split, root, n_time_bins, bin_by, seed):
        return TinyStatic(split=split, n_time_bins=n_time_bins, seed=seed)
    build.__doc__ = "8x8 static test data"
    monkeypatch.setitem(data_registry.DATASETS, "tiny_static", build)


def _train(tmp_path, encoder, *extra, name=None, code=0):
    name = name or encoder
    args = ["train", "data.name=tiny_static", "data.n_time_bins=2", "data.batch_size=16", "data.val_fraction=0",
            "train.progress=never", f"train.out_dir={tmp_path}", f"train.name={name}", "train.epochs=1",
            f"model.encoder={encoder}", "model.neuron_options.backend=torch", *extra]
    assert main(args) == code
    return tmp_path / name


@pytest.mark.slow                                               # trains a run (~10 s on 2 cores)
def test_attack_and_certify_write_their_tables_and_plots(tmp_path, commands, capsys):
    run = _train(tmp_path, "rsc", "model.encoder_options.sigma=0.2")
    assert main(["attack", str(run), "--eps", "0,0.05,0.5", "--steps", "3", "--eot", "2", "--limit", "8"]) == 0
    table = (run / "attack.csv").read_text().splitlines()
    assert table[0] == "eps,accuracy,n" and len(table) == 4 and table[1].endswith(",8")
    result = json.loads((run / "attack.json").read_text())
    assert result["attack"] == "PGD-3" and result["eot"] == 2 and result["encoder"] == "RSCEncoder"
    accuracy = [r["accuracy"] for r in result["rows"]]
    assert accuracy[2] <= accuracy[0]
    assert (run / "attack.png").read_bytes()[:4] == b"\x89PNG"

    assert main(["certify", str(run), "--noise", "encoder", "--n", "50", "--n0", "10", "--limit", "3",
                 "--radii", "0,0.1"]) == 0
    result = json.loads((run / "certify.json").read_text())
    assert result["sigma"] == 0.2 and len(result["per_image"]) == 3 and len(result["rows"]) == 2
    assert (run / "certify.csv").read_text().splitlines()[0] == "radius,certified_accuracy,n"
    assert (run / "certify.png").is_file()
    out = capsys.readouterr().out
    assert "certified accuracy" in out and "eps 0.5" in out

    assert main(["certify", str(run), "--noise", "encoder", "--sigma", "0.5"]) == 2
    assert "differs from the encoder's sigma" in capsys.readouterr().err


@pytest.mark.slow
def test_transfer_attack_crafts_on_the_other_run_and_writes_under_its_name(tmp_path, commands, capsys,
                                                                          monkeypatch):
    target, source = _train(tmp_path, "direct"), _train(tmp_path, "poisson")
    args = ["attack", str(target), "--eps", "0,0.5", "--steps", "2", "--limit", "6"]
    assert main([*args, "--name", "white"]) == 0
    assert main([*args, "--name", "transfer", "--transfer-from", str(source)]) == 0
    assert not (target / "attack.csv").exists()
    white, transfer = (json.loads((target / f"{n}.json").read_text()) for n in ("white", "transfer"))
    assert white["transfer_from"] is None and transfer["transfer_from"].startswith(str(source))
    assert transfer["attack"] == "PGD-2 transferred from poisson" and transfer["eot"] == 8   # the source's draws
    assert transfer["rows"][0] == white["rows"][0]                                         # eps 0: clean
    assert (target / "transfer.png").is_file() and "transfer.json" in capsys.readouterr().out

    other_t = _train(tmp_path, "direct", "data.n_time_bins=3", name="t3")     # another T is fine
    assert main([*args, "--name", "t3", "--transfer-from", str(other_t)]) == 0
    monkeypatch.setitem(data_registry.DATASETS, "tiny_static2", data_registry.DATASETS["tiny_static"])
    other_data = _train(tmp_path, "direct", "data.name=tiny_static2", name="d2")   # other images are not
    capsys.readouterr()
    assert main([*args, "--transfer-from", str(other_data)]) == 2
    assert "expected the attacked run's tiny_static" in capsys.readouterr().err
    assert main([*args, "--transfer-from", str(tmp_path / "nowhere")]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ["poisson", "rsc"])
def test_a_stochastic_encoder_resumes_and_evaluates_exactly(tmp_path, commands, capsys, monkeypatch, encoder):
    """The encoder's draws depend on (seed, epoch) in training and on the seed alone in evaluation, so a run
    resumed after a crash ends exactly as an uninterrupted one, and `ltsnn eval` repeats the logged test accuracy."""
    two = ["train.epochs=2"]
    straight = _train(tmp_path, encoder, *two, name="straight")
    real_epoch = loop.train_one_epoch

    def crash_in_epoch_2(*a, epoch, **kw):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(*a, epoch=epoch, **kw)

    monkeypatch.setattr(loop, "train_one_epoch", crash_in_epoch_2)
    _train(tmp_path, encoder, *two, name="resumed", code=130)         # the CLI's exit code for an interrupt
    monkeypatch.setattr(loop, "train_one_epoch", real_epoch)
    assert main(["train", "--resume", str(tmp_path / "resumed")]) == 0

    def history(run):
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert history(straight) == history(tmp_path / "resumed")
    a, b = (torch.load(r / "checkpoints" / "last.pt", weights_only=True)["model"] for r in (straight, tmp_path / "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    capsys.readouterr()
    assert main(["eval", str(straight / "checkpoints" / "last.pt")]) == 0
    assert f"{100 * history(straight)[-1]['test_acc']:.2f}" in capsys.readouterr().out


@pytest.mark.slow
def test_certify_with_encoder_noise_needs_a_gaussian_encoder(tmp_path, commands, capsys):
    run = _train(tmp_path, "poisson")
    assert main(["certify", str(run), "--noise", "encoder", "--n", "10", "--n0", "5", "--limit", "1"]) == 2
    assert "certifies no L2 radius" in capsys.readouterr().err
    assert main(["certify", str(run), "--sigma", "0.1", "--n", "20", "--n0", "5", "--limit", "2"]) == 0
    assert json.loads((run / "certify.json").read_text())["noise"] == "gaussian"
    assert main(["attack", str(tmp_path / "nowhere")]) == 2
