"""Batch norm whose batch statistics are those of the global batch, across the processes of a run.

torch's ``nn.SyncBatchNorm`` runs on GPUs only; this one sums (count, Σx, Σx²) per channel over the
ranks with a differentiable all-reduce, on any device and backend (gloo on the CPU, NCCL on CUDA), so
a run on W processes normalises exactly as one process with the whole batch would, and its gradients
flow through the global statistics too. Outside a process group it is a plain batch norm.
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce

# torch 2.13 marks this all_reduce deprecated in favour of the functional collectives, which have no
# autograd; this one's backward (the all-reduce of the gradient) is the point, so it stays until they do.
warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.all_reduce is deprecated",
                        category=FutureWarning)


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over dim 1 of any input ``[N, C, ...]`` with statistics reduced over all ranks.

    Example:
        >>> import torch
        >>> bn = SyncBatchNorm(3)
        >>> x = torch.randn(8, 3, 4, 4)
        >>> torch.allclose(bn(x), torch.nn.BatchNorm2d(3)(x), atol=1e-6)    # no process group: plain BN
        True
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"SyncBatchNorm expects input [N, C, ...], got shape {tuple(input.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [d for d in range(x.dim()) if d != 1]
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x      # statistics in >= fp32
        count = torch.full((1,), x.numel() / x.shape[1], dtype=xf.dtype, device=x.device)
        stats = torch.cat([count, xf.sum(dims), (xf * xf).sum(dims)])
        stats = all_reduce(stats)                                # differentiable: the gradient sees every rank
        c = x.shape[1]
        n, mean = stats[0], stats[1:1 + c] / stats[0]
        var = (stats[1 + c:] / n - mean * mean).clamp_min(0)    # biased, as batch norm normalises with
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach().to(self.running_mean.dtype), alpha=m)
                unbiased = var.detach() * n / (n - 1).clamp_min(1)
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every batch norm (1d, 2d, tdBN, ...) replaced by a :class:`SyncBatchNorm` holding the
    same parameters and running statistics (the state dict keys stay the same); returns the module.

    Example:
        >>> from torch import nn
        >>> net = convert_sync_batchnorm(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))
        >>> type(net[1]).__name__, list(net.state_dict()) == list(nn.Sequential(nn.Conv2d(1, 2, 3),
        ...                                                                     nn.BatchNorm2d(2)).state_dict())
        ('SyncBatchNorm', True)
    """
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, SyncBatchNorm):
            sync = SyncBatchNorm(child.num_features, eps=child.eps, momentum=child.momentum, affine=child.affine,
                                 track_running_stats=child.track_running_stats)
            sync.load_state_dict(child.state_dict())
            sync.to(next(iter(child.state_dict().values())).device if child.state_dict() else "cpu")
            setattr(module, name, sync)
        else:
            convert_sync_batchnorm(child)
    return module
