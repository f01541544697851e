"""Checkpoints are chosen on a validation split carved from the training split, never on the test split
(issue 13, item 1)."""

import numpy as np
import pytest

import ltsnn.engine.report  # noqa: F401  (bound to the real evaluate before the tests below patch loop's)
from ltsnn.cli import main
from ltsnn.data.datasets.validation import SplitView, validation_indices
from ltsnn.engine import RunFolder, load_checkpoint, loop
from tiny_run import records, register_tiny_datasets, tiny_args


@pytest.fixture(autouse=True)
def tiny_data(monkeypatch):
    register_tiny_datasets(monkeypatch)


def test_best_pt_follows_validation_even_when_the_test_split_says_otherwise(tmp_path, monkeypatch, capsys):
    # The test split is rigged to look best after epoch 1 and the validation split after epoch 3: a choice
    # made on the test split would keep epoch 1.
    real_evaluate = loop.evaluate
    calls = {"val": 0, "test": 0}

    def rigged(task, loader, **kw):
        result = real_evaluate(task, loader, **kw)
        split = "val" if len(loader.dataset) < 24 else "test"      # tiny: 24 test samples, 4 validation
        calls[split] += 1
        result["acc"] = {"val": [0.2, 0.5, 0.9], "test": [0.99, 0.1, 0.1]}[split][calls[split] - 1]
        return result

    monkeypatch.setattr(loop, "evaluate", rigged)
    assert main(["train", *tiny_args(tmp_path, epochs=3)]) == 0
    folder = RunFolder(tmp_path / "run")
    assert load_checkpoint(folder.best)["epoch"] == 3
    history = records(folder.root)
    assert [r["val_acc"] for r in history] == [0.2, 0.5, 0.9] and [r["test_acc"] for r in history] == [0.99, 0.1, 0.1]
    out = capsys.readouterr().out
    assert "best.pt: epoch 3, chosen on validation accuracy 90.00%, test accuracy 10.00%" in out
    assert "(44 train / 4 validation / 24 test" in out           # 48 less the validation tenth (one per class)


def test_a_tie_in_validation_accuracy_goes_to_the_lower_validation_loss(tmp_path, monkeypatch, capsys):
    # A few hundred validation samples tie often; the earliest epoch of a tie was kept before, even when a
    # later one fit the validation split better.
    real_evaluate = loop.evaluate
    calls = {"val": 0}

    def rigged(task, loader, **kw):
        result = real_evaluate(task, loader, **kw)
        if len(loader.dataset) < 24:
            calls["val"] += 1
            result["acc"], result["loss"] = [(0.5, 0.9), (0.4, 0.5), (0.5, 0.7)][calls["val"] - 1]
        return result

    monkeypatch.setattr(loop, "evaluate", rigged)
    assert main(["train", *tiny_args(tmp_path, epochs=3)]) == 0
    folder = RunFolder(tmp_path / "run")
    assert load_checkpoint(folder.best)["epoch"] == 3
    assert "best.pt: epoch 3, chosen on validation accuracy 50.00%" in capsys.readouterr().out


def test_without_a_validation_split_there_is_no_best_pt(tmp_path, capsys):
    assert main(["train", *tiny_args(tmp_path, epochs=2), "data.val_fraction=0"]) == 0
    folder = RunFolder(tmp_path / "run")
    assert folder.last.is_file() and not folder.best.exists()
    assert "no validation split, so no best.pt" in capsys.readouterr().out
    assert "val_acc" not in records(folder.root)[0]


def test_the_validation_split_is_stratified_seeded_and_disjoint():
    class Labelled:
        labels = np.repeat(np.arange(5), [10, 20, 30, 40, 50])

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            return i

    data = Labelled()
    train, val = validation_indices(data, fraction=0.1, seed=3)
    assert np.bincount(data.labels[val]).tolist() == [1, 2, 3, 4, 5]
    assert not set(train) & set(val) and len(train) + len(val) == len(data)
    again, _ = validation_indices(data, fraction=0.1, seed=3)
    other, _ = validation_indices(data, fraction=0.1, seed=4)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    view = SplitView(data, val)
    assert [view[i] for i in range(len(view))] == val.tolist() and np.array_equal(view.labels, data.labels[val])


def test_detection_holds_out_whole_recordings():
    class Windows:
        recordings = [0, 0, 1, 1, 1, 2, 3, 3, 4, 5]
        labels = [np.array([k]) for k in range(10)]            # per-window box labels

        def __len__(self):
            return 10

    train, val = validation_indices(Windows(), fraction=0.34, seed=0)
    rec = np.array(Windows.recordings)
    assert not set(rec[train]) & set(rec[val]) and len(set(rec[val])) == 2
    assert [int(x[0]) for x in SplitView(Windows(), val).labels] == val.tolist()
