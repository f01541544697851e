"""TA, MA and ASA (ltsnn/layers/attention.py) against loops written from the equations, in float64, and
ASA's hand-checked oracles (docs/methods/asa_trevsnn.md §A.9)."""

from __future__ import annotations

import math

import pytest
import torch

from ltsnn.layers.attention import AdvanceSpatialAttention, MultiDimAttention, TemporalAttention

D = torch.float64


def _sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _mlp_loop(v: list[float], layers: list[torch.nn.Linear], relu_between=True) -> list[float]:
    for i, layer in enumerate(layers):
        w = layer.weight.detach()
        b = layer.bias.detach() if layer.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
        v = [sum(float(w[o, j]) * v[j] for j in range(len(v))) + float(b[o]) for o in range(w.shape[0])]
        if relu_between and i < len(layers) - 1:
            v = [max(0.0, a) for a in v]
    return v


def test_ta_matches_a_loop_over_the_equations():
    T, B, C, H, W = 4, 2, 3, 2, 3
    ta = TemporalAttention(T, reduction=2).double()
    x = _x(T, B, C, H, W)
    y = ta(x)
    for b in range(B):
        z = [float(x[t, b].sum()) / (C * H * W) for t in range(T)]
        w = [_sig(a) for a in _mlp_loop(z, [ta.fc1, ta.fc2])]
        for t in range(T):
            torch.testing.assert_close(y[t, b], w[t] * x[t, b])


def test_ta_discard_drops_low_frames_only_in_eval_and_counts_them():
    T = 4
    ta = TemporalAttention(T, discard="below_threshold", discard_threshold=0.5).double()
    with torch.no_grad():
        ta.fc1.weight.copy_(torch.eye(T, dtype=D)); ta.fc1.bias.zero_()
        ta.fc2.weight.copy_(torch.eye(T, dtype=D)); ta.fc2.bias.copy_(torch.tensor([1.0, -1.5, 1.0, -1.0], dtype=D))
    # z_t = 1, so w = σ(2), σ(-0.5) < ½ (dropped), σ(2), σ(0) = ½ (kept: only weights below d_th drop)
    x = torch.ones(T, 3, 2, 2, 2, dtype=D)
    y_train = ta.train()(x)
    assert (y_train[1] > 0).all() and ta.frames_seen == 0
    y = ta.eval()(x)
    assert (y[1] == 0).all() and (y[3] == 0.5).all() and (y[0] > 0.5).all()
    assert (ta.frames_seen, ta.frames_dropped) == (12, 3)
    ta.reset_counts()
    assert ta.frames_seen == ta.frames_dropped == 0


def test_ta_checks_t_and_reduction():
    with pytest.raises(ValueError, match="reduction"):
        TemporalAttention(4, reduction=5)
    with pytest.raises(ValueError, match="time_steps=4"):
        TemporalAttention(4)(torch.zeros(3, 1, 1, 2, 2))
    with pytest.raises(ValueError, match="discard"):
        TemporalAttention(4, discard="yes")


