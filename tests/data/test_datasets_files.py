"""The file-based data sets on small fake folders in their distributed layouts.

Each fake recording is written in its format from the published layout (independently of the
readers) and says who it is through its events: file ``i`` of class ``c`` holds ``i + 1`` events at
one pixel chosen from (c, i), so the frames of a sample name its file. That checks file order,
labels and split rules; the decoding itself is the readers' tests' business.
"""

import struct

import numpy as np
import pytest
import torch

from ltsnn.data import create_dataset, make_events, to_frames
from ltsnn.data.datasets import cifar10dvs as cifar_module
from ltsnn.data.datasets import ncaltech101 as caltech_module
from ltsnn.data.datasets.split import torch_random_split
from ltsnn.data.io import read_aedat

# ---------------------------------------------------------------------------------------------- writers


def identity_events(n: int, x: int, y: int, t0: int = 0) -> np.ndarray:
    """n events at pixel (x, y), 1 ms apart from t0, polarity alternating from OFF."""
    return make_events(t0 + np.arange(n) * 1000, np.full(n, x), np.full(n, y), np.arange(n) % 2)


def write_atis(path, events):
    """ATIS 40-bit records: x, y, p << 7 | t >> 16, t >> 8, t (big-endian fields)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = events["t"].astype(np.int64)
    records = np.stack([events["x"], events["y"], (events["p"].astype(np.int64) << 7) | (t >> 16), (t >> 8) & 0xFF,
                        t & 0xFF], axis=1).astype(np.uint8)
    path.write_bytes(records.tobytes())


def write_cifar10dvs(path, events):
    """AEDAT 2.0 as the CIFAR10-DVS files: '#' header, big-endian (uint32 address, uint32 t) records, with the
    data set's convention x = 127 - bits 8-14, y = 127 - bits 1-7, p = 1 - bit 0."""
    path.parent.mkdir(parents=True, exist_ok=True)
    address = ((127 - events["x"].astype(np.uint32)) << 8) | ((127 - events["y"].astype(np.uint32)) << 1) \
        | (1 - events["p"].astype(np.uint32))
    records = np.empty(len(events), dtype=[("a", ">u4"), ("t", ">u4")])
    records["a"], records["t"] = address, events["t"]
    path.write_bytes(b"#!AER-DAT2.0\r\n# This is a raw AE data file created by saveaerdat.m\r\n" + records.tobytes())


def write_aedat31(path, events):
    """AEDAT 3.1: text header to '#!END-HEADER', one polarity packet (28-byte header, then uint32 data with
    valid bit 0, polarity bit 1, y bits 2-16, x bits 17-31, and int32 timestamp)."""
    header = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-01-01\r\n#!END-HEADER\r\n"
    n = len(events)
    packet = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, n, n, n)
    data = np.empty(n, dtype=[("d", "<u4"), ("t", "<i4")])
    data["d"] = (events["x"].astype(np.uint32) << 17) | (events["y"].astype(np.uint32) << 2) \
        | (events["p"].astype(np.uint32) << 1) | 1
    data["t"] = events["t"]
    path.write_bytes(header + packet + data.tobytes())


