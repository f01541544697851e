"""Real-valued attention on a layer's input currents ``[T, B, C, H, W]``: TA, MA and ASA (methods §6.2, §6.3;
docs/methods/asa_trevsnn.md Part A).

Each block sits between a layer's BN and its spiking neuron, as in BICLab's code: it re-weights the currents of
all T steps at once (so it is non-causal) and hands them to the neuron, which never sees the attention. The
maths is a pure function per block; the module holds the weights and the options. Every block states its own
operations (``synaptic_ops``) for :class:`~ltsnn.engine.energy.SynapticOpsMonitor`: everything here runs on
real values, so all of it counts as multiply-accumulates (MACs).
"""

from __future__ import annotations

import torch
from torch import nn

ASA_COMBINES = ("xor", "and", "or")
ASA_SCORE_GRADS = ("none", "ste")
ASA_AVG_NORMS = ("lambda", "count")
MA_DIMS = ("t", "c", "s")


def _check_currents(x_seq: torch.Tensor, time_steps: int, where: str) -> None:
    if x_seq.dim() != 5:
        raise ValueError(f"{where} expects currents [T, B, C, H, W], got shape {tuple(x_seq.shape)}")
    if x_seq.shape[0] != time_steps:
        raise ValueError(f"{where} was built for time_steps={time_steps}, got T={x_seq.shape[0]}; "
                         f"expected the model option time_steps to equal the input's T")


def _hidden(n: int, reduction: int, where: str) -> int:
    if reduction < 1 or n // reduction < 1:
        raise ValueError(f"{where}: reduction={reduction}; expected 1 <= reduction <= {n} (the hidden layer "
                         f"{n}//reduction must not be empty)")
    return n // reduction


# ------------------------------------------------------------------------------------------------ TA


def temporal_attention_scores(x_seq: torch.Tensor, fc1: nn.Linear, fc2: nn.Linear) -> torch.Tensor:
    """TA-SNN's frame weights (methods §6.2): squeeze each step to its mean, excite over T.

    Args:
        x_seq: currents ``[T, B, C, H, W]``. fc1, fc2: the ``T -> T/r -> T`` layers (with bias).
    Returns:
        ``w`` ``[T, B]`` in (0, 1): w = σ(W2·ReLU(W1·z + b1) + b2), z_t = mean_{c,h,w} X_t.
    """
    z = x_seq.mean(dim=(2, 3, 4)).t()                              # [T, B] -> [B, T]
    return torch.sigmoid(fc2(torch.relu(fc1(z)))).t()              # [B, T] -> [T, B]


class TemporalAttention(nn.Module):
    """TA: multiply each time step's currents by a learned weight in (0, 1) (Yao et al., ICCV 2021).

    Args:
        time_steps: T (the excitation layers are ``T -> T // reduction -> T``).
        reduction: r.
        discard: ``"off"`` or ``"below_threshold"``: in eval mode, frames whose weight is below
            ``discard_threshold`` are dropped (weight 0, so the layers after see no input for that frame). The
            paper's d_th is not known (methods §11): 0.5 is our default. ``frames_seen`` / ``frames_dropped``
            count the (sample, step) frames of the eval forwards since construction or :meth:`reset_counts`.

    Example:
        >>> ta = TemporalAttention(4, reduction=2, discard="below_threshold", discard_threshold=0.5)
        >>> y = ta.eval()(torch.ones(4, 3, 2, 5, 5))
        >>> y.shape, ta.frames_seen, 0 <= ta.frames_dropped <= 12
        (torch.Size([4, 3, 2, 5, 5]), 12, True)
    """

    def __init__(self, time_steps: int, *, reduction: int = 1, discard: str = "off", discard_threshold: float = 0.5):
        super().__init__()
        if discard not in ("off", "below_threshold"):
            raise ValueError(f"TemporalAttention: discard={discard!r}; expected 'off' or 'below_threshold'")
        hidden = _hidden(time_steps, reduction, "TemporalAttention")
        self.time_steps, self.reduction = time_steps, reduction
        self.discard, self.discard_threshold = discard, float(discard_threshold)
        self.fc1, self.fc2 = nn.Linear(time_steps, hidden), nn.Linear(hidden, time_steps)
        self.reset_counts()

    def reset_counts(self) -> None:
        """Zero ``frames_seen`` and ``frames_dropped``."""
        self.frames_seen = self.frames_dropped = 0

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        _check_currents(x_seq, self.time_steps, "TemporalAttention")
        w = temporal_attention_scores(x_seq, self.fc1, self.fc2)   # [T, B]
        if self.discard == "below_threshold" and not self.training:
            keep = w >= self.discard_threshold
            self.frames_seen += keep.numel()
            self.frames_dropped += int((~keep).sum())
            w = w * keep
        return x_seq * w[:, :, None, None, None]

    def synaptic_ops(self, inputs: tuple, output: torch.Tensor) -> dict[str, float]:
        """MACs of one call: the squeeze (T·C·H·W per sample), the two layers, the re-weighting (T·C·H·W)."""
        t, b, c, h, w = inputs[0].shape
        hidden = self.fc1.out_features
        return {"mac": float(b * (2 * t * c * h * w + 2 * t * hidden)), "ac": 0.0}


