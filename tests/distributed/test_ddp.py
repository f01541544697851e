"""Training on several processes (torchrun, DDP on gloo, CPU) equals training on one (issue 12).

The runs use ``ddp_driver.py``: the tiny test data set in float64, three epochs of batches of 15 (48
samples: 15, 15, 15, 3, so the last batch splits 2 / 1 and the loss weighting matters), synchronised
batch norm. Tolerance: 1e-7 absolute on every weight, threshold and buffer. The two runs add the
same numbers in another order (each rank's sum, then the all-reduce), which changes float64 results in
the 16th digit; Adam divides each update by sqrt(v) + 1e-8, which magnifies those differences where a
gradient is near zero, to ~1e-9 after three epochs here. A spike flip (a real difference) would show
as 1e-3 or more.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ltsnn.engine import load_checkpoint
from ltsnn.engine.distributed import Distributed, global_batches, shard_batches
from ltsnn.engine.loop import EpochBatches, epoch_seed, train_loader

DRIVER = Path(__file__).with_name("ddp_driver.py")
ARGS = ["data.name=tiny64", "data.n_time_bins=3", "data.batch_size=15", "train.progress=never", "train.epochs=3",
        "optim.lr=5e-3", "train.sync_batchnorm=true"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def run(args, *, procs=1, env=None) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
    cmd = [*(launcher if procs > 1 else [sys.executable]), str(DRIVER), *args]
    return subprocess.run(cmd, env={**ENV, **(env or {})}, capture_output=True, text=True, timeout=300)


def only_run(out: Path) -> Path:
    runs = list(out.iterdir())
    assert len(runs) == 1, runs                                 # one run folder, written by rank 0 alone
    return runs[0]


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    one = run([*ARGS, f"train.out_dir={out / 'one'}"])
    two = run([*ARGS, f"train.out_dir={out / 'two'}"], procs=2)
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    return out, two


@pytest.mark.slow
def test_two_processes_train_the_weights_and_thresholds_of_one(runs):
    out, two = runs
    a = load_checkpoint(only_run(out / "one") / "checkpoints" / "last.pt")
    b = load_checkpoint(only_run(out / "two") / "checkpoints" / "last.pt")
    assert max_difference(a["model"], b["model"]) < 1e-7
    thresholds = [k for k in a["model"] if k.endswith("v_th")]
    assert thresholds and any(float(a["model"][k].double().sub(1).abs().max()) > 1e-3 for k in thresholds)  # learned
    for ra, rb in zip(a["history"], b["history"]):             # the test counts all 24 samples, once
        assert ra["test_acc"] == rb["test_acc"] and ra["train_acc"] == rb["train_acc"]
        assert abs(ra["train_loss"] - rb["train_loss"]) < 1e-9
    assert two.stdout.count("epoch 1/3") == 1                   # rank 0 alone logs


@pytest.mark.slow
def test_a_killed_rank_resumes_to_the_uninterrupted_result(runs, tmp_path):
    out, _ = runs
    killed = run([*ARGS, f"train.out_dir={tmp_path}", "train.name=run"], procs=2, env={"LTSNN_TEST_KILL": "1:2"})
    assert killed.returncode != 0
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["epoch"] == 1
    resumed = run(["--resume", str(tmp_path / "run")], procs=2)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming after epoch 1" in resumed.stdout
    a = load_checkpoint(only_run(out / "two") / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert max_difference(a["model"], b["model"]) == 0.0        # same processes, same sums: bit-identical
    assert [r["test_acc"] for r in a["history"]] == [r["test_acc"] for r in b["history"]]


@pytest.mark.slow
def test_lmht_whose_matrix_is_sized_by_the_first_input_trains_on_two_processes(tmp_path):
    # LM-HT's T-GIM M takes its size from the first input; DDP must see it sized (build.materialize).
    args = [*ARGS[:4], "train.epochs=1", "optim.lr=5e-3", "train.sync_batchnorm=true", "model.neuron=lmht",
            "model.threshold_grad=fixed"]
    one = run([*args, f"train.out_dir={tmp_path / 'one'}"])
    two = run([*args, f"train.out_dir={tmp_path / 'two'}"], procs=2)
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-2000:]
    a = load_checkpoint(only_run(tmp_path / "one") / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(only_run(tmp_path / "two") / "checkpoints" / "last.pt")["model"]
    assert any(k.endswith(".M") and v.numel() for k, v in a.items())
    assert max_difference(a, b) < 1e-7


@pytest.mark.parametrize("n, batch, world", [(48, 15, 2), (10, 4, 3), (7, 16, 2), (5, 2, 4)])
def test_shards_are_disjoint_and_their_union_is_the_epoch(n, batch, world):
    batches = global_batches(n, batch_size=batch, seed=epoch_seed(3, 1))
    shards = [shard_batches(batches, rank=r, world_size=world) for r in range(world)]
    for step, batch_indices in enumerate(batches):
        parts = [shards[r][step] for r in range(world)]          # (indices, loss weight) of each rank
        assert sorted(i for indices, w in parts if w > 0 for i in indices) == sorted(batch_indices)
        for indices, w in parts:
            # DDP averages the ranks' gradients: (1/W) Σ_r w_r · mean_r is the global batch's mean when
            # w_r = W · n_r / n; a rank without a sample of its own runs a stand-in at weight 0.
            assert w == 0 or w == pytest.approx(world * len(indices) / len(batch_indices))
    assert sorted(i for b in batches for i in b) == list(range(n))


def test_global_batches_are_the_one_process_loader_order():
    class Index(torch.utils.data.Dataset):
        def __len__(self):
            return 37

        def __getitem__(self, i):
            return i

    for workers in (0, 2):
        loader = train_loader(Index(), batch_size=8, num_workers=workers, seed=5, epoch=2)
        assert [b.tolist() for b in loader] == global_batches(37, batch_size=8, seed=epoch_seed(5, 2))
    sampler = EpochBatches(37, batch_size=8, seed=5, dist=Distributed(rank=1, world_size=2))
    sampler.set_epoch(2)
    batches = global_batches(37, batch_size=8, seed=epoch_seed(5, 2))
    assert list(sampler) == [[(2, i) for i in b[1::2]] for b in batches]
    assert sampler.weights == [pytest.approx(2 * len(b[1::2]) / len(b)) for b in batches]
