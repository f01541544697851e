"""nfashion, fashion_static, images_to_events and images_static on small files written here (no Debian package)."""

import gzip

import numpy as np
import pytest

from ltsnn.data import create_dataset, list_datasets
from ltsnn.data.datasets import images as images_module
from ltsnn.data.datasets import nfashion as nfashion_module
from ltsnn.data.datasets.idx import read_idx, write_idx

SIDE = 10                       # 10x10 images: a 16x16 sensor keeps the emulation fast


def fake_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n uint8 images [n, SIDE, SIDE] (a bright block whose size depends on the class), labels 0..9 in turn."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = (rng.random((n, SIDE, SIDE)) * 40).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 2:3 + c % 6, 3:7] = 255
    return images, labels.astype(np.uint8)


def write_fashion(folder, *, gz: bool, n_train: int = 40, n_test: int = 20, gz_labels: bool | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    suffix, label_suffix = ".gz" if gz else "", ".gz" if (gz if gz_labels is None else gz_labels) else ""
    for name, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = fake_images(n, seed)
        write_idx(folder / f"{name}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{name}-labels-idx1-ubyte{label_suffix}", labels)
    return folder


def test_idx_round_trip_plain_and_gzip(tmp_path):
    images, labels = fake_images(5, 0)
    write_idx(tmp_path / "a-idx3-ubyte.gz", images)
    write_idx(tmp_path / "b-idx3-ubyte", images)
    write_idx(tmp_path / "f-idx1", np.arange(4, dtype=np.float32) / 3)
    assert gzip.open(tmp_path / "a-idx3-ubyte.gz").read(4) == b"\x00\x00\x08\x03"
    assert (tmp_path / "b-idx3-ubyte").read_bytes()[:8] == b"\x00\x00\x08\x03\x00\x00\x00\x05"
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx3-ubyte.gz"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "b-idx3-ubyte"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "f-idx1"), np.arange(4, dtype=np.float32) / 3)


def test_idx_errors_name_the_file(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x01\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match=r"bad: magic number 00010801; expected an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x03ab")
    with pytest.raises(ValueError, match=r"short: 10 bytes; expected 11 for uint8 values of shape \[3\]"):
        read_idx(tmp_path / "short")


def test_registered():
    assert {"nfashion", "fashion_static", "images_to_events", "images_static"} <= set(list_datasets())


def test_missing_files_name_the_debian_package_and_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(nfashion_module, "DEBIAN_FOLDER", tmp_path / "absent")
    for name in ("nfashion", "fashion_static"):
        with pytest.raises(FileNotFoundError, match=rf"{name}: folder .*absent not found; .*dataset-fashion-mnist"):
            create_dataset(name, split="test", n_time_bins=2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"nfashion: no train images in .*empty; .*apt-get install "
                                                r"dataset-fashion-mnist.*/usr/share/datasets/fashion-mnist"):
        create_dataset("nfashion", split="train", root=tmp_path / "empty", n_time_bins=2)


@pytest.mark.parametrize("gz, gz_labels", [(True, True), (False, False), (False, True)])
def test_nfashion_items_and_official_split(tmp_path, gz, gz_labels):
    root = write_fashion(tmp_path / "fm", gz=gz, gz_labels=gz_labels)
    train = create_dataset("nfashion", split="train", root=root, n_time_bins=4)
    test = create_dataset("nfashion", split="test", root=root, n_time_bins=4)
    assert (len(train), len(test)) == (40, 20)
    assert train.classes == nfashion_module.CLASSES and train.num_classes == 10
    frames, label = test[3]
    assert tuple(frames.shape) == (4, 2, SIDE + 6, SIDE + 6) and label == 3
    assert frames.sum() > 20                                   # the block moved: events in every sample
    assert all(test.frames[i].sum() > 0 for i in range(len(test)))
    static = create_dataset("fashion_static", split="test", root=root, n_time_bins=3)
    images, _ = fake_images(20, 1)
    x, y = static[3]
    assert tuple(x.shape) == (3, 1, SIDE, SIDE) and y == 3 and static.in_channels == 1
    np.testing.assert_allclose(x.numpy(), np.broadcast_to(images[3] / 255, (3, 1, SIDE, SIDE)), rtol=1e-6)


def test_cache_gives_the_frames_computed_in_memory(tmp_path):
    root = write_fashion(tmp_path / "fm", gz=True)
    memory = create_dataset("nfashion", split="train", root=root, n_time_bins=4, binary=False)
    built = create_dataset("nfashion", split="train", root=root, n_time_bins=4, binary=False,
                           cache_dir=tmp_path / "cache")
    again = create_dataset("nfashion", split="train", root=root, n_time_bins=4, binary=False,
                           cache_dir=tmp_path / "cache")
    assert not built.from_cache and again.from_cache
    np.testing.assert_array_equal(np.asarray(built.frames), memory.frames)
    np.testing.assert_array_equal(np.asarray(again.frames), memory.frames)
    np.testing.assert_array_equal(again.labels, memory.labels)


def test_chunks_and_splits_share_one_sensor_but_not_the_noise(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "CHUNK_IMAGES", 10)
    root = write_fashion(tmp_path / "fm", gz=False, n_train=20)
    # Still images and hot pixels only: every event comes from a hot pixel of the one sensor.
    hot = {"saccade": (0.0, 0.0), "background_rate_hz": 0.0, "hot_pixel_fraction": 0.05, "hot_pixel_rate_hz": 300.0}
    made = [create_dataset("images_to_events", split=split, root=root, n_time_bins=1, binary=False, emulator=hot)
            for split in ("train", "test")]
    frames = np.concatenate([np.asarray(d.frames) for d in made])               # [40, 1, 2, 16, 16]
    active = frames.sum(axis=(1, 2)) > 0                                        # [40, 16, 16]
    assert active.any(axis=(1, 2)).all()
    assert (active == active.any(axis=0)).mean() > 0.99        # the same pixels in both chunks and both splits
    assert not np.array_equal(frames[0], frames[10]) and not np.array_equal(frames[0], frames[20])


def test_train_subset_is_stratified_and_seeded(tmp_path):
    root = write_fashion(tmp_path / "fm", gz=True, n_train=100)
    a = create_dataset("fashion_static", split="train", root=root, n_time_bins=1, train_subset=30, seed=0)
    b = create_dataset("fashion_static", split="train", root=root, n_time_bins=1, train_subset=30, seed=0)
    c = create_dataset("fashion_static", split="train", root=root, n_time_bins=1, train_subset=30, seed=1)
    assert len(a) == 30 and np.bincount(a.labels).tolist() == [3] * 10
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    events = create_dataset("nfashion", split="train", root=root, n_time_bins=2, train_subset=30, seed=0)
    np.testing.assert_array_equal(events.labels, a.labels)
    assert len(create_dataset("fashion_static", split="test", root=root, n_time_bins=1, train_subset=30)) == 20
    with pytest.raises(ValueError, match=r"fashion_static: train_subset is 101; expected an int in 1..100"):
        create_dataset("fashion_static", split="train", root=root, n_time_bins=1, train_subset=101)


def test_images_to_events_from_npy_npz_and_idx_agree(tmp_path):
    images, labels = fake_images(12, 3)
    (tmp_path / "npy").mkdir()
    (tmp_path / "npz").mkdir()
    for split in ("train", "test"):
        np.save(tmp_path / "npy" / f"{split}_images.npy", images)
        np.save(tmp_path / "npy" / f"{split}_labels.npy", labels.astype(np.int64))
        np.savez(tmp_path / "npz" / f"{split}.npz", images=images, labels=labels)
    write_fashion(tmp_path / "idx", gz=False)
    write_idx(tmp_path / "idx" / "t10k-images-idx3-ubyte", images)
    write_idx(tmp_path / "idx" / "t10k-labels-idx1-ubyte", labels)
    (tmp_path / "npy" / "classes.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n")
    made = {form: create_dataset("images_to_events", split="test", root=tmp_path / form, n_time_bins=3)
            for form in ("npy", "npz", "idx")}
    assert made["npy"].classes[9] == "c9" and made["npz"].classes == tuple(str(i) for i in range(10))
    for form in ("npz", "idx"):
        np.testing.assert_array_equal(made[form].frames, made["npy"].frames)
    # The emulator can be set per data set; without noise and motion there are no events at all.
    still = create_dataset("images_to_events", split="test", root=tmp_path / "npy", n_time_bins=3,
                           emulator={"saccade": (0.0, 0.0), "background_rate_hz": 0.0, "hot_pixel_fraction": 0.0},
                           binary=False)
    assert still.frames.sum() == 0
    with pytest.raises(ValueError, match=r"images_to_events: emulator option\(s\) \['gain'\] unknown"):
        create_dataset("images_to_events", split="test", root=tmp_path / "npy", n_time_bins=3, emulator={"gain": 2})


def test_images_static_float_images_and_errors(tmp_path):
    images = np.linspace(0, 1, 2 * 5 * 6, dtype=np.float64).reshape(2, 5, 6)
    np.savez(tmp_path / "train.npz", images=images, labels=np.array([0, 2]))
    ds = create_dataset("images_static", split="train", root=tmp_path, n_time_bins=2)
    assert ds.classes == ("0", "1", "2") and ds.input_size == (5, 6)
    np.testing.assert_allclose(ds[1][0][1, 0].numpy(), images[1], rtol=1e-6)
    with pytest.raises(FileNotFoundError, match=r"images_static: no test images in .*; expected per split"):
        create_dataset("images_static", split="test", root=tmp_path, n_time_bins=2)
    np.savez(tmp_path / "test.npz", images=images * 2, labels=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"test.npz: images are float64; expected uint8, or float in \[0, 1\]"):
        create_dataset("images_static", split="test", root=tmp_path, n_time_bins=2)
    np.savez(tmp_path / "test.npz", images=images, labels=np.array([0]))
    with pytest.raises(ValueError, match=r"test.npz: labels int64 of shape \(1,\); expected 2 integers"):
        create_dataset("images_static", split="test", root=tmp_path, n_time_bins=2)
    with pytest.raises(ValueError, match=r"images_static needs root"):
        create_dataset("images_static", split="test", n_time_bins=2)


@pytest.mark.parametrize("name", ["ltsnn.data.simulate", "ltsnn.data.datasets.idx", "ltsnn.data.datasets.images"])
def test_docstring_examples_run(name):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
