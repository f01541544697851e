"""A tiny fake data set and helpers for the tests that run the ``ltsnn`` CLI end to end."""

import json
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ltsnn.data import datasets as data_registry


class TinyEvents(Dataset):
    """4 classes of ``size`` x ``size`` event frames: class k lights quadrant k, plus sparse noise."""

    classes = ["top-left", "top-right", "bottom-left", "bottom-right"]
    num_classes = 4
    in_channels = 2

    def __init__(self, *, split: str, n_time_bins: int, seed: int, size: int):
        self.input_size = (size, size)
        g = torch.Generator().manual_seed(2 * seed + (split == "test"))
        n = 48 if split == "train" else 24
        self.labels = torch.arange(n) % 4
        frames = (torch.rand(n, n_time_bins, 2, size, size, generator=g) < 0.05).float()    # [N, T, C, H, W]
        h = size // 2
        for i, k in enumerate(self.labels.tolist()):
            r, c = divmod(k, 2)
            frames[i, :, :, r * h:(r + 1) * h, c * h:(c + 1) * h] = (torch.rand(n_time_bins, 2, h, h, generator=g) < 0.5)
        self.frames = frames

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.frames[i], int(self.labels[i])


def register_tiny_datasets(monkeypatch) -> None:
    """Register "tiny" (12x12) and "tiny16" (16x16) beside the real data sets, for one test only."""
    for name, size in {"tiny": 12, "tiny16": 16}.items():
        def build(*, split, root, n_time_bins, bin_by, seed, size=size):
            return TinyEvents(split=split, n_time_bins=n_time_bins, seed=seed, size=size)
        build.__doc__ = f"{size}x{size} test data"
        monkeypatch.setitem(data_registry.DATASETS, name, build)



def tiny_args(out: Path, name: str = "run", epochs: int = 2) -> list[str]:
    return ["data.name=tiny", "data.n_time_bins=3", "data.batch_size=16", "train.progress=never",
            f"train.out_dir={out}", f"train.name={name}", f"train.epochs={epochs}", "optim.lr=5e-3"]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ltsnn: error: ") and "Traceback" not in err
    return lines[0]
