"""Lottery-ticket pruning over a model: which weights are prunable, the criteria, the masks of a round, rewinding.

The procedure (docs/methods/lottery_ticket.md §2, IMP with rewinding) repeats: score the alive weights of
the trained model, remove ``rate`` of them (:func:`prune_masks`), rewind the survivors to a saved state
(:func:`rewind`), retrain. The criteria are pure functions of tensors: :func:`magnitude_scores` (|w|) and
:func:`sf_scores` (BICLab's spiking-firing score, method §3.2). The masks themselves are
:class:`ltsnn.layers.prune.WeightMask` parametrizations; :func:`prune_model` updates them in place.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from ltsnn.layers.prune import PRUNABLE, dense_weight, masked_layers
from ltsnn.neurons import find_neurons, reset_states

INCLUDES = ("kim", "no_classifier")                    # method §2.2, prune.include
SCOPES = ("global", "local")                           # method §2.3, prune.scope
COUNT_RULES = ("floor", "ceil_plus_one")               # method §2.3, prune.count_rule
SF_MIXES = ("global_mixed", "magnitude_budget", "local")   # method §3.5, sf.mix
BN_STATS = ("running_mean", "running_var", "num_batches_tracked")


def _check(value: str, choices: Sequence[str], key: str) -> None:
    if value not in choices:
        raise ValueError(f"{key}={value!r}: expected one of {', '.join(choices)}")


def check_rate(rate: float) -> None:
    """Raise ValueError unless ``rate`` (the fraction of the alive weights removed per round) is in (0, 1)."""
    if not 0 < rate < 1:
        raise ValueError(f"prune rate={rate}: expected a fraction of the alive weights in (0, 1)")


def prunable_layers(model: nn.Module, *, include: str = "kim") -> list[str]:
    """The qualified names of ``model``'s prunable layers, in module order (method §2.2).

    ``include="kim"``: every Conv2d and Linear weight, the first (encoding) conv and the classifier included
    (Kim et al.'s code, the default); ``"no_classifier"``: all but the last Linear layer (open_lth's VGG).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 3))
        >>> prunable_layers(net), prunable_layers(net, include="no_classifier")
        (['0', '3'], ['0'])
    """
    _check(include, INCLUDES, "prune include")
    names = [name for name, m in model.named_modules() if isinstance(m, PRUNABLE)]
    if include == "no_classifier":
        linear = [name for name in names if isinstance(model.get_submodule(name), nn.Linear)]
        names = [name for name in names if not linear or name != linear[-1]]
    return names


def prune_count(n_alive: int, rate: float, *, count_rule: str = "floor") -> int:
    """How many of ``n_alive`` weights one round removes when no scores tie (method §2.3, oracle §6.4).

    ``floor``: ⌊n·rate⌋ (Kim et al.); ``ceil_plus_one``: ⌈n·rate⌉ + 1 (open_lth's threshold, kept ``>``),
    at most n.

    Example:
        >>> prune_count(6, 0.25), prune_count(6, 0.25, count_rule="ceil_plus_one")
        (1, 3)
    """
    _check(count_rule, COUNT_RULES, "prune count_rule")
    check_rate(rate)
    exact = round(n_alive * rate, 9)                   # 0.29 * 100 = 28.999999999999996 is 29
    return math.floor(exact) if count_rule == "floor" else min(math.ceil(exact) + 1, n_alive)


def prune_masks(scores: Mapping[str, Tensor], alive: Mapping[str, Tensor], *, rate: float,
                count_rule: str = "floor", tie_break: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
    """The new masks after removing ``rate`` of the alive weights with the lowest scores, ranked together
    over all the tensors (global scope; call it per tensor for the local scope).

    A weight is alive where its mask is True, never inferred from a zero value (method §2.5). The threshold is
    the alive score at sorted index k: ``floor`` removes scores < it (k = ⌊n·rate⌋), ``ceil_plus_one`` removes
    scores ≤ it (k = ⌈n·rate⌉); ties at the threshold are kept resp. removed together, as in the two codes.
    With ``tie_break`` (name -> tensor, e.g. |w|), equal scores are ranked by it and exactly
    :func:`prune_count` weights go: the SF score is exactly 0 for every weight of a silent input channel,
    and Kim's threshold rule would then keep them all (``sf.ties=magnitude``, our GUESS).

    Args:
        scores: name -> score tensor (any shape; higher = more important).
        alive: name -> bool mask of the same shape.
    Returns:
        name -> bool mask, a subset of ``alive``.

    Example (method oracle §6.1, magnitude, 50 %):
        >>> w = torch.tensor([[0.5, -0.2, 0.1], [-0.4, 0.3, -0.0625]])
        >>> prune_masks({"w": w.abs()}, {"w": torch.ones(2, 3, dtype=torch.bool)}, rate=0.5)["w"].int().tolist()
        [[1, 0, 0], [1, 1, 0]]
    """
    if set(scores) != set(alive):
        raise ValueError(f"prune scores: expected the tensors {sorted(alive)}, got {sorted(scores)}")
    values = torch.cat([scores[k].detach()[alive[k]].double().flatten() for k in alive])    # the alive scores
    k = prune_count(values.numel(), rate, count_rule=count_rule)
    if k == 0:
        return {name: mask.clone() for name, mask in alive.items()}
    if tie_break is not None:
        return _remove_lowest(scores, tie_break, alive, k)
    if count_rule == "floor":
        threshold = values.sort().values[k]
        return {name: alive[name] & (scores[name].detach().double() >= threshold) for name in alive}
    threshold = values.sort().values[k - 1]           # k - 1 = ⌈n·rate⌉: open_lth keeps only scores above it
    return {name: alive[name] & (scores[name].detach().double() > threshold) for name in alive}


def _remove_lowest(scores: Mapping[str, Tensor], tie_break: Mapping[str, Tensor], alive: Mapping[str, Tensor],
                   k: int) -> dict[str, Tensor]:
    """``alive`` less the k alive entries lowest by (score, tie_break), ranked over all the tensors."""
    names = list(alive)
    flat_alive = torch.cat([alive[n].flatten() for n in names])
    score = torch.cat([scores[n].detach().double().flatten() for n in names])[flat_alive]
    second = torch.cat([tie_break[n].detach().double().flatten() for n in names])[flat_alive]
    order = torch.sort(second, stable=True).indices
    order = order[torch.sort(score[order], stable=True).indices]           # by score, equal scores by tie_break
    keep = torch.ones_like(score, dtype=torch.bool)
    keep[order[:k]] = False
    flat = flat_alive.clone()
    flat[flat_alive] = keep
    out, start = {}, 0
    for n in names:
        out[n] = flat[start:start + alive[n].numel()].view_as(alive[n])
        start += alive[n].numel()
    return out


def budget_masks(scores: Mapping[str, Tensor], magnitudes: Mapping[str, Tensor], alive: Mapping[str, Tensor], *,
                 rate: float, count_rule: str = "floor") -> dict[str, Tensor]:
    """``sf.mix=magnitude_budget`` (method §3.5): global magnitude ranking decides how many weights each tensor
    loses; inside each tensor those are the ones with the lowest ``scores`` (ties: the first in memory order).

    Example (method oracle §6.5: an SF tensor and an FC tensor, 50 %):
        >>> alive = {"sf": torch.ones(2, 3, dtype=torch.bool), "fc": torch.ones(2, dtype=torch.bool)}
        >>> w = torch.tensor([[0.5, -0.2, 0.1], [-0.4, 0.3, -0.0625]])
        >>> p = torch.tensor([[0.0242, 0.0484, 0.0387], [0.0160, 0.0598, 0.0199]])
        >>> v = torch.tensor([0.02, 0.15])
        >>> out = budget_masks({"sf": p, "fc": v}, {"sf": w.abs(), "fc": v}, alive, rate=0.5)
        >>> out["sf"].int().tolist(), out["fc"].int().tolist()
        ([[1, 1, 1], [0, 1, 0]], [0, 0])
    """
    by_magnitude = prune_masks(magnitudes, alive, rate=rate, count_rule=count_rule)
    out = {}
    for name, mask in alive.items():
        n_remove = int(mask.sum() - by_magnitude[name].sum())
        ranked = torch.where(mask, scores[name].detach().double(), math.inf).flatten()
        order = torch.sort(ranked, stable=True).indices[:n_remove]
        keep = mask.clone().flatten()
        keep[order] = False
        out[name] = keep.view_as(mask)
    return out


def magnitude_scores(model: nn.Module) -> dict[str, Tensor]:
    """|w| of the dense trained weight of every masked layer of ``model`` (method §2.3)."""
    return {name: dense_weight(model.get_submodule(name)).detach().abs() for name in masked_layers(model)}


def sf_scores(weight: Tensor, in_rate: Tensor, *, bn_weight: Tensor, bn_var: Tensor, bn_eps: float,
              mem_mean: Tensor, mem_var: Tensor, threshold: Tensor | float, groups: int = 1, absolute: bool = True,
              var_floor: float = 1e-8) -> Tensor:
    """BICLab's spiking-firing score of every weight of one conv / linear layer (method §3.2, Eq. S.43):

        P[j, c, ...] = |w[j, c, ...]| · r[i(j, c)] · |γ_j| / sqrt(σ²_j + ε) · φ(u_th; μ_j, v_j)

    with φ the Gaussian density of the postsynaptic membrane (mean μ_j, variance v_j, floored at
    ``var_floor``) at the threshold, and i(j, c) the input channel of the weight (c when ``groups`` = 1).
    ``absolute=False`` is the signed reading of Eq. S.38 (w and γ without absolute values, ``sf.abs=false``).

    Args:
        weight: ``[C_out, C_in/groups, ...]``. in_rate: ``[C_in]`` mean input spike per step, in [0, 1].
        bn_weight, bn_var: ``[C_out]`` γ and the variance of the BatchNorm after the layer; bn_eps its ε.
        mem_mean, mem_var, threshold: ``[C_out]`` (threshold also a scalar) of the neuron after the BN.
    Returns:
        The scores, ``weight``'s shape, float64.

    Example (method oracle §6.1):
        >>> w = torch.tensor([[0.5, -0.2, 0.1], [-0.4, 0.3, -0.0625]])
        >>> p = sf_scores(w, torch.tensor([0.1, 0.5, 0.8]), bn_weight=torch.tensor([1.0, -0.5]),
        ...               bn_var=torch.tensor([0.25, 1.0]), bn_eps=0.0, mem_mean=torch.tensor([0.0, 1.0]),
        ...               mem_var=torch.tensor([1.0, 0.25]), threshold=1.0)
        >>> [[round(x, 6) for x in row] for row in p.tolist()]
        [[0.024197, 0.048394, 0.038715], [0.015958, 0.059841, 0.019947]]
    """
    w = weight.detach().double()
    c_out, per_group = w.shape[0], w.shape[1]
    if c_out % groups or in_rate.numel() != per_group * groups:
        raise ValueError(f"sf_scores: weight {tuple(w.shape)} with groups={groups} expects {per_group * groups} "
                         f"input rates, got {in_rate.numel()}")
    group = torch.arange(c_out) // (c_out // groups)                         # [C_out]
    channel = group[:, None] * per_group + torch.arange(per_group)[None]     # i(j, c): [C_out, C_in/g]
    rate = in_rate.double()[channel]                                         # [C_out, C_in/g]
    gain = bn_weight.detach().double() / torch.sqrt(bn_var.double() + bn_eps)    # [C_out]
    var = mem_var.double().clamp_min(var_floor)
    u_th = torch.as_tensor(threshold, dtype=torch.float64)
    density = torch.exp(-(u_th - mem_mean.double()) ** 2 / (2 * var)) / torch.sqrt(2 * math.pi * var)
    if absolute:
        w, gain = w.abs(), gain.abs()
    spatial = (1,) * (w.dim() - 2)                                           # conv kernels: [.., k_h, k_w]
    return w * rate.view(c_out, per_group, *spatial) * (gain * density).view(c_out, 1, *spatial)


def prune_model(model: nn.Module, scores: Mapping[str, Tensor], *, rate: float, scope: str = "global",
                count_rule: str = "floor", magnitudes: Mapping[str, Tensor] | None = None,
                tie_break: Mapping[str, Tensor] | None = None) -> None:
    """Remove ``rate`` of the alive weights of ``model``'s masked layers by ``scores`` (name -> tensor, every
    masked layer): update the masks, and zero the dense weights they remove (so quantisation statistics and
    the optimizer see zeros). ``magnitudes`` given: ``sf.mix=magnitude_budget`` (:func:`budget_masks`);
    ``tie_break``: see :func:`prune_masks`.

    Example:
        >>> from ltsnn.layers.prune import add_masks
        >>> net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
        >>> add_masks(net, ["0", "1"])
        >>> prune_model(net, magnitude_scores(net), rate=0.5)
        >>> sparsity(net)["total"]
        0.5
    """
    _check(scope, SCOPES, "prune scope")
    masks = masked_layers(model)
    if set(scores) != set(masks):
        raise ValueError(f"prune scores: expected the masked layers {list(masks)}, got {list(scores)}")
    alive = {name: m.mask for name, m in masks.items()}
    if magnitudes is not None:
        new = budget_masks(scores, magnitudes, alive, rate=rate, count_rule=count_rule)
    elif scope == "global":
        new = prune_masks(scores, alive, rate=rate, count_rule=count_rule, tie_break=tie_break)
    else:
        new = {k: prune_masks({k: scores[k]}, {k: alive[k]}, rate=rate, count_rule=count_rule,
                              tie_break=None if tie_break is None else {k: tie_break[k]})[k] for k in alive}
    with torch.no_grad():
        for name, m in masks.items():
            m.mask.copy_(new[name])
            dense_weight(model.get_submodule(name)).mul_(new[name])


def sparsity(model: nn.Module) -> dict[str, float]:
    """The pruned fraction of every masked layer's weight, and ``"total"`` over all of them (0.0 with none)."""
    masks = masked_layers(model)
    out = {name: 1 - m.mask.sum().item() / m.mask.numel() for name, m in masks.items()}
    total = sum(m.mask.numel() for m in masks.values())
    out["total"] = 1 - sum(m.mask.sum().item() for m in masks.values()) / total if total else 0.0
    return out