# ------------------------------------------------------------------------------------------------ MA


def multi_dim_attention(x_seq: torch.Tensor, *, t_mlp: nn.Module | None, c_mlp: nn.Module | None,
                        s_conv: nn.Conv2d | None, output_relu: bool) -> torch.Tensor:
    """MA-SNN's attention (methods §6.3) on currents ``[T, B, C, H, W]``, in the order T → C → S.

    TA: a_T = σ(MLP_T(avg_{C,H,W} X) + MLP_T(max_{C,H,W} X)) per (t, b); CA: a_C likewise over (T, H, W) per
    (b, c); SA: a_S = σ(Conv([mean_{T,C} X; max_{T,C} X])) per (b, h, w). Each multiplies X before the next is
    computed; a missing part (None) is skipped. ``output_relu``: the code's ReLU on the result.
    """
    if t_mlp is not None:
        avg, mx = x_seq.mean(dim=(2, 3, 4)).t(), x_seq.amax(dim=(2, 3, 4)).t()          # [B, T]
        a = torch.sigmoid(t_mlp(avg) + t_mlp(mx)).t()                                   # [T, B]
        x_seq = x_seq * a[:, :, None, None, None]
    if c_mlp is not None:
        avg, mx = x_seq.mean(dim=(0, 3, 4)), x_seq.amax(dim=(0, 3, 4))                  # [B, C]
        a = torch.sigmoid(c_mlp(avg) + c_mlp(mx))                                       # [B, C]
        x_seq = x_seq * a[None, :, :, None, None]
    if s_conv is not None:
        d = torch.stack([x_seq.mean(dim=(0, 2)), x_seq.amax(dim=(0, 2))], dim=1)       # [B, 2, H, W]
        a = torch.sigmoid(s_conv(d))                                                    # [B, 1, H, W]
        x_seq = x_seq * a[None]
    return torch.relu(x_seq) if output_relu else x_seq


def _mlp(n: int, reduction: int, where: str) -> nn.Sequential:
    hidden = _hidden(n, reduction, where)
    return nn.Sequential(nn.Linear(n, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, n, bias=False))


class MultiDimAttention(nn.Module):
    """MA: temporal, channel and spatial attention on the currents, separately or together (Yao et al., TPAMI 2023).

    Args:
        time_steps: T. channels: C.
        dims: which attentions, a string over ``"t"``, ``"c"``, ``"s"`` (``"tcs"``: all three, applied T → C → S
            whatever the order written).
        t_ratio, c_ratio: the MLP reductions (the code's CIFAR10-DVS config: 2 and 8).
        kernel_size: the spatial conv (3 or 7). It has no bias (CBAM's; the spec does not say: a guess).
        output_relu: the ReLU the code applies to the result (default True, as the code).

    Example:
        >>> ma = MultiDimAttention(4, 8, dims="tcs", t_ratio=2, c_ratio=4)
        >>> ma(torch.randn(4, 2, 8, 6, 6)).shape
        torch.Size([4, 2, 8, 6, 6])
    """

    def __init__(self, time_steps: int, channels: int, *, dims: str = "tcs", t_ratio: int = 2, c_ratio: int = 8,
                 kernel_size: int = 3, output_relu: bool = True):
        super().__init__()
        if not dims or set(dims) - set(MA_DIMS) or len(set(dims)) != len(dims):
            raise ValueError(f"MultiDimAttention: dims={dims!r}; expected distinct letters of {''.join(MA_DIMS)}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"MultiDimAttention: kernel_size={kernel_size}; expected an odd size >= 1")
        self.time_steps, self.dims, self.output_relu = time_steps, "".join(d for d in MA_DIMS if d in dims), output_relu
        self.t_mlp = _mlp(time_steps, t_ratio, "MultiDimAttention t_ratio") if "t" in dims else None
        self.c_mlp = _mlp(channels, c_ratio, "MultiDimAttention c_ratio") if "c" in dims else None
        self.s_conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False) if "s" in dims else None

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        _check_currents(x_seq, self.time_steps, "MultiDimAttention")
        return multi_dim_attention(x_seq, t_mlp=self.t_mlp, c_mlp=self.c_mlp, s_conv=self.s_conv,
                                   output_relu=self.output_relu)

    def synaptic_ops(self, inputs: tuple, output: torch.Tensor) -> dict[str, float]:
        """MACs of one call: per part, the two poolings and the gating (3·T·C·H·W) and its MLP or conv."""
        t, b, c, h, w = inputs[0].shape
        per_sample = 0
        for mlp in (self.t_mlp, self.c_mlp):
            if mlp is not None:
                per_sample += 3 * t * c * h * w + 2 * 2 * mlp[0].in_features * mlp[0].out_features
        if self.s_conv is not None:
            per_sample += 3 * t * c * h * w + 2 * self.s_conv.kernel_size[0] ** 2 * h * w
        return {"mac": float(b * per_sample), "ac": 0.0}


