"""T-RevSNN (Hu, Yao et al., ICML 2024): time steps as the columns of a reversible column network, trained with
O(L) memory (docs/methods/asa_trevsnn.md Part B).

Each time step t is one column: S levels whose real-valued states are the only thing carried over time,

    c_l^t = α_l ⊙ c_l^{t−1} + G_l(f_l^t),   f_0^t = e^t (+ Up_0(c_1^{t−1})),
    f_l^t = Down_l(c_{l−1}^t) + Up_l(c_{l+1}^{t−1}) (l < S−1),   f_{S−1}^t = Down_{S−1}(c_{S−2}^t),

(§B.4). Every neuron inside a column is stateless (the registered neuron run for one step from rest, §B.10), so
a column's intermediates need not be kept: :class:`ReversibleColumn` (a ``torch.autograd.Function``) runs the
column without a graph, keeps only its states c^t, and in the backward recomputes one level at a time while
inverting the coupling, c_l^{t−1} = (c_l^t − G_l(f_l^t)) / α_l (§B.5). ``torch.utils.checkpoint`` would not do:
it must keep each column's *inputs* c^{t−1} to recompute from them, the very tensors the inversion rebuilds.

``rev_store`` (§B.6, B1): ``"per_column"`` keeps each column's states (the code: a small O(T) term, and the
inversion is one step deep); ``"last_only"`` keeps only the last column's and inverts all the way back (flat
in T; the inversion error compounds by about 1/|α| per step: in float32 at α = ½ the gradients match plain
autograd to 2e-6 at T = 4 and 3e-5 at T = 8 but are wrong at T = 16, so use it in float64 or for short T).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ltsnn.models.base import Size, SpikingModel
from ltsnn.models.registry import register_model
from ltsnn.neurons import NeuronSpec

REV_STORES = ("per_column", "last_only")
COLUMN_WEIGHTS = ("shared", "per_column")
ALPHA_MIN = 1e-3                   # |α| is clamped to at least this before every forward (§B.4), keeping the sign


class ScaledStdConv2d(nn.Conv2d):
    """Conv with a weight standardised per output channel: gain · fan_in^−½ · (W − mean) / sqrt(var + ε) (§B.3;
    biased variance, ε = 1e-6, gain init 1). With fan_in = 1 the standardised weight is 0."""

    def __init__(self, *args, eps: float = 1e-6, **kw):
        super().__init__(*args, **kw)
        self.gain = nn.Parameter(torch.ones(self.out_channels, 1, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        fan_in = w[0].numel()
        mean, var = w.mean(dim=(1, 2, 3), keepdim=True), w.var(dim=(1, 2, 3), keepdim=True, unbiased=False)
        w = self.gain * (w - mean) / torch.sqrt(var + self.eps) * fan_in ** -0.5
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class StatelessSpike(nn.Module):
    """A registered neuron run on ``[B, ...]`` as one step from rest: "temporal dynamics off" (§B.2, §B.10)."""

    def __init__(self, neuron: nn.Module):
        super().__init__()
        self.neuron = neuron

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.neuron(z[None])[0]                             # [B, ...] -> [1, B, ...] -> [B, ...]


class Block(nn.Module):
    """z + γ ⊙ DW(PW_{4C→C}(Θ(PW_{C→4C}(DW(Θ(z)))))) (§B.3), no normalisation; PW are weight-standardised.
    ``scale_init``: γ's init (the doc's ``block_scale_init``: 1.0 as the code, 0.0 for ReZero), per channel."""

    def __init__(self, channels: int, *, neuron: NeuronSpec, kernel_size: int, scale_init: float):
        super().__init__()
        hidden = 4 * channels
        self.branch = nn.Sequential(
            StatelessSpike(neuron.build(channels=channels)),
            nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels),
            ScaledStdConv2d(channels, hidden, 1), StatelessSpike(neuron.build(channels=hidden)),
            ScaledStdConv2d(hidden, channels, 1),
            nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels))
        self.scale = nn.Parameter(torch.full((channels, 1, 1), float(scale_init)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.scale * self.branch(z)


def _spike_conv_bn(c_in: int, c_out: int, *, neuron: NeuronSpec, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(StatelessSpike(neuron.build(channels=c_in)),
                         nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class Column(nn.Module):
    """One time step: the stem (frame → e, a weight-standardised 3×3 conv, §B.3's DVS stem) and the S levels.

    Level l > 0 halves the resolution of level l−1 (a 3×3 conv, stride 2: ⌈H/2⌉), except the last, which keeps
    it (the code's level 3); an up path resamples to the exact size of the level it feeds, so odd sizes work.
    Its BNs see one step's batch; the backward's recompute runs them again, so their running statistics are
    updated twice per training step (the code's behaviour, §B.9 B6).
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...], *, input_size: tuple[int, int], neuron: NeuronSpec,
                 kernel_size: int, scale_init: float):
        super().__init__()
        S = len(channels)
        self.stem = ScaledStdConv2d(in_channels, channels[0], 3, padding=1)
        self.levels = nn.ModuleList(
            nn.Sequential(*(Block(c, neuron=neuron, kernel_size=kernel_size, scale_init=s) for s in (scale_init, 1.0)))
            for c in channels)
        self.strides = [2 if 0 < l < S - 1 else 1 for l in range(S)]                     # level l vs l−1
        sizes = [input_size]
        for stride in self.strides[1:]:
            sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2) if stride == 2 else sizes[-1])
        self.downs = nn.ModuleList(_spike_conv_bn(channels[l - 1], channels[l], neuron=neuron,
                                                  kernel=3 if self.strides[l] == 2 else 1, stride=self.strides[l])
                                   for l in range(1, S))
        self.ups = nn.ModuleList(nn.Sequential(_spike_conv_bn(channels[l + 1], channels[l], neuron=neuron, kernel=1,
                                                              stride=1),
                                               nn.Upsample(size=sizes[l]) if self.strides[l + 1] == 2 else nn.Identity())
                                 for l in range(S - 1))
        self.alphas = nn.ParameterList(nn.Parameter(torch.full((c, 1, 1), 0.5)) for c in channels)

    def level_input(self, l: int, below: torch.Tensor, above: torch.Tensor | None) -> torch.Tensor:
        """f_l: level l's input from the level below in this column (``below``: e for l = 0) and the level
        above one step back (``above``, None in the first column and for the top level)."""
        f = below if l == 0 else self.downs[l - 1](below)
        return f if above is None else f + self.ups[l](above)

    def run(self, x: torch.Tensor, prev: list[torch.Tensor] | None) -> list[torch.Tensor]:
        """The states c^t ``[B, C_l, H_l, W_l]`` of one step from its frame ``x`` ``[B, C_in, H, W]`` and c^{t−1}
        (None for the first column)."""
        c: list[torch.Tensor] = []
        for l, level in enumerate(self.levels):
            above = prev[l + 1] if prev is not None and l + 1 < len(self.levels) else None
            o = level(self.level_input(l, self.stem(x) if l == 0 else c[l - 1], above))
            c.append(o if prev is None else self.alphas[l] * prev[l] + o)
        return c

    def backward_step(self, x: torch.Tensor, c: list[torch.Tensor], grads: list[torch.Tensor], *, first: bool,
                      params: list[nn.Parameter]) -> tuple[list[torch.Tensor] | None, list[torch.Tensor] | None,
                                                           list[torch.Tensor | None]]:
        """The backward of :meth:`run` from its output ``c`` alone (§B.5): levels S−1 … 0, each recomputed
        with a graph, backpropagated, then inverted to give c_l^{t−1}.

        Returns:
            ``(c_prev, grad_prev, grad_params)``: c^{t−1} and ∂L/∂c^{t−1} (None for the first column) and
            ∂L/∂p for each of ``params`` (None where unused).
        """
        S = len(self.levels)
        g = [gr.clone() for gr in grads]
        c_prev: list[torch.Tensor | None] = [None] * S
        g_prev = None if first else [torch.zeros_like(ci) for ci in c]
        grad_params: list[torch.Tensor | None] = [None] * len(params)
        index = {id(p): i for i, p in enumerate(params)}
        for l in reversed(range(S)):
            with torch.enable_grad():
                below = (x if l == 0 else c[l - 1]).detach().requires_grad_(l > 0)
                above = None if first or l == S - 1 else c_prev[l + 1].detach().requires_grad_()
                e = self.stem(below) if l == 0 else below
                o = self.levels[l](self.level_input(l, e, above))
                inputs = [t for t in (below, above) if t is not None and t.requires_grad]
                got = (torch.autograd.grad(o, inputs + params, g[l], allow_unused=True) if o.requires_grad
                       else [None] * (len(inputs) + len(params)))           # a level with nothing to learn
            got_inputs, got_params = got[:len(inputs)], got[len(inputs):]
            if l > 0 and got_inputs[0] is not None:
                g[l - 1] += got_inputs[0]
            if above is not None and got_inputs[-1] is not None:
                g_prev[l + 1] += got_inputs[-1]
            for i, gp in enumerate(got_params):
                if gp is not None:
                    grad_params[i] = gp if grad_params[i] is None else grad_params[i] + gp
            if not first:
                alpha = self.alphas[l]
                with torch.no_grad():
                    c_prev[l] = (c[l] - o.detach()) / alpha                        # invert the coupling
                    g_prev[l] += alpha * g[l]
                    g_alpha = (c_prev[l] * g[l]).sum(dim=(0, 2, 3))[:, None, None]
                i = index[id(alpha)]
                grad_params[i] = g_alpha if grad_params[i] is None else grad_params[i] + g_alpha
        return (None if first else c_prev), g_prev, grad_params