def _ma_loop(ma: MultiDimAttention, x: torch.Tensor) -> torch.Tensor:
    T, B, C, H, W = x.shape
    x = x.clone()
    for b in range(B):
        if ma.t_mlp is not None:
            avg = [float(x[t, b].mean()) for t in range(T)]
            mx = [float(x[t, b].max()) for t in range(T)]
            layers = [ma.t_mlp[0], ma.t_mlp[2]]
            a = [_sig(p + q) for p, q in zip(_mlp_loop(avg, layers), _mlp_loop(mx, layers))]
            for t in range(T):
                x[t, b] *= a[t]
        if ma.c_mlp is not None:
            avg = [float(x[:, b, c].mean()) for c in range(C)]
            mx = [float(x[:, b, c].max()) for c in range(C)]
            layers = [ma.c_mlp[0], ma.c_mlp[2]]
            a = [_sig(p + q) for p, q in zip(_mlp_loop(avg, layers), _mlp_loop(mx, layers))]
            for c in range(C):
                x[:, b, c] *= a[c]
        if ma.s_conv is not None:
            k = ma.s_conv.weight.detach()[0]                               # [2, k, k]
            r = k.shape[-1] // 2
            mean = [[float(x[:, b, :, i, j].mean()) for j in range(W)] for i in range(H)]
            mx = [[float(x[:, b, :, i, j].max()) for j in range(W)] for i in range(H)]
            a = [[0.0] * W for _ in range(H)]
            for i in range(H):
                for j in range(W):
                    s = 0.0
                    for di in range(-r, r + 1):
                        for dj in range(-r, r + 1):
                            if 0 <= i + di < H and 0 <= j + dj < W:
                                s += float(k[0, di + r, dj + r]) * mean[i + di][j + dj]
                                s += float(k[1, di + r, dj + r]) * mx[i + di][j + dj]
                    a[i][j] = _sig(s)
            x[:, b] *= torch.tensor(a, dtype=D)
    return torch.relu(x) if ma.output_relu else x


@pytest.mark.parametrize("dims", ["t", "c", "s", "tcs", "cs"])
def test_ma_matches_a_loop_over_the_equations(dims):
    T, B, C, H, W = 4, 2, 4, 3, 4
    torch.manual_seed(0)
    ma = MultiDimAttention(T, C, dims=dims, t_ratio=2, c_ratio=2).double()
    x = _x(T, B, C, H, W, seed=1)
    torch.testing.assert_close(ma(x), _ma_loop(ma, x))


def test_ma_rejects_bad_dims():
    with pytest.raises(ValueError, match="dims"):
        MultiDimAttention(4, 4, dims="tx")


def _asa(T=2, **kw) -> AdvanceSpatialAttention:
    """The §A.9 set-up: g = identity, α = β = ½, kernels with centre taps 0.2 (mean) and −0.1 (max)."""
    asa = AdvanceSpatialAttention(T, split=0.5, **kw).double()
    with torch.no_grad():
        asa.mix.weight.copy_(torch.eye(T, dtype=D))
        for conv in (asa.conv_imp, asa.conv_sub):
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1], conv.weight[0, 1, 1, 1] = 0.2, -0.1
    return asa


X_A = torch.tensor([[1.0, 3.0], [2.0, -1.0]], dtype=D)        # x[t, c], one pixel
X_B = torch.tensor([[3.0, 1.0], [-1.0, 2.0]], dtype=D)


def _seq(*samples):                                  # [T, C] each -> [T, B, C, 1, 1]
    return torch.stack(samples, dim=1)[..., None, None]


def test_asa_oracle_xor():
    y = _asa()(_seq(X_A, X_A))
    torch.testing.assert_close(y[:, 0, :, 0, 0], _sig(0.2) * X_A)
    torch.testing.assert_close(y[:, 1], y[:, 0])


@pytest.mark.parametrize("combine", ["and", "or"])
def test_asa_oracle_and_or(combine):
    y = _asa(combine=combine, batch_union=False)(_seq(X_A))
    expected = torch.tensor([[_sig(-0.1) * 1, _sig(0.2) * 3], [_sig(0.2) * 2, _sig(-0.1) * -1]], dtype=D)
    torch.testing.assert_close(y[:, 0, :, 0, 0], expected)


def test_asa_oracle_batch_union():
    x = _seq(X_A, X_B)
    union = _asa(combine="and", batch_union=True)(x)
    torch.testing.assert_close(union[:, 0, :, 0, 0], _sig(0.2) * X_A)          # all important under the union
    alone = _asa(combine="and", batch_union=False)(x)
    torch.testing.assert_close(alone[:, 0], _asa(combine="and", batch_union=False)(_seq(X_A))[:, 0])
    for batch_union in (True, False):
        y = _asa(combine="xor", batch_union=batch_union)(x)
        torch.testing.assert_close(y[:, :, :, 0, 0], _sig(0.2) * x[:, :, :, 0, 0])


