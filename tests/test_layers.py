import math

import pytest
import torch
from torch import nn

from ltsnn.layers import SeqToBatch, TdBatchNorm2d, batchnorm_bt


def test_seq_to_batch_equals_per_step_application():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x_seq = torch.randn(4, 5, 2, 6, 6)
    y_seq = SeqToBatch(conv)(x_seq)
    assert y_seq.shape == (4, 5, 3, 6, 6)
    torch.testing.assert_close(y_seq, torch.stack([conv(x) for x in x_seq]))
    with pytest.raises(ValueError, match="T, B"):
        SeqToBatch(conv)(torch.randn(5, 2))


def test_bn_statistics_are_over_time_and_batch():
    bn = batchnorm_bt(2)
    x_seq = torch.randn(3, 4, 2, 5, 5) * torch.tensor([1.0, 3.0]).view(1, 1, 2, 1, 1) + 2.0
    y = SeqToBatch(bn)(x_seq)
    # Normalised jointly over (T, B, H, W) per channel.
    torch.testing.assert_close(y.mean(dim=(0, 1, 3, 4)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(dim=(0, 1, 3, 4), unbiased=False), torch.ones(2), atol=1e-3, rtol=0)


def test_tdbn_scales_to_alpha_vth():
    bn = TdBatchNorm2d(3, alpha=1 / math.sqrt(2), v_th=0.5)
    torch.testing.assert_close(bn.weight.detach(), torch.full((3,), 0.5 / math.sqrt(2)))
    bn.reset_parameters()
    torch.testing.assert_close(bn.weight.detach(), torch.full((3,), 0.5 / math.sqrt(2)))
    y = SeqToBatch(bn)(torch.randn(4, 8, 3, 4, 4) * 5)
    assert float(y.detach().std(unbiased=False)) == pytest.approx(0.5 / math.sqrt(2), rel=1e-2)