def rewind(model: nn.Module, snapshot: Mapping[str, Tensor], *, bn_stats: bool = False) -> None:
    """Set every parameter of ``model`` to its value in ``snapshot`` (a state dict saved earlier in the run:
    at initialisation or after epoch k), the masked weights to ``mask ⊙ saved`` (method §2.4). Biases, BN γ/β
    and learned thresholds are rewound too; the BN running statistics only with ``bn_stats`` (open_lth; Kim's
    code leaves them). ``snapshot`` may come from the unpruned model (``<layer>.weight``).

    Example (method oracle §6.7):
        >>> from ltsnn.layers.prune import add_masks
        >>> net = nn.Sequential(nn.Linear(3, 2, bias=False))
        >>> saved = {"0.weight": torch.tensor([[0.3, 0.1, -0.2], [0.2, -0.1, 0.4]])}
        >>> add_masks(net, ["0"])
        >>> _ = masked_layers(net)["0"].mask.copy_(torch.tensor([[1, 0, 0], [1, 1, 0]], dtype=torch.bool))
        >>> rewind(net, saved)
        >>> torch.equal(net[0].weight, torch.tensor([[0.3, 0.0, 0.0], [0.2, -0.1, 0.0]]))
        True
    """
    masks = {f"{name}.parametrizations.weight.original": m.mask for name, m in masked_layers(model).items()}
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(_saved(snapshot, name) * masks[name] if name in masks else _saved(snapshot, name))
        if bn_stats:
            for name, b in model.named_buffers():
                if name.rsplit(".", 1)[-1] in BN_STATS:
                    b.copy_(_saved(snapshot, name))


