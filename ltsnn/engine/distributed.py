"""Several processes training one run: torchrun's environment, batch shards, and combining results.

``torchrun --nproc_per_node N -m ltsnn train ...`` starts N processes with ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` set; :func:`from_environment` joins them into one process group (gloo on the CPU, NCCL on
CUDA). The data order is the one-process order, cut into shards:

- every epoch has the same *global* batches as a one-process run with the same ``batch_size`` (the batch
  size is the global one), from the same shuffle seeded by (seed, epoch): :func:`global_batches`;
- rank r trains on every W-th sample of each global batch (:func:`shard_batches`), so the shards are
  disjoint and their union is the epoch, every sample once;
- each rank's loss is weighted by its share of the global batch (``n_local · W / n_global``), so that
  DistributedDataParallel's mean of the ranks' gradients is the gradient of the global batch's mean
  loss even when the last batch does not split evenly. A rank left without a sample in a batch smaller
  than W runs one sample of it with weight 0, so that every rank takes part in every step.

With synchronised batch norm (:func:`ltsnn.layers.sync_norm.convert_sync_batchnorm`) the trained weights
then equal a one-process run's up to the order of floating-point sums.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

INDEX_LOADER_WORKERS = 0


@dataclass(frozen=True)
class Distributed:
    """Where this process stands among the processes of a run (rank 0 of 1 when there is only one)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes the run folder and prints."""
        return self.rank == 0

    def all_gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


SINGLE = Distributed()


def from_environment(device: str) -> Distributed:
    """The torchrun environment of this process, with the process group initialised (once); one process
    (:data:`SINGLE`) when ``WORLD_SIZE`` is unset or 1.

    Raises:
        ValueError: ``device`` names one CUDA device while torchrun gives each rank its own (use
            ``train.device=cuda`` or ``auto``: rank r then takes ``cuda:LOCAL_RANK``).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Distributed(rank=rank, world_size=world, local_rank=local_rank)


def rank_device(device: str, ctx: Distributed) -> str:
    """The device of this rank: ``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun; others stay as they are."""
    if ctx.enabled and device in ("cuda", "cuda:0") and torch.cuda.is_available():
        return f"cuda:{ctx.local_rank}"
    return device


class _Indices(Dataset):
    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def global_batches(n: int, *, batch_size: int, seed: int) -> list[list[int]]:
    """The sample indices of each batch of an epoch of ``n`` samples, exactly as a one-process
    ``DataLoader(shuffle=True, generator=torch.Generator().manual_seed(seed))`` draws them (the loader
    takes one number from its generator before shuffling, so the same loader is asked here).

    Example:
        >>> [len(b) for b in global_batches(10, batch_size=4, seed=0)]
        [4, 4, 2]
        >>> sorted(i for b in global_batches(10, batch_size=4, seed=0) for i in b) == list(range(10))
        True
    """
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(_Indices(n), batch_size=batch_size, shuffle=True, generator=g,
                        num_workers=INDEX_LOADER_WORKERS)
    return [batch.tolist() for batch in loader]


def shard_batches(batches: Sequence[Sequence[int]], *, rank: int, world_size: int
                  ) -> list[tuple[list[int], float]]:
    """Rank ``rank``'s part of each global batch, with its loss weight ``n_local · W / n_global``.

    A rank that would get no sample (a last batch smaller than ``world_size``) gets the batch's first
    sample with weight 0.

    Example:
        >>> shard_batches([[5, 3, 8, 1], [7, 2, 0]], rank=1, world_size=2)
        [([3, 1], 1.0), ([2], 0.6666666666666666)]
        >>> shard_batches([[4]], rank=1, world_size=2)
        [([4], 0.0)]
    """
    shards = []
    for batch in batches:
        mine = list(batch[rank::world_size])
        if mine:
            shards.append((mine, len(mine) * world_size / len(batch)))
        else:
            shards.append(([batch[0]], 0.0))
    return shards