def _params(column: Column) -> list[nn.Parameter]:
    return [p for p in column.parameters() if p.requires_grad]


class ReversibleColumn(torch.autograd.Function):
    """One column (``rev_store="per_column"``): keeps its frame and its S output states, nothing else."""

    @staticmethod
    def forward(ctx, column: Column, x: torch.Tensor, n_prev: int, *tensors: torch.Tensor):
        prev = list(tensors[:n_prev]) or None
        with torch.no_grad():
            c = column.run(x, prev)
        ctx.column, ctx.first = column, prev is None
        ctx.save_for_backward(x, *c)
        return tuple(c)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):
        x, *c = ctx.saved_tensors
        column = ctx.column
        grads = [torch.zeros_like(ci) if gr is None else gr for ci, gr in zip(c, grads)]
        _, g_prev, g_params = column.backward_step(x, c, grads, first=ctx.first, params=_params(column))
        return (None, None, None, *(g_prev or ()), *g_params)


class ReversibleSequence(torch.autograd.Function):
    """All T columns in one (``rev_store="last_only"``): keeps the frames and the last column's states, and
    returns the top level's state at every step (for the per-step readout) and the last states."""

    @staticmethod
    def forward(ctx, columns: list[Column], x_seq: torch.Tensor, *params: torch.Tensor):
        c = None
        tops = []
        with torch.no_grad():
            for t, column in enumerate(columns):
                c = column.run(x_seq[t], c)
                tops.append(c[-1])
        ctx.columns = columns
        ctx.save_for_backward(x_seq, *c)
        return torch.stack(tops)

    @staticmethod
    def backward(ctx, g_tops: torch.Tensor):
        x_seq, *c = ctx.saved_tensors
        columns = ctx.columns
        params = [p for column in dict.fromkeys(columns) for p in _params(column)]
        index = {id(p): i for i, p in enumerate(params)}
        g_params: list[torch.Tensor | None] = [None] * len(params)
        g = [torch.zeros_like(ci) for ci in c]
        for t in reversed(range(len(columns))):
            g[-1] = g[-1] + g_tops[t]
            column = columns[t]
            own = _params(column)
            c, g, got = columns[t].backward_step(x_seq[t], c, g, first=t == 0, params=own)
            for p, gp in zip(own, got):
                if gp is not None:
                    i = index[id(p)]
                    g_params[i] = gp if g_params[i] is None else g_params[i] + gp
        return (None, None, *g_params)