def write_dat(path, events):
    """Prophesee DAT v2: '%' header, event type 0 and size 8, then (uint32 t, uint32 x | y << 14 | p << 28)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    records = np.empty(len(events), dtype=[("t", "<u4"), ("w", "<u4")])
    records["t"] = events["t"]
    records["w"] = events["x"].astype(np.uint32) | (events["y"].astype(np.uint32) << 14) \
        | (events["p"].astype(np.uint32) << 28)
    path.write_bytes(b"% Data file containing ATIS TD events.\n% Version 2\n% Date 2017-10-31 11:29:21\n"
                     + bytes([0, 8]) + records.tobytes())


def identity(frames: torch.Tensor) -> tuple[int, int, int]:
    """(x, y, event count) of a sample whose events all sit at one pixel."""
    per_pixel = frames.sum(dim=(0, 1))                                     # [H, W]
    y, x = divmod(int(per_pixel.argmax()), per_pixel.shape[1])
    return x, y, int(per_pixel.sum())


def identities(dataset) -> list[tuple[int, int, int]]:
    return [identity(dataset[i][0]) for i in range(len(dataset))]


# ---------------------------------------------------------------------------------------------- CIFAR10-DVS

PER_CLASS = 20                                   # numbered 0..19: "10".."19" sort before "2" as text


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar10dvs")
    for c, name in enumerate(cifar_module.CLASSES):
        for i in range(PER_CLASS):
            write_cifar10dvs(root / name / f"cifar10_{name}_{i}.aedat", identity_events(i + 1, x=c, y=i))
    return root


def test_cifar10dvs_first_900_rule(cifar_root):
    train = create_dataset("cifar10dvs", split="train", root=cifar_root, n_time_bins=2, binary=False)
    test = create_dataset("cifar10dvs", split="test", root=cifar_root, n_time_bins=2, binary=False)
    assert (len(train), len(test)) == (180, 20)
    # Per class, files 0..17 (by number, not by name) train and 18, 19 test: the scaled-down first 900 / last 100.
    assert identities(test) == [(c, i, i + 1) for c in range(10) for i in (18, 19)]
    assert identities(train) == [(c, i, i + 1) for c in range(10) for i in range(18)]
    assert test.labels.tolist() == [c for c in range(10) for _ in (18, 19)]
    assert (train.classes, train.num_classes, train.input_size, train.in_channels) == \
        (cifar_module.CLASSES, 10, (128, 128), 2)


def test_cifar10dvs_ltsnn_random_rule(cifar_root):
    train = create_dataset("cifar10dvs", split="train", root=cifar_root, n_time_bins=2, binary=False,
                           split_rule="ltsnn_random")
    test = create_dataset("cifar10dvs", split="test", root=cifar_root, n_time_bins=2, binary=False,
                          split_rule="ltsnn_random")
    # torch.utils.data.random_split over samples ordered by class, then file number, generator seed 42.
    all_samples = [(c, i, i + 1) for c in range(10) for i in range(PER_CLASS)]
    subsets = torch.utils.data.random_split(all_samples, [180, 20], generator=torch.Generator().manual_seed(42))
    assert identities(train) == list(subsets[0]) and identities(test) == list(subsets[1])
    assert [label for label in test.labels] == [c for c, _, _ in subsets[1]]


def test_cifar10dvs_frames_are_the_readers(cifar_root):
    from ltsnn.data.io import read_cifar10dvs
    test = create_dataset("cifar10dvs", split="test", root=cifar_root, n_time_bins=3, bin_by="count", binary=False)
    events = read_cifar10dvs(cifar_root / "truck" / "cifar10_truck_19.aedat").events
    np.testing.assert_array_equal(test[19][0].numpy(), to_frames(events, sensor_size=(128, 128), n_time_bins=3,
                                                                 bin_by="count", binary=False))


def test_ltsnn_colour_representation(cifar_root, tmp_path):
    """The LT-SNN colour preset as a data set's frames, through the cache (uint8, values 0..255)."""
    from ltsnn.data.functional.colour import ltsnn_colour_frames
    from ltsnn.data.io import read_cifar10dvs
    kw = dict(split="test", root=cifar_root, n_time_bins=4, bin_by="ltsnn", representation="ltsnn_colour",
              size=[48, 48], cache_dir=tmp_path)
    test = create_dataset("cifar10dvs", **kw)
    assert test.frames.dtype == np.uint8 and test.input_size == (48, 48) and test.in_channels == 3
    events = read_cifar10dvs(cifar_root / "ship" / "cifar10_ship_18.aedat").events
    expected = ltsnn_colour_frames(events, sensor_size=(128, 128), n_time_bins=4, binning="ltsnn", size=(48, 48))
    np.testing.assert_array_equal(test[16][0].numpy(), expected)
    assert create_dataset("cifar10dvs", **kw).from_cache
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['binary'\]"):
        create_dataset("cifar10dvs", **{**kw, "binary": False})
    with pytest.raises(ValueError, match=r"unknown representation 'rgb'; expected one of "
                                         r"\['frames', 'ltsnn_colour', 'voxel_grid'\]"):
        create_dataset("cifar10dvs", **{**kw, "representation": "rgb"})