def _asa_loop(asa: AdvanceSpatialAttention, x: torch.Tensor) -> torch.Tensor:
    """Per-sample masks, XOR, λ-normalised mean, from §A.3 written as loops."""
    T, B, C, H, W = x.shape
    lam, a, bt = asa.split, asa.alpha.item(), asa.beta.item()
    g = asa.mix.weight.detach()
    y = torch.zeros_like(x)
    for b in range(B):
        s = [[(0.5 + a) * float(x[t, b, c].mean()) + (0.5 + bt) * float(x[t, b, c].max()) for c in range(C)]
             for t in range(T)]
        s2 = [[sum(float(g[t, u]) * s[u][c] for u in range(T)) for c in range(C)] for t in range(T)]
        kc, kt = int(lam * C), int(lam * T)
        ic = [[1 if sorted(range(C), key=lambda j: -s2[t][j]).index(c) < kc else 0 for c in range(C)] for t in range(T)]
        it = [[1 if sorted(range(T), key=lambda u: -s2[u][c]).index(t) < kt else 0 for c in range(C)] for t in range(T)]
        m = [[ic[t][c] ^ it[t][c] for c in range(C)] for t in range(T)]
        maps = []
        for conv, keep, share in ((asa.conv_imp, 1, lam), (asa.conv_sub, 0, 1 - lam)):
            k = conv.weight.detach()[0]
            part = [[[[float(x[t, b, c, i, j]) if m[t][c] == keep else 0.0 for j in range(W)] for i in range(H)]
                     for c in range(C)] for t in range(T)]
            mean = [[sum(part[t][c][i][j] for t in range(T) for c in range(C)) / (T * C) / share for j in range(W)]
                    for i in range(H)]
            mx = [[max(part[t][c][i][j] for t in range(T) for c in range(C)) for j in range(W)] for i in range(H)]
            att = [[_sig(sum(float(k[0, di + 1, dj + 1]) * mean[i + di][j + dj] + float(k[1, di + 1, dj + 1]) * mx[i + di][j + dj]
                             for di in (-1, 0, 1) for dj in (-1, 0, 1) if 0 <= i + di < H and 0 <= j + dj < W))
                    for j in range(W)] for i in range(H)]
            maps.append(att)
        for t in range(T):
            for c in range(C):
                att = torch.tensor(maps[0] if m[t][c] else maps[1], dtype=D)
                y[t, b, c] = att * x[t, b, c]
    return y


def test_asa_matches_a_loop_over_the_equations():
    torch.manual_seed(0)
    asa = AdvanceSpatialAttention(4, split=0.5, batch_union=False).double()
    x = _x(4, 2, 6, 3, 3, seed=2)
    torch.testing.assert_close(asa(x), _asa_loop(asa, x))


def test_asa_score_path_gets_gradient_only_with_ste():
    x = _x(4, 2, 6, 3, 3, seed=3)
    for score_grad, expect in (("none", False), ("ste", True)):
        asa = AdvanceSpatialAttention(4, score_grad=score_grad).double()
        asa(x).square().sum().backward()
        got = asa.alpha.grad is not None and bool(asa.alpha.grad.abs() > 0)
        assert got == expect, score_grad
        assert asa.conv_imp.weight.grad.abs().sum() > 0


def test_asa_count_norm_is_the_mean_of_the_selected_entries():
    asa = _asa(combine="and", batch_union=False, avg_norm="count")
    with torch.no_grad():
        asa.conv_imp.weight[0, 1, 1, 1] = 0.0                # only the mean tap: A_imp = σ(0.2 · mean(3, 2))
    y = asa(_seq(X_A))
    torch.testing.assert_close(y[0, 0, 1, 0, 0], torch.tensor(_sig(0.2 * 2.5) * 3.0, dtype=D))


def test_asa_rejects_bad_options():
    for kw in ({"combine": "nand"}, {"score_grad": "all"}, {"avg_norm": "sum"}, {"split": 1.0}):
        with pytest.raises(ValueError):
            AdvanceSpatialAttention(4, **kw)
