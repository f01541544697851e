import numpy as np
import pytest
import torch

from ltsnn.data import create_dataset, list_datasets, make_events, to_frames
from ltsnn.data.datasets import ordered_split, stratified_split, torch_random_split
from ltsnn.data.datasets.ndigits import EMULATOR, EMULATOR_SEED, emulated_digits, load_digits


def test_registry_lists_and_rejects():
    assert {"ndigits", "nmnist_small"} <= set(list_datasets())
    assert all(list_datasets().values())
    with pytest.raises(ValueError, match=r"unknown data set 'mnist'; expected one of \[.*'ndigits'.*'nmnist_small'"):
        create_dataset("mnist", split="train", n_time_bins=4)
    with pytest.raises(ValueError, match=r"unknown split 'val'.*\['train', 'test'\]"):
        create_dataset("ndigits", split="val", n_time_bins=4)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['crop'\]; valid: \['binary', "):
        create_dataset("ndigits", split="train", n_time_bins=4, crop=3)


def test_stratified_split_properties_and_stability():
    _, labels = load_digits()
    train, test = stratified_split(labels, test_fraction=0.2, seed=0)
    assert (len(train), len(test)) == (1438, 359)
    assert test[:5].tolist() == [5, 9, 12, 14, 16]           # the documented split: pinned
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(labels)))
    per_class = np.bincount(labels)
    np.testing.assert_array_equal(np.bincount(labels[test], minlength=10), np.round(per_class * 0.2))
    again = stratified_split(labels, test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(again[1], test)
    assert not np.array_equal(stratified_split(labels, test_fraction=0.2, seed=1)[1], test)


def test_ordered_split_takes_the_first_of_each_class():
    labels = np.array([0] * 10 + [1] * 20 + [0] * 10)                 # class 0 comes in two runs
    train, test = ordered_split(labels, train_fraction=0.9)
    np.testing.assert_array_equal(test, [28, 29, 38, 39])             # the last 10% of each class, in order
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(40))
    with pytest.raises(ValueError, match=r"train_fraction is 1.0; expected a value in \(0, 1\)"):
        ordered_split(labels, train_fraction=1.0)


def test_torch_random_split_is_random_split():
    train, test = torch_random_split(103, train_fraction=0.9, seed=42)
    subsets = torch.utils.data.random_split(range(103), [92, 11], generator=torch.Generator().manual_seed(42))
    assert train.tolist() == list(subsets[0]) and test.tolist() == list(subsets[1])


def test_ndigits_events_are_pinned():
    events = emulated_digits(EMULATOR_SEED, **EMULATOR)
    assert len(events) == 1797
    counts = np.array([len(e) for e in events])
    # The built-in data set must be the same for everyone. A 1% tolerance allows for float32
    # log/exp that differ by an ulp between CPUs (SIMD paths), which can flip a rare crossing.
    assert counts[:5] == pytest.approx([4206, 3544, 3895, 3754, 3424], rel=0.01)
    assert counts.mean() == pytest.approx(3936.4, rel=0.01)
    assert emulated_digits(EMULATOR_SEED, **EMULATOR) is events            # memoised
    assert not events[0].flags.writeable


def test_ndigits_items():
    train = create_dataset("ndigits", split="train", n_time_bins=6)
    test = create_dataset("ndigits", split="test", n_time_bins=6, bin_by="count", binary=False)
    assert (len(train), len(test)) == (1438, 359)
    frames, label = train[0]
    assert frames.dtype == torch.float32 and frames.shape == (6, 2, 34, 34)
    assert isinstance(label, int) and label == 0
    assert set(frames.unique().tolist()) == {0.0, 1.0}
    assert (train.num_classes, train.in_channels, train.input_size) == (10, 2, (34, 34))
    assert train.classes == tuple("0123456789")
    # Test item 0 is digit 5 of the set; its count frames hold all of its events.
    _, labels = load_digits()
    events = emulated_digits(EMULATOR_SEED, **EMULATOR)[5]
    frames, label = test[0]
    assert label == labels[5]
    np.testing.assert_array_equal(frames.numpy(), to_frames(events, sensor_size=(34, 34), n_time_bins=6,
                                                            bin_by="count", binary=False))
    assert frames.sum() == len(events)


def write_fake_nmnist(folder, n_per_class=5, n_classes=2):
    """A small folder in the nmnist_small layout; sample i has i + 1 events at pixel (i, i)."""
    folder.mkdir()
    lines = ["#sample #class"]
    for i in range(n_per_class * n_classes):
        sample_id, label = i + 1, i % n_classes
        lines.append(f"{sample_id}\t{label}")
        k = i + 1
        events = make_events(np.arange(k) * 1000, np.full(k, i), np.full(k, i), np.arange(k) % 2)
        record = np.stack([events["x"], events["y"], (events["p"].astype(np.int64) << 7) | (events["t"] >> 16),
                           (events["t"] >> 8) & 0xFF, events["t"] & 0xFF], axis=1).astype(np.uint8)
        (folder / f"{sample_id}.bs2").write_bytes(record.tobytes())
    (folder / "train1K.txt").write_text("\n".join(lines) + "\n")