# ------------------------------------------------------------------------------------------------ ASA


def _top_mask(score: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """1 where an entry is among the ``k`` largest along ``dim``, else 0."""
    mask = torch.zeros_like(score)
    if k > 0:
        mask.scatter_(dim, score.topk(k, dim=dim).indices, 1.0)
    return mask


def asa_importance_mask(score: torch.Tensor, *, split: float, combine: str, batch_union: bool) -> torch.Tensor:
    """ASA's important-feature mask M ``[T, B, C]`` (asa_trevsnn.md §A.3 step 4) from the mixed score S' ``[T, B, C]``.

    I_C marks the ⌊λ·C⌋ top channels of each (t, b); I_T the ⌊λ·T⌋ top steps of each (b, c). ``batch_union``:
    each mask is the union over the batch (the code's indexing side effect). ``combine``: ``"xor"`` (the code),
    ``"and"`` or ``"or"`` of the two.

    Example (asa_trevsnn.md §A.9: top channel and top step agree, so XOR marks nothing):
        >>> score = torch.tensor([[2.0, 6.0], [4.0, -2.0]])[:, None, :]       # S' [T=2, B=1, C=2]
        >>> asa_importance_mask(score, split=0.5, combine="and", batch_union=False)[:, 0]
        tensor([[0., 1.],
                [1., 0.]])
        >>> asa_importance_mask(score, split=0.5, combine="xor", batch_union=False).sum()
        tensor(0.)
    """
    t, _, c = score.shape
    i_c = _top_mask(score, int(split * c), dim=2)
    i_t = _top_mask(score, int(split * t), dim=0)
    if batch_union:
        i_c, i_t = i_c.amax(dim=1, keepdim=True).expand_as(i_c), i_t.amax(dim=1, keepdim=True).expand_as(i_t)
    if combine == "xor":
        return (i_c != i_t).to(score.dtype)
    return i_c * i_t if combine == "and" else torch.maximum(i_c, i_t)


def advance_spatial_attention(x_seq: torch.Tensor, *, alpha: torch.Tensor, beta: torch.Tensor, mix: nn.Module,
                              conv_imp: nn.Conv2d, conv_sub: nn.Conv2d, split: float, combine: str = "xor",
                              batch_union: bool = True, score_grad: str = "none",
                              avg_norm: str = "lambda") -> torch.Tensor:
    """ASA on currents ``[T, B, C, H, W]`` (asa_trevsnn.md §A.3, steps 1–8, in ltsnn's time-major layout).

    S = (½+α)·avg_{h,w} X + (½+β)·max_{h,w} X; S' = g(S) over T; M from S' (:func:`asa_importance_mask`);
    X_imp = M·X, X_sub = (1−M)·X; per (b, h, w) the descriptors [mean_{t,c}/λ, max_{t,c}] of each part (or the
    mean over the part's entries, ``avg_norm="count"``); Y = σ(K_imp ⋆ D_imp)·X_imp + σ(K_sub ⋆ D_sub)·X_sub.
    ``score_grad="none"``: the mask is a constant, so α, β and g get no gradient (the code);
    ``"ste"``: M + σ(S') − sg(σ(S')), a straight-through path to them (our guess, §A.7 A3).
    """
    score = (0.5 + alpha) * x_seq.mean(dim=(3, 4)) + (0.5 + beta) * x_seq.amax(dim=(3, 4))   # [T, B, C]
    mixed = mix(score.permute(1, 2, 0)).permute(2, 0, 1)           # g over T: [B, C, T] -> [T, B, C]
    mask = asa_importance_mask(mixed.detach(), split=split, combine=combine, batch_union=batch_union)
    if score_grad == "ste":
        gate = torch.sigmoid(mixed)
        mask = mask + gate - gate.detach()
    m = mask[..., None, None]                                      # [T, B, C, 1, 1]
    x_imp, x_sub = m * x_seq, (1 - m) * x_seq

    def descriptor(part: torch.Tensor, weight: torch.Tensor, share: float) -> torch.Tensor:
        total = part.sum(dim=(0, 2))                               # [B, H, W]
        if avg_norm == "lambda":
            mean = total / (part.shape[0] * part.shape[2]) / share
        else:                                                      # the mean over the part's own entries
            count = weight.detach().sum(dim=(0, 2)).clamp(min=1.0)[:, None, None]
            mean = total / count
        return torch.stack([mean, part.amax(dim=(0, 2))], dim=1)  # [B, 2, H, W]

    a_imp = torch.sigmoid(conv_imp(descriptor(x_imp, mask, split)))          # [B, 1, H, W]
    a_sub = torch.sigmoid(conv_sub(descriptor(x_sub, 1 - mask, 1 - split)))
    return a_imp[None] * x_imp + a_sub[None] * x_sub


class AdvanceSpatialAttention(nn.Module):
    """ASA: split the currents into important and sub-important (t, c) features and give each part its own
    spatial attention map (Yao et al., ICCV 2023, "Inherent Redundancy in SNNs"; asa_trevsnn.md Part A).

    Args:
        time_steps: T (the temporal map g is ``T -> T``, or ``T -> T//r -> T`` with a ReLU).
        reduction: r. split: λ in (0, 1), the share called important.
        combine, batch_union, score_grad, avg_norm: the doc's options ``asa_combine`` (``"xor"``), ``asa_batch_union``
            (True), ``asa_score_grad`` (``"none"``) and ``asa_avg_norm`` (``"lambda"``); defaults reproduce the code.

    Example:
        >>> asa = AdvanceSpatialAttention(4, split=0.5)
        >>> _ = [torch.nn.init.zeros_(conv.weight) for conv in (asa.conv_imp, asa.conv_sub)]
        >>> x = torch.randn(4, 2, 3, 5, 5)
        >>> torch.allclose(asa(x), x / 2)          # zero kernels: both maps are σ(0) = ½
        True
    """

    def __init__(self, time_steps: int, *, reduction: int = 1, split: float = 0.5, combine: str = "xor",
                 batch_union: bool = True, score_grad: str = "none", avg_norm: str = "lambda"):
        super().__init__()
        for key, value, valid in (("asa_combine", combine, ASA_COMBINES), ("asa_score_grad", score_grad, ASA_SCORE_GRADS),
                                  ("asa_avg_norm", avg_norm, ASA_AVG_NORMS)):
            if value not in valid:
                raise ValueError(f"AdvanceSpatialAttention: {key}={value!r}; expected one of {list(valid)}")
        if not 0 < split < 1:
            raise ValueError(f"AdvanceSpatialAttention: split={split!r}; expected λ in (0, 1)")
        self.time_steps, self.split = time_steps, float(split)
        self.combine, self.batch_union, self.score_grad, self.avg_norm = combine, bool(batch_union), score_grad, avg_norm
        self.alpha, self.beta = nn.Parameter(torch.tensor(0.5)), nn.Parameter(torch.tensor(0.5))
        if reduction == 1:
            self.mix = nn.Linear(time_steps, time_steps, bias=False)
        else:
            hidden = _hidden(time_steps, reduction, "AdvanceSpatialAttention")
            self.mix = nn.Sequential(nn.Linear(time_steps, hidden, bias=False), nn.ReLU(),
                                     nn.Linear(hidden, time_steps, bias=False))
        self.conv_imp = nn.Conv2d(2, 1, 3, padding=1, bias=False)
        self.conv_sub = nn.Conv2d(2, 1, 3, padding=1, bias=False)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        _check_currents(x_seq, self.time_steps, "AdvanceSpatialAttention")
        return advance_spatial_attention(x_seq, alpha=self.alpha, beta=self.beta, mix=self.mix,
                                         conv_imp=self.conv_imp, conv_sub=self.conv_sub, split=self.split,
                                         combine=self.combine, batch_union=self.batch_union,
                                         score_grad=self.score_grad, avg_norm=self.avg_norm)

    def synaptic_ops(self, inputs: tuple, output: torch.Tensor) -> dict[str, float]:
        """MACs of one call (asa_trevsnn.md §A.8): 7·T·C·H·W + 36·H·W + g's per sample."""
        t, b, c, h, w = inputs[0].shape
        g = sum(m.in_features * m.out_features for m in self.mix.modules() if isinstance(m, nn.Linear))
        return {"mac": float(b * (7 * t * c * h * w + 36 * h * w + c * g)), "ac": 0.0}