def _saved(snapshot: Mapping[str, Tensor], name: str) -> Tensor:
    """``name``'s tensor in ``snapshot``; a parametrized weight may be saved under its plain name."""
    plain = name.replace(".parametrizations.weight.original", ".weight")
    for key in (name, plain):
        if key in snapshot:
            return snapshot[key]
    raise ValueError(f"rewind snapshot: no tensor {plain!r}; expected a state dict of the same model")


# ---------------------------------------------------------------------------------------------- SF statistics

def sf_layer_map(model: nn.Module, x_seq: Tensor) -> dict[str, tuple[str, str]]:
    """Which masked layers the SF criterion scores (method §3.4), found by running ``x_seq`` once (eval mode, no
    gradient) and recording the order in which the layers run: a conv whose next module to run is a
    BatchNorm of its width, and a spiking neuron running after that BN (the first one: a residual block's
    conv2 and shortcut conv both reach the neuron after the addition, §3.4 G9). The first conv to run (the
    encoding layer, whose input is analog) and every Linear layer keep the magnitude criterion, as does any
    layer that fits no such pattern (``sf.fallback=magnitude``).

    Returns:
        masked conv name -> (BN name, neuron name), for the SF layers only.
    """
    masked = masked_layers(model)
    neurons = {id(m): name for name, m in find_neurons(model)}
    tracked = {id(m): name for name, m in model.named_modules()
               if name in masked or isinstance(m, nn.modules.batchnorm._BatchNorm) or id(m) in neurons}
    order: list[tuple[str, nn.Module]] = []
    hooks = [m.register_forward_pre_hook(lambda m, _: order.append((tracked[id(m)], m)))
             for m in model.modules() if id(m) in tracked]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(x_seq)
    finally:
        for h in hooks:
            h.remove()
        reset_states(model)
        model.train(was_training)
    first_conv = next((name for name, m in order if isinstance(m, nn.Conv2d)), None)
    found = {}
    for i, (name, m) in enumerate(order):
        if not isinstance(m, nn.Conv2d) or name == first_conv or name not in masked or i + 1 == len(order):
            continue
        bn_name, bn = order[i + 1]
        if (not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.num_features != m.out_channels
                or bn.weight is None or bn.running_var is None):        # Eq. S.43 needs γ and σ²
            continue
        neuron = next((n for n, mod in order[i + 2:] if id(mod) in neurons), None)
        if neuron is not None and name not in found:
            found[name] = (bn_name, neuron)
    return found


