"""Checkpoints: atomic writes, RNG round trip, and one-line errors for missing or foreign files."""

import random

import numpy as np
import pytest
import torch

from ltsnn.engine import checkpoint as ckpt_mod
from ltsnn.engine.checkpoint import CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state


def state(value: float) -> dict:
    return {"model": {"w": torch.full((3,), value)}, "model_args": {"name": "m", "kwargs": {"input_size": [2, 2]}},
            "optimizer": {}, "scheduler": {}, "epoch": 1, "step": 4, "task": {"omega": 1.0}, "rng": rng_state(),
            "config": {"train": {"name": ""}}, "history": [{"epoch": 1, "thresholds": {"a": 1.0}}]}


def test_round_trip_with_weights_only(tmp_path):
    path = tmp_path / "ck" / "last.pt"
    save_checkpoint(path, state(2.0))
    got = load_checkpoint(path)
    assert torch.equal(got["model"]["w"], torch.full((3,), 2.0))
    assert got["model_args"]["kwargs"]["input_size"] == [2, 2] and got["history"][0]["thresholds"] == {"a": 1.0}
    assert list(path.parent.iterdir()) == [path]                       # no temporary file left behind


def test_rng_states_restore_every_generator():
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    np.random.standard_normal()                                        # leaves a cached gaussian in numpy
    random.gauss(0, 1)
    saved = rng_state()
    a = (torch.rand(3), np.random.standard_normal(4), np.random.rand(), random.random(), random.gauss(0, 1))
    torch.rand(10), np.random.rand(7), random.random()
    set_rng_state(saved)
    b = (torch.rand(3), np.random.standard_normal(4), np.random.rand(), random.random(), random.gauss(0, 1))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, state(1.0))
    before = path.read_bytes()

    def torn_save(obj, f):
        f.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod.torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, state(5.0))
    assert path.read_bytes() == before
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.full((3,), 1.0))
    assert list(tmp_path.iterdir()) == [path]


class Payload:
    """An arbitrary object: loading it would mean unpickling code."""


@pytest.mark.parametrize("kind", ["text", "plain_state_dict", "arbitrary_pickle", "other_version", "incomplete"])
def test_foreign_files_are_refused_with_one_line(tmp_path, kind):
    path = tmp_path / f"{kind}.pt"
    if kind == "text":
        path.write_text("hello\nworld\n")
    elif kind == "plain_state_dict":
        torch.save({"w": torch.zeros(2)}, path)
    elif kind == "arbitrary_pickle":
        torch.save({"format": ckpt_mod.FORMAT, "version": ckpt_mod.VERSION, "x": Payload()}, path)
    elif kind == "other_version":
        torch.save({"format": ckpt_mod.FORMAT, "version": 99}, path)
    else:
        torch.save({"format": ckpt_mod.FORMAT, "version": ckpt_mod.VERSION, "model": {}}, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    message = str(e.value)
    assert message.startswith(str(path)) and "\n" not in message
    expected = {"other_version": "version 99", "incomplete": "missing ['model_args'"}.get(kind, "not an ltsnn checkpoint")
    assert expected in message


def test_missing_file_names_the_path_and_what_was_expected(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt: no such file; expected an ltsnn checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
