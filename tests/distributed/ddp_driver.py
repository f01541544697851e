"""Run ``ltsnn train`` on the tiny test data set in float64, as one process or as a torchrun rank.

    python tests/distributed/ddp_driver.py train.out_dir=... [key=value ...] [--resume RUN]
    torchrun --standalone --nproc_per_node 2 tests/distributed/ddp_driver.py ...

float64 makes a spike flip from the different order of sums of two processes practically impossible, so
two processes and one can be compared to a tight tolerance. ``LTSNN_TEST_KILL=RANK:EPOCH`` kills that
rank (SIGKILL, as the OOM killer would) when it starts that (1-based) epoch.
"""

import os
import signal
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests/: tiny_run
from tiny_run import TinyEvents                                  # noqa: E402

from ltsnn.cli import main                                       # noqa: E402
from ltsnn.data import datasets as data_registry                 # noqa: E402
from ltsnn.engine import loop                                    # noqa: E402


def build(*, split, root, n_time_bins, bin_by, seed):
    data = TinyEvents(split=split, n_time_bins=n_time_bins, seed=seed, size=12)
    data.frames = data.frames.double()
    return data


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    data_registry.DATASETS["tiny64"] = build
    kill = os.environ.get("LTSNN_TEST_KILL")
    if kill:
        rank, epoch = map(int, kill.split(":"))
        real = loop.train_one_epoch

        def train_one_epoch(*args, **kw):
            if kw["epoch"] == epoch and int(os.environ.get("RANK", "0")) == rank:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kw)

        loop.train_one_epoch = train_one_epoch
    sys.exit(main(["train", *sys.argv[1:]]))