class TRevSNN(SpikingModel):
    """T columns of :class:`Column` and a spiking readout per step: Θ(c_{S−1}^t) → global average → Linear.

    The code's head (SConv1×1 → φ → SConv1×1 with φ the identity, §B.9 B3) is two linear maps; one Linear is
    the same function. Outputs ``[T, B, K]``, one per column (the code reads only the last; a task averages).

    Args:
        channels: C_0 … C_{S−1}. kernel_size: the depthwise convs' k.
        column_weights: ``"shared"`` (one column for every step: any T, the size does not grow with T) or
            ``"per_column"`` (the code: each step its own weights; needs ``time_steps``).
        reversible: train with :class:`ReversibleColumn` / :class:`ReversibleSequence` (False: plain autograd,
            every intermediate kept: the baseline the memory benchmark compares with).
        rev_store: ``"per_column"`` or ``"last_only"`` (module docstring).
        block_scale_init: γ's init in each level's first block (1.0, the code; 0.0 for ReZero's reading).

    Example:
        >>> model = trevsnn_tiny(num_classes=3, input_size=8, channels=(4, 4, 4, 4), rev_store="last_only")
        >>> model(torch.rand(4, 2, 2, 8, 8)).shape                   # [T, B, C, H, W] -> [T, B, K]
        torch.Size([4, 2, 3])
    """

    def __init__(self, *, in_channels: int, num_classes: int, input_size: Size, neuron: NeuronSpec,
                 channels: tuple[int, ...], kernel_size: int, column_weights: str, time_steps: int, reversible: bool,
                 rev_store: str, block_scale_init: float, name: str):
        super().__init__(name=name, in_channels=in_channels, input_size=input_size)
        channels = tuple(int(c) for c in channels)
        for key, value, valid in (("column_weights", column_weights, COLUMN_WEIGHTS), ("rev_store", rev_store, REV_STORES)):
            if value not in valid:
                raise ValueError(f"{name}: {key}={value!r}; expected one of {list(valid)}")
        if len(channels) < 2 or min(channels) < 1 or kernel_size < 1 or kernel_size % 2 == 0 or time_steps < 1:
            raise ValueError(f"{name}: channels={channels}, kernel_size={kernel_size}, time_steps={time_steps}; "
                             f"expected >= 2 positive widths, an odd kernel and time_steps >= 1")
        self.column_weights, self.time_steps = column_weights, time_steps
        self.reversible, self.rev_store = reversible, rev_store
        n = time_steps if column_weights == "per_column" else 1
        self.columns = nn.ModuleList(Column(in_channels, channels, input_size=self.input_size, neuron=neuron,
                                            kernel_size=kernel_size, scale_init=block_scale_init) for _ in range(n))
        self.head_spike = StatelessSpike(neuron.build(channels=channels[-1]))
        self.head = nn.Linear(channels[-1], num_classes)

    def _columns(self, T: int) -> list[Column]:
        if self.column_weights == "shared":
            return [self.columns[0]] * T
        if T != self.time_steps:
            raise ValueError(f"{self.name} has per-column weights for time_steps={self.time_steps}, got T={T}; "
                             f"expected the model option time_steps to equal the input's T")
        return list(self.columns)

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        columns = self._columns(x_seq.shape[0])
        with torch.no_grad():
            for column in self.columns:
                for a in column.alphas:
                    a.copy_(torch.where(a >= 0, 1.0, -1.0) * a.abs().clamp(min=ALPHA_MIN))
        grad = torch.is_grad_enabled() and self.reversible
        if grad and self.rev_store == "last_only":
            params = [p for column in dict.fromkeys(columns) for p in _params(column)]
            return ReversibleSequence.apply(columns, x_seq, *params)
        c, tops = None, []
        for t, column in enumerate(columns):
            if grad:
                c = list(ReversibleColumn.apply(column, x_seq[t], 0 if c is None else len(c), *(c or ()),
                                                *_params(column)))
            else:
                c = column.run(x_seq[t], c)
            tops.append(c[-1])
        return torch.stack(tops)                                   # [T, B, C_{S-1}, H', W']

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        s = self.head_spike(f_seq.flatten(0, 1)).unflatten(0, f_seq.shape[:2])   # stateless: T folded into B
        return self.head(s.mean(dim=(3, 4)))                       # [T, B, C] -> [T, B, K]


@register_model("trevsnn_tiny")
def trevsnn_tiny(*, in_channels: int = 2, num_classes: int = 10, input_size: Size = 16,
                 neuron: NeuronSpec = NeuronSpec(threshold_grad="stsg"), channels: tuple[int, ...] = (8, 16, 24, 32),
                 kernel_size: int = 3, column_weights: str = "shared", time_steps: int = 2, reversible: bool = True,
                 rev_store: str = "per_column", block_scale_init: float = 1.0) -> TRevSNN:
    """T-RevSNN (Hu, Yao et al., ICML 2024), CPU-sized: 4 levels of 8/16/24/32 channels, reversible over time"""
    return TRevSNN(in_channels=in_channels, num_classes=num_classes, input_size=input_size, neuron=neuron,
                   channels=tuple(channels), kernel_size=kernel_size, column_weights=column_weights,
                   time_steps=time_steps, reversible=reversible, rev_store=rev_store,
                   block_scale_init=block_scale_init, name="trevsnn_tiny")