def test_cifar10dvs_errors(cifar_root, tmp_path):
    with pytest.raises(ValueError, match=r"unknown split_rule 'random'; expected one of \['first_900', 'ltsnn_rand"):
        create_dataset("cifar10dvs", split="train", root=cifar_root, n_time_bins=2, split_rule="random")
    with pytest.raises(ValueError, match=r"cifar10dvs needs root.*root/<class>/cifar10_<class>_<i>\.aedat"):
        create_dataset("cifar10dvs", split="train", n_time_bins=2)
    (tmp_path / "airplane").mkdir()
    write_cifar10dvs(tmp_path / "airplane" / "cifar10_airplane_0.aedat", identity_events(1, 0, 0))
    with pytest.raises(FileNotFoundError, match=r"folder .*automobile not found; expected root/<class>/"):
        create_dataset("cifar10dvs", split="train", root=tmp_path, n_time_bins=2)
    write_cifar10dvs(tmp_path / "airplane" / "plane_1.aedat", identity_events(1, 0, 0))
    with pytest.raises(ValueError, match=r"plane_1\.aedat is not named cifar10_airplane_<i>\.aedat"):
        create_dataset("cifar10dvs", split="train", root=tmp_path, n_time_bins=2)


# ---------------------------------------------------------------------------------------------- DVS Gesture

def write_gesture_folder(root, trials):
    """DvsGesture/ with the two trial lists; trials: split -> {name: [(class, start, end), ...]}.

    Recording r holds, per gesture g, events at pixel (r, g): one just before start, (k + 1) inside
    [start, end) for the k-th gesture, one exactly at end (which belongs to no window).
    """
    folder = root / "DvsGesture"
    folder.mkdir(parents=True)
    r = 0
    for split, recordings in trials.items():
        (folder / f"trials_to_{split}.txt").write_text("".join(f"{name}.aedat\n" for name in recordings) + "\n")
        for name, gestures in recordings.items():
            parts, lines = [], ["class,startTime_usec,endTime_usec"]
            for g, (label, start, end) in enumerate(gestures):
                inside = identity_events(g + 1, x=r, y=g, t0=start)
                edges = make_events([start - 1, end], [r, r], [g, g], [1, 1])
                parts += [edges[:1], inside, edges[1:]]
                lines.append(f"{label},{start},{end}")
            write_aedat31(folder / f"{name}.aedat", np.concatenate(parts))
            (folder / f"{name}_labels.csv").write_text("\r\n".join(lines) + "\r\n")
            r += 1
    return root


GESTURES = {"train": {"user01_fluorescent": [(1, 10_000, 20_000), (11, 30_000, 40_000)],
                      "user02_lab": [(3, 5_000, 9_000), (3, 12_000, 15_000), (10, 20_000, 25_000)]},
            "test": {"user24_led": [(2, 1_000, 8_000)]}}