def test_nmnist_small_on_fake_files(tmp_path):
    write_fake_nmnist(tmp_path / "nm")
    train = create_dataset("nmnist_small", split="train", root=str(tmp_path / "nm"), n_time_bins=2, binary=False)
    test = create_dataset("nmnist_small", split="test", root=str(tmp_path / "nm"), n_time_bins=2, binary=False)
    assert (len(train), len(test)) == (8, 2)
    assert sorted(test[i][1] for i in range(2)) == [0, 1]                   # one of each class
    for dataset in (train, test):
        for frames, label in dataset:
            i = int(frames.sum()) - 1                                       # sample i has i + 1 events ...
            assert frames[:, :, i, i].sum() == i + 1                        # ... all at pixel (i, i)
            assert label == i % 2


def test_nmnist_small_errors(tmp_path):
    with pytest.raises(ValueError, match="nmnist_small needs root, the folder of its files; expected a folder with"):
        create_dataset("nmnist_small", split="train", n_time_bins=2)
    with pytest.raises(FileNotFoundError, match=r"folder .*absent not found; expected a folder with train1K"):
        create_dataset("nmnist_small", split="train", root=str(tmp_path / "absent"), n_time_bins=2)
    write_fake_nmnist(tmp_path / "nm")
    (tmp_path / "nm" / "3.bs2").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing, first .*3\.bs2; expected a folder"):
        create_dataset("nmnist_small", split="train", root=str(tmp_path / "nm"), n_time_bins=2)
    (tmp_path / "nm" / "train1K.txt").write_text("#sample #class\n1\tfive\n")
    with pytest.raises(ValueError, match=r"line 2 is '1\\tfive'"):
        create_dataset("nmnist_small", split="train", root=str(tmp_path / "nm"), n_time_bins=2)


def test_nmnist_small_real(fixtures_dir):
    root = str(fixtures_dir / "nmnist_small")
    train = create_dataset("nmnist_small", split="train", root=root, n_time_bins=5)
    test = create_dataset("nmnist_small", split="test", root=root, n_time_bins=5)
    assert (len(train), len(test)) == (801, 199)
    frames, label = test[0]                                                 # recording 6.bs2
    assert frames.shape == (5, 2, 34, 34) and frames.dtype == torch.float32
    labels = dict(line.split() for line in (fixtures_dir / "nmnist_small/train1K.txt").read_text().splitlines()[1:])
    assert label == int(labels["6"])
    all_labels = np.array([int(v) for v in labels.values()])
    np.testing.assert_array_equal(np.bincount(test.labels, minlength=10), np.round(np.bincount(all_labels) * 0.2))


def test_augmentation_after_the_frames_is_a_function_of_seed_epoch_index():
    from ltsnn.data.datasets import AugmentedFrames, FrameDataset
    from ltsnn.data.transforms import Compose, FramesCrop, FramesFlip, FramesRoll, rng_for
    frames = np.random.default_rng(0).integers(0, 2, size=(6, 3, 2, 8, 9)).astype(np.uint8)   # [N, T, C, H, W]
    base = FrameDataset(frames, np.arange(6) % 2, classes=("a", "b"))
    roll = Compose([FramesFlip(p=1.0), FramesRoll(max_shift=3)])
    augmented = AugmentedFrames(base, roll, seed=7)
    for index in (4, 1, 4):                                            # any order, any repeat: the same draws
        expected = roll(frames[index].astype(np.float32), rng_for(7, 0, index))
        x, label = augmented[index]
        np.testing.assert_array_equal(x.numpy(), expected)
        assert label == index % 2
    assert base[4][0].numpy().tolist() == frames[4].tolist()           # the frames themselves stay un-augmented
    epoch0 = [augmented[i][0] for i in range(6)]
    augmented.set_epoch(3)
    np.testing.assert_array_equal(augmented[2][0].numpy(), roll(frames[2].astype(np.float32), rng_for(7, 3, 2)))
    assert any(not torch.equal(a, augmented[i][0]) for i, a in enumerate(epoch0))
    cropped = AugmentedFrames(base, FramesCrop(size=(5, 6)), seed=0)
    assert cropped.input_size == (5, 6) and cropped[0][0].shape == (3, 2, 5, 6)
    assert (cropped.num_classes, cropped.classes, cropped.in_channels) == (2, ("a", "b"), 2)
