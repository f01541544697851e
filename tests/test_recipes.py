"""The paper-table recipes in ``configs/`` (``ltsnn_table*.yaml``, ``lmht_table*.yaml``; docs/recipes.md).

On fake folders in each data set's published layout (written with the data tests' writers), every recipe
builds at tiny size and takes one training step (default suite, ~15 s), and trains one epoch through
``ltsnn train`` (``slow``, ~110 s); every command documented in a recipe's header loads, and
docs/recipes.md names every recipe. The recipes keep the paper's sizes; only the overrides shrink them.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from data.test_datasets_files import identity_events, write_atis, write_cifar10dvs, write_dat
from ltsnn.build import build_run
from ltsnn.cli import main
from ltsnn.config import load_config
from ltsnn.data import shapes as synthetic
from ltsnn.data.datasets import cifar10dvs as cifar_module
from ltsnn.data.datasets import ncaltech101 as caltech_module

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted([*REPO.glob("configs/ltsnn_table*.yaml"), *REPO.glob("configs/lmht_table*.yaml")])
TINY_COLOUR = ["data.options.size=[16,16]"]      # ltsnn_colour frames of 16x16: VGG-9's four poolings leave 1x1


# ---------------------------------------------------------------------------------------------- fake folders

def fake_cifar10dvs(root: Path, per_class: int = 10) -> Path:
    for c, name in enumerate(cifar_module.CLASSES):
        for i in range(per_class):
            write_cifar10dvs(root / name / f"cifar10_{name}_{i}.aedat", identity_events(3 + i, x=8 * c, y=8 * i))
    return root


def fake_ncaltech101(root: Path) -> Path:
    for c, name in enumerate(caltech_module.FOLDERS):
        for i in range(3):
            write_atis(root / "Caltech101" / name / f"image_{i + 1:04d}.bin", identity_events(3 + i, x=c, y=i))
    return root


def fake_ncars(root: Path) -> Path:
    for split, n in (("train", 8), ("test", 4)):
        for c, name in enumerate(("background", "cars")):
            for i in range(n):
                write_dat(root / f"n-cars_{split}" / name / f"obj_{i:06d}_td.dat",
                          identity_events(3 + i, x=40 * c + i, y=5 * i))
    return root


def fake_gen1(root: Path) -> Path:
    params = synthetic.ShapesParams()
    for split, count in (("train", 4), ("test", 2)):
        for i in range(count):
            sample = synthetic.generate_sample(params, seed=9 + (split == "test"), index=i)
            synthetic.export_gen1(sample, root / split, f"rec{i:02d}", params)
    return root


def fake_static_images(root: Path, side: int = 32) -> Path:
    """train.npz (40) and test.npz (20): 10 classes of grayscale side x side images, a class-sized block."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 20)):
        labels = np.arange(n) % 10
        images = (rng.random((n, side, side)) * 40).astype(np.uint8)
        for k, c in enumerate(labels):
            images[k, 4:6 + 2 * c, 4:12] = 255
        np.savez(root / f"{split}.npz", images=images, labels=labels)
    return root


# ---------------------------------------------------------------------------------------------- helpers

def tiny(root: Path, out: Path, name: str = "run", *extra: str) -> list[str]:
    """The overrides that shrink a recipe to one epoch on a fake folder."""
    return [f"data.root={root}", "data.n_time_bins=2", "data.batch_size=8", "data.cache=false",
            "train.epochs=1", "train.progress=never", f"train.out_dir={out}", f"train.name={name}", *extra]


def train_once(recipe: str, overrides: list[str], out: Path, name: str = "run") -> Path:
    """Train a recipe with the overrides through the CLI; the run folder, checked to be complete."""
    load_config(REPO / "configs" / recipe, overrides)             # a config error shows its message here
    assert main(["train", str(REPO / "configs" / recipe), *overrides]) == 0
    run = out / name
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "metrics.jsonl").is_file()
    return run


def documented_commands(path: Path) -> list[list[str]]:
    """The overrides of each ``ltsnn train configs/<this recipe> ...`` line of the recipe's header."""
    commands = []
    for line in path.read_text().splitlines():
        if line.startswith("#") and f"ltsnn train configs/{path.name}" in line:
            words = shlex.split(line.lstrip("#"))
            commands.append([w for w in words[3:] if "=" in w])
    return commands


# ---------------------------------------------------------------------------------------------- the recipes