def firing_statistics(model: nn.Module, batches, layers: Mapping[str, tuple[str, str]]) -> dict[str, dict[str, Tensor]]:
    """The statistics of the SF score (method §3.3) of each layer of ``layers`` (:func:`sf_layer_map`), over
    ``batches`` (time-major ``[T, B, C, H, W]`` inputs), in eval mode without gradients:

    - ``in_rate`` ``[C_in]``: the mean of the layer's input per channel over (t, b, h, w);
    - ``mem_mean``, ``mem_var`` ``[C_out]``: mean and population variance per channel of the neuron's input
      current x_t (``sf.membrane=input_current``: the BN output, plus the shortcut in a residual block),
      pooled over (t, b, h, w) in float64 (``sf.membrane_pool=pooled``, ``sf.var=population``).

    ``sf.membrane=pre_reset`` (the method's default) needs the membrane before fire/reset, which ltsnn's
    neurons do not expose; it is not implemented.
    """
    sums: dict[str, Tensor] = {}

    def accumulate(key: str, x: Tensor, channel_dim: int) -> None:
        x = x.detach().double().transpose(0, channel_dim).flatten(1)             # [C, everything else]
        total = torch.stack([x.sum(1), (x * x).sum(1), torch.full_like(x[:, 0], x.shape[1])])
        sums[key] = sums[key] + total if key in sums else total

    hooks = []
    for name, (_, neuron) in layers.items():
        hooks.append(model.get_submodule(name).register_forward_pre_hook(
            lambda m, inputs, name=name: accumulate(f"{name}:in", inputs[0], 1)))            # [T*B, C, H, W]
        hooks.append(model.get_submodule(neuron).register_forward_pre_hook(
            lambda m, inputs, neuron=neuron: accumulate(f"{neuron}:mem", inputs[0], 2)))     # [T, B, C, ...]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()
            for x_seq in batches:
                model(x_seq)
                reset_states(model)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    out = {}
    for name, (bn, neuron) in layers.items():
        s_in, s_mem = sums[f"{name}:in"], sums[f"{neuron}:mem"]
        mean = s_mem[0] / s_mem[2]
        out[name] = {"in_rate": s_in[0] / s_in[2], "mem_mean": mean,
                     "mem_var": (s_mem[1] / s_mem[2] - mean ** 2).clamp_min(0.0)}
    return out


def sf_model_scores(model: nn.Module, layers: Mapping[str, tuple[str, str]], stats: Mapping[str, Mapping[str, Tensor]],
                    *, absolute: bool = True) -> dict[str, Tensor]:
    """The score of every masked layer of ``model``: :func:`sf_scores` for the SF layers (``layers``, with their
    ``stats``; BN variance = its running variance, ``sf.bn_var=running``; the neuron's current threshold),
    |w| for the others (method §3.4), ready for :func:`prune_model` (``sf.mix=global_mixed``: one ranking)."""
    scores = magnitude_scores(model)
    for name, (bn_name, neuron_name) in layers.items():
        layer, bn, neuron = (model.get_submodule(n) for n in (name, bn_name, neuron_name))
        s = stats[name]
        scores[name] = sf_scores(dense_weight(layer), s["in_rate"], bn_weight=bn.weight, bn_var=bn.running_var,
                                 bn_eps=bn.eps, mem_mean=s["mem_mean"], mem_var=s["mem_var"],
                                 threshold=neuron.v_th.detach().double(), groups=layer.groups, absolute=absolute)
    return scores
