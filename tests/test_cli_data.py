"""``ltsnn data inspect | prepare`` and ``ltsnn train`` through the frame cache."""

from pathlib import Path

import numpy as np
import pytest

from ltsnn.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, count, span_ms, size", [
    ("ncars/expelliarmus_NCARS_obj_004397_td.dat", "4,407", "99.937", "not stated in the file"),
    ("nmnist/tonic_sample_nmnist.bin", "4,325", "310.521", "not stated in the file"),
    ("aedat4/tonic_sample.aedat4", "111,954", "589.917", "320x240 (W x H, from the header)"),
    ("prophesee_raw/expelliarmus_evt3_pedestrians_gen41.raw", "5,000", "45.210", None),
])
def test_inspect_prints_statistics_and_writes_png(fixtures_dir, tmp_path, capsys, name, count, span_ms, size):
    out = tmp_path / "frames.png"
    assert main(["data", "inspect", str(fixtures_dir / name), "--bins", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"events      {count}\n" in text and f"duration    {span_ms} ms" in text
    assert size is None or f"resolution  {size}" in text
    assert "event rate" in text and "polarity    ON" in text and f"frames: {out}" in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 2000


def test_inspect_counts_polarity(fixtures_dir, capsys, tmp_path):
    from ltsnn.data.io import read_atis_bin
    events = read_atis_bin(fixtures_dir / "nmnist_small/1.bs2").events
    on = int(events["p"].sum())
    main(["data", "inspect", str(fixtures_dir / "nmnist_small/1.bs2"), "--out", str(tmp_path / "a.png")])
    assert f"ON {on:,} ({100 * on / len(events):.1f}%), OFF {len(events) - on:,}" in capsys.readouterr().out


def test_inspect_writes_beside_the_file_or_into_out_dir_never_the_working_dir(fixtures_dir, tmp_path, capsys,
                                                                               monkeypatch):
    import shutil
    data, here, pictures = tmp_path / "data", tmp_path / "repo", tmp_path / "pictures"
    for folder in (data, here, pictures):
        folder.mkdir()
    shutil.copy(fixtures_dir / "nmnist/tonic_sample_nmnist.bin", data / "a.bin")
    monkeypatch.chdir(here)
    assert main(["data", "inspect", str(data / "a.bin"), "--bins", "1"]) == 0
    assert (data / "a.bin.png").is_file() and not any(here.iterdir())
    assert f"frames: {data / 'a.bin.png'}" in capsys.readouterr().out
    assert main(["data", "inspect", str(data / "a.bin"), "--bins", "1", "--out", str(pictures)]) == 0
    assert (pictures / "a.bin.png").is_file() and not any(here.iterdir())


def test_inspect_empty_file_and_errors(fixtures_dir, tmp_path, capsys):
    assert main(["data", "inspect", str(fixtures_dir / "aedat2/tonic_sample_aedat_header.aedat"),
                 "--out", str(tmp_path / "x.png")]) == 0
    assert "events      0" in capsys.readouterr().out and not (tmp_path / "x.png").exists()
    assert main(["data", "inspect", str(tmp_path / "absent.bin")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ltsnn: error: ") and "absent.bin" in err and err.count("\n") == 1
    assert main(["data", "inspect", str(fixtures_dir / "nmnist/tonic_sample_nmnist.bin"), "--bins", "0"]) == 2


def test_prepare_builds_then_verifies(fixtures_dir, tmp_path, capsys):
    args = ["data", "prepare", "nmnist_small", "--root", str(fixtures_dir / "nmnist_small"), "--workers", "0",
            f"cache_dir={tmp_path}", "n_time_bins=2", "binary=false", "--progress", "never"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "nmnist_small train: 801 samples, frames uint16 [801, 2, 2, 34, 34]" in first and "built in" in first
    assert "nmnist_small test: 199 samples" in first
    assert main(args) == 0
    assert capsys.readouterr().out.count("already there, sha256 verified") == 2
    assert len(list((tmp_path / "nmnist_small").glob("*.npy"))) == 2
    assert main(["data", "prepare", "ndigits", "n_time_bins=2", f"cache_dir={tmp_path}"]) == 2
    assert "has no files to cache" in capsys.readouterr().err
    assert main(["data", "prepare", "nmnist_small", "root=x"]) == 2


@pytest.mark.slow
def test_train_goes_through_the_cache(fixtures_dir, tmp_path, capsys):
    """`ltsnn train` on nmnist_small builds the cache on the first run and reads it on the second."""
    args = [str(REPO / "configs/nmnist_small.yaml"), f"data.root={fixtures_dir / 'nmnist_small'}",
            f"data.cache_dir={tmp_path / 'cache'}", f"train.out_dir={tmp_path / 'runs'}", "train.epochs=1",
            "data.n_time_bins=2", "data.batch_size=100", "train.progress=never"]
    assert main(["train", *args, "train.name=first"]) == 0
    out = capsys.readouterr().out
    assert "data: nmnist_small train, 801 samples, frames cached in" in out
    assert "data: nmnist_small test, 199 samples, frames cached in" in out
    assert main(["train", *args, "train.name=second"]) == 0
    out = capsys.readouterr().out
    assert "data: nmnist_small train, 801 samples, frames read from" in out
    assert "data: nmnist_small test, 199 samples, frames read from" in out


def test_config_augment_wraps_the_training_split(fixtures_dir, tmp_path):
    from ltsnn.build import build_dataset
    from ltsnn.config import load_config
    cfg = load_config(None, ["data.name=nmnist_small", f"data.root={fixtures_dir / 'nmnist_small'}",
                             "data.n_time_bins=2", f"data.cache_dir={tmp_path}", "data.augment.frames_flip.p=1.0"])
    train, plain = build_dataset(cfg.data, split="train"), build_dataset(cfg.data, split="test")
    assert type(train).__name__ == "AugmentedFrames" and type(plain).__name__ == "FrameDataset"
    np.testing.assert_array_equal(train[3][0].numpy(), train.dataset[3][0].numpy()[..., ::-1])    # mirrored (lr)