def test_the_paper_tables_each_have_a_recipe():
    names = {p.name for p in RECIPES}
    assert {f"ltsnn_table{t}.yaml" for t in (2, 4, 8, 9, 10, 11)} <= names
    assert {"ltsnn_table4_cifar10.yaml", "ltsnn_table5_ncaltech101.yaml", "ltsnn_table5_ncars.yaml",
            "lmht_table1.yaml", "lmht_table1_cifar.yaml", "lmht_table2_qcfs.yaml",
            "lmht_table2_finetune.yaml"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_documented_command_loads(path):
    """Each recipe documents at least one command, and each documented command is a valid config."""
    commands = documented_commands(path)
    assert commands, f"{path.name}: no '#   ltsnn train configs/{path.name} ...' line in its header"
    for overrides in commands:
        load_config(path, overrides)


def test_docs_name_every_recipe():
    text = (REPO / "docs" / "recipes.md").read_text()
    missing = [p.name for p in RECIPES if f"configs/{p.name}" not in text]
    assert not missing, f"docs/recipes.md does not mention {missing}"


# Each recipe with its fake folder and the overrides that shrink it (beyond `tiny`).
DVS_CIFAR10 = (fake_cifar10dvs, TINY_COLOUR)
CASES = {
    "ltsnn_table2.yaml": DVS_CIFAR10,
    "ltsnn_table4.yaml": DVS_CIFAR10,
    "ltsnn_table8.yaml": DVS_CIFAR10,
    "ltsnn_table9.yaml": DVS_CIFAR10,
    "ltsnn_table4_cifar10.yaml": (fake_static_images, []),
    "ltsnn_table5_ncaltech101.yaml": (fake_ncaltech101, TINY_COLOUR),
    "ltsnn_table5_ncars.yaml": (fake_ncars, TINY_COLOUR),
    # The shapes' label instants fall in the first 0.5 s, which the Prophesee filter skips: no filter here.
    "ltsnn_table10.yaml": (fake_gen1, ["data.options.input_size=[64,64]", "data.batch_size=2",
                                       "data.val_fraction=0.25", "data.options.box_filter=none",
                                       "detection.box_filter=none"]),
    "lmht_table1.yaml": (fake_cifar10dvs, ["data.options.size=[16,16]"]),
    "lmht_table1_cifar.yaml": (fake_static_images, []),
    "lmht_table2_qcfs.yaml": (fake_static_images, ["data.n_time_bins=1"]),
}
STEP_CASES = CLI_CASES = [*CASES, "ltsnn_table11.yaml"]    # Table 11: model.neuron_options.sgp_weight


def case(recipe: str) -> tuple:
    return CASES.get(recipe, DVS_CIFAR10)                       # Table 11 is Table 2's set-up


def test_every_recipe_has_a_smoke_case():
    untested = {p.name for p in RECIPES} - set(CASES) - {"ltsnn_table11.yaml", "lmht_table2_finetune.yaml"}
    assert not untested, f"recipes without a smoke case: {sorted(untested)}"


@pytest.mark.parametrize("recipe", STEP_CASES)
def test_recipe_builds_and_takes_one_step(recipe, tmp_path):
    """The fast smoke test: the recipe's data set on a fake folder, its model, one training step."""
    write, extra = case(recipe)
    root = write(tmp_path / "data")
    cfg = load_config(REPO / "configs" / recipe, tiny(root, tmp_path / "runs", "run", *extra))
    run = build_run(cfg, log=lambda _: None)
    assert run.model_args["name"] == cfg.model.name
    frames, target = next(iter(run.data.train_batches(0)))
    assert frames.shape[1] == cfg.data.n_time_bins                # [B, T, C, H, W]
    before = [p.detach().clone() for p in run.model.parameters()]
    loss = run.task(frames, target)["loss"]
    assert torch.isfinite(loss), f"{recipe}: loss {loss}"
    loss.backward()
    run.optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, run.model.parameters())), f"{recipe}: nothing learned"


@pytest.mark.slow
@pytest.mark.parametrize("recipe", CLI_CASES)
def test_recipe_trains_one_epoch_through_the_cli(recipe, tmp_path):
    write, extra = case(recipe)
    root = write(tmp_path / "data")
    train_once(recipe, tiny(root, tmp_path / "runs", "run", *extra), tmp_path / "runs")


@pytest.mark.slow
def test_lmht_table2_hybrid_chain(tmp_path):
    """QCFS ANN (step 1) -> `ltsnn convert --to lmht` (step 2) -> fine-tuning from the converted checkpoint."""
    write, extra = CASES["lmht_table2_qcfs.yaml"]
    root, out = write(tmp_path / "data"), tmp_path / "runs"
    ann = train_once("lmht_table2_qcfs.yaml", tiny(root, out, "ann", *extra), out, "ann")
    assert main(["convert", str(ann), "--to", "lmht", "--levels", "2", "--steps", "2"]) == 0
    converted = ann / "converted" / "lmht-L2-T2" / "checkpoints" / "last.pt"
    train_once("lmht_table2_finetune.yaml", tiny(root, out, "tuned", *extra, f"train.init_from={converted}"),
               out, "tuned")