def test_dvs_gesture_samples_are_label_windows(tmp_path):
    root = write_gesture_folder(tmp_path, GESTURES)
    train = create_dataset("dvs_gesture", split="train", root=root, n_time_bins=2, binary=False)
    test = create_dataset("dvs_gesture", split="test", root=root, n_time_bins=2, binary=False)
    assert (len(train), len(test)) == (5, 1)
    assert train.labels.tolist() == [0, 10, 2, 2, 9] and test.labels.tolist() == [1]
    # start is inside a window and end is not: gesture g of recording r has exactly g + 1 events at (r, g).
    assert identities(train) == [(0, 0, 1), (0, 1, 2), (1, 0, 1), (1, 1, 2), (1, 2, 3)]
    assert identities(test) == [(2, 0, 1)]
    assert (train.num_classes, train.input_size, train.classes[10]) == (11, (128, 128), "other_gestures")
    # The fake file decodes as written (an independent check of the packet layout above).
    events = read_aedat(root / "DvsGesture" / "user24_led.aedat").events
    assert events["t"].tolist() == [999, 1000, 8000] and events["x"].tolist() == [2, 2, 2]


def test_dvs_gesture_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"folder .*DvsGesture not found; expected root/DvsGesture/"):
        create_dataset("dvs_gesture", split="train", root=tmp_path, n_time_bins=2)
    root = write_gesture_folder(tmp_path / "a", GESTURES)
    (root / "DvsGesture" / "user02_lab_labels.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"user02_lab_labels\.csv not found; expected root/DvsGesture/"):
        create_dataset("dvs_gesture", split="train", root=root, n_time_bins=2)
    (root / "DvsGesture" / "user02_lab_labels.csv").write_text("class,startTime_usec,endTime_usec\n12,5,9\n")
    with pytest.raises(ValueError, match=r"user02_lab_labels\.csv line 2 is '12,5,9'; expected a class in 1\.\.11"):
        create_dataset("dvs_gesture", split="train", root=root, n_time_bins=2)
    (root / "DvsGesture" / "trials_to_test.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"trials_to_test\.txt not found"):
        create_dataset("dvs_gesture", split="test", root=root, n_time_bins=2)


# ---------------------------------------------------------------------------------------------- N-MNIST

def test_nmnist_official_split(tmp_path):
    for folder, n in (("Train", 3), ("Test", 2)):
        for d in range(10):
            for i in range(n):
                events = identity_events(i + 1, x=d, y=i + (folder == "Test") * 10)
                write_atis(tmp_path / folder / str(d) / f"{i:05d}.bin", events)
    train = create_dataset("nmnist", split="train", root=tmp_path, n_time_bins=2, binary=False)
    test = create_dataset("nmnist", split="test", root=tmp_path, n_time_bins=2, binary=False)
    assert identities(train) == [(d, i, i + 1) for d in range(10) for i in range(3)]
    assert identities(test) == [(d, 10 + i, i + 1) for d in range(10) for i in range(2)]
    assert train.labels.tolist() == [d for d in range(10) for _ in range(3)]
    assert train.input_size == (34, 34)
    (tmp_path / "Test" / "7" / "00000.bin").unlink()
    (tmp_path / "Test" / "7" / "00001.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"no \*\.bin files in .*Test/7; expected root/Train/<digit>/\*\.bin"):
        create_dataset("nmnist", split="test", root=tmp_path, n_time_bins=2)


# ---------------------------------------------------------------------------------------------- N-Caltech101

@pytest.fixture(scope="module")
def caltech_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ncaltech101")
    for c, name in enumerate(caltech_module.FOLDERS):
        for i in range(3 + (c % 2)):                                       # 3 or 4 recordings per class
            write_atis(root / "Caltech101" / name / f"image_{i + 1:04d}.bin", identity_events(i + 1, x=c, y=i))
    (root / "Caltech101_annotations").mkdir()                              # distributed beside it, not read
    return root


def test_ncaltech101_stratified_split(caltech_root):
    train = create_dataset("ncaltech101", split="train", root=caltech_root, n_time_bins=2, binary=False)
    test = create_dataset("ncaltech101", split="test", root=caltech_root, n_time_bins=2, binary=False)
    counts = np.array([3 + (c % 2) for c in range(101)])
    assert len(train) + len(test) == counts.sum()
    np.testing.assert_array_equal(np.bincount(test.labels, minlength=101), np.round(counts * 0.2))
    everything = [(c, i, i + 1) for c in range(101) for i in range(counts[c])]
    assert sorted(identities(train) + identities(test)) == everything
    assert all(x == label for (x, _, _), label in zip(identities(test), test.labels))
    assert train.classes[:4] == ("BACKGROUND_Google", "Faces_easy", "Leopards", "Motorbikes")
    assert (train.num_classes, train.input_size) == (101, (180, 240))
    other = create_dataset("ncaltech101", split="test", root=caltech_root, n_time_bins=2, binary=False, seed=1)
    assert identities(other) != identities(test)


def test_ncaltech101_without_background_and_ltsnn_rule(caltech_root):
    test = create_dataset("ncaltech101", split="test", root=caltech_root, n_time_bins=2, binary=False,
                          background=False)
    assert test.num_classes == 100 and "BACKGROUND_Google" not in test.classes
    assert all(x - 1 == label for (x, _, _), label in zip(identities(test), test.labels))     # class 0 is gone
    ltsnn = create_dataset("ncaltech101", split="test", root=caltech_root, n_time_bins=2, binary=False,
                           split_rule="ltsnn_random")
    everything = [(c, i, i + 1) for c in range(101) for i in range(3 + (c % 2))]
    _, test_index = torch_random_split(len(everything), train_fraction=0.8, seed=42)
    assert identities(ltsnn) == [everything[i] for i in test_index]
    assert len(ltsnn) == len(everything) - int(0.8 * len(everything))


def test_ncaltech101_missing_class(tmp_path):
    for name in caltech_module.FOLDERS[:50]:
        write_atis(tmp_path / "Caltech101" / name / "image_0001.bin", identity_events(1, 0, 0))
    with pytest.raises(FileNotFoundError, match=rf"folder .*Caltech101/{caltech_module.FOLDERS[50]} not found; "
                                                r"expected root/Caltech101/<class>/image_<nnnn>\.bin"):
        create_dataset("ncaltech101", split="train", root=tmp_path, n_time_bins=2)


# ---------------------------------------------------------------------------------------------- N-Cars

def test_ncars_official_split(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for c, name in enumerate(("background", "cars")):
            for i in range(n):
                write_dat(tmp_path / f"n-cars_{split}" / name / f"obj_{i:06d}_td.dat",
                          identity_events(i + 1, x=c + 2 * (split == "test"), y=i))
    train = create_dataset("ncars", split="train", root=tmp_path, n_time_bins=2, binary=False)
    test = create_dataset("ncars", split="test", root=tmp_path, n_time_bins=2, binary=False)
    assert identities(train) == [(c, i, i + 1) for c in range(2) for i in range(3)]
    assert identities(test) == [(2 + c, i, i + 1) for c in range(2) for i in range(2)]
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1] and train.classes == ("background", "cars")
    assert train.input_size == (100, 120)
    with pytest.raises(FileNotFoundError, match=r"n-cars_test.*not found; expected root/n-cars_train/"):
        create_dataset("ncars", split="test", root=tmp_path / "n-cars_train", n_time_bins=2)


def test_frame_options_pass_through(tmp_path):
    """to_frames options (here resize and merged polarities) reach the frames of a file-based data set."""
    for c, name in enumerate(("background", "cars")):
        write_dat(tmp_path / "n-cars_test" / name / "obj_000000_td.dat", identity_events(4, x=10 * c, y=5))
    test = create_dataset("ncars", split="test", root=tmp_path, n_time_bins=2, binary=False, size=[50, 60],
                          polarity_channels=1)
    frames, _ = test[1]
    assert frames.shape == (2, 1, 50, 60) and test.in_channels == 1 and test.input_size == (50, 60)
    assert float(frames.sum()) == pytest.approx(4 * (50 * 60) / (100 * 120))      # area resize keeps the mean
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\]; valid: \[.*'binary'.*\]"):
        create_dataset("ncars", split="test", root=tmp_path, n_time_bins=2, colour=True)
