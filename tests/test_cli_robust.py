"""``ltsnn attack`` and ``ltsnn certify`` end to end on a tiny static data set trained for one epoch."""

import json

import pytest
import torch

import ltsnn.cli as cli
from ltsnn.cli import main, robust
from ltsnn.data import datasets as data_registry


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


def _train(tmp_path, encoder, *extra):
    args = ["train", "data.name=tiny_static", "data.n_time_bins=2", "data.batch_size=16", "data.val_fraction=0",
            "train.progress=never", f"train.out_dir={tmp_path}", f"train.name={encoder}", "train.epochs=1",
            f"model.encoder={encoder}", "model.neuron_options.backend=torch", *extra]
    assert main(args) == 0
    return tmp_path / encoder


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
def test_certify_with_encoder_noise_needs_a_gaussian_encoder(tmp_path, commands, capsys):
    run = _train(tmp_path, "poisson")
    assert main(["certify", str(run), "--noise", "encoder", "--n", "10", "--n0", "5", "--limit", "1"]) == 2
    assert "certifies no L2 radius" in capsys.readouterr().err
    assert main(["certify", str(run), "--sigma", "0.1", "--n", "20", "--n0", "5", "--limit", "2"]) == 0
    assert json.loads((run / "certify.json").read_text())["noise"] == "gaussian"
    assert main(["attack", str(tmp_path / "nowhere")]) == 2
