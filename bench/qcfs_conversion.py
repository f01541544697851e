"""Why QCFS -> IF conversion collapses at low T: per-layer diagnostics of a trained QCFS ANN (issue 13 item 5e).

    OMP_NUM_THREADS=1 .venv/bin/python bench/qcfs_conversion.py RUN/checkpoints/best.pt --steps 2,4,8,16,32 --limit 10000

For the ANN: each QCFS layer's λ, its pre-activation's 99th percentile and which of the Q levels its outputs
use. For each T: the converted IF network's accuracy on the first ``limit`` test images (with a 95 % Wilson
interval), and per layer the relative error of the SNN's mean output (spikes·θ averaged over T) against the
ANN's QCFS output, and the fraction of neurons that never fire.
"""

from __future__ import annotations

import argparse
import math

import torch

from ltsnn.build import EVAL_KEYS, build_dataset, model_from_args, restore
from ltsnn.convert.qcfs import converted_model_args, load_qcfs_into_snn
from ltsnn.neurons import find_neurons
from ltsnn.neurons.qcfs import QCFS


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


class Recorder:
    """Forward hooks keeping the last input and output of every layer of type ``kinds`` (one batch at a time)."""

    def __init__(self, model: torch.nn.Module, kinds: type | tuple):
        self.ins: dict[str, torch.Tensor] = {}
        self.outs: dict[str, torch.Tensor] = {}
        self.handles = [m.register_forward_hook(self._hook(name)) for name, m in model.named_modules()
                        if isinstance(m, kinds)]

    def _hook(self, name: str):
        def hook(module, i, o) -> None:
            self.ins[name], self.outs[name] = i[0].detach(), o.detach()
        return hook


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--steps", default="2,4,8,16,32")
    p.add_argument("--limit", type=int, default=2000)
    p.add_argument("--batch", type=int, default=50)
    args = p.parse_args()
    torch.set_grad_enabled(False)
    r = restore(args.checkpoint, allowed=EVAL_KEYS)
    ann = r.model.eval()
    test = build_dataset(r.config.data, split="test")
    n = min(args.limit, len(test))
    batches = []
    for s in range(0, n, args.batch):
        items = [test[i] for i in range(s, min(s + args.batch, n))]
        batches.append((torch.stack([x for x, _ in items]).transpose(0, 1), torch.tensor([y for _, y in items])))
    qcfs = {name: m for name, m in ann.named_modules() if isinstance(m, QCFS)}
    rec = Recorder(ann, QCFS)
    correct, levels, p99 = 0, {nm: torch.zeros(4) for nm in qcfs}, {nm: [] for nm in qcfs}
    for x, y in batches:
        correct += int((ann(x).mean(0).argmax(-1) == y).sum())
        for nm, m in qcfs.items():
            lv = torch.round(rec.outs[nm] / m.lam * m.levels)
            levels[nm] += torch.stack([(lv == 0).sum(), (lv == 1).sum(), ((lv >= 2) & (lv < m.levels)).sum(),
                                       (lv == m.levels).sum()]).float()
            p99[nm].append(torch.quantile(rec.ins[nm].flatten()[:200_000], 0.99))
    lo, hi = wilson(correct, n)
    print(f"ANN: {100 * correct / n:.2f} % on the first {n} test images (95 % CI {100 * lo:.1f}-{100 * hi:.1f})\n")
    print("| layer | λ | pre-activation p99 | level 0 | level 1 | levels 2..Q-1 | level Q |\n|---|---:|---:|---:|---:|---:|---:|")
    for nm, m in qcfs.items():
        share = levels[nm] / levels[nm].sum()
        print(f"| {nm} | {float(m.lam):.3f} | {float(torch.stack(p99[nm]).mean()):.3f} | "
              + " | ".join(f"{float(v):.2f}" for v in share) + " |")
    for steps in map(int, args.steps.split(",")):
        snn = model_from_args(converted_model_args(r.checkpoint["model_args"], to="if", steps=steps))
        load_qcfs_into_snn(ann, snn)
        snn.eval()
        srec = Recorder(snn, tuple({type(m) for _, m in find_neurons(snn)}))
        correct, diff, mass, silent, total = 0, dict.fromkeys(qcfs, 0.0), dict.fromkeys(qcfs, 0.0), \
            dict.fromkeys(qcfs, 0), dict.fromkeys(qcfs, 0)
        for x, y in batches:
            ann(x)
            correct += int((snn(x).mean(0).argmax(-1) == y).sum())
            for nm in qcfs:
                a, s = rec.outs[nm][0], srec.outs[nm]
                diff[nm] += float((a - s.mean(0)).abs().sum())
                mass[nm] += float(a.abs().sum())
                silent[nm] += int((s.sum(0) == 0).sum())
                total[nm] += a.numel()
        lo, hi = wilson(correct, n)
        print(f"\nT = {steps}: {100 * correct / n:.2f} % (95 % CI {100 * lo:.1f}-{100 * hi:.1f}); per layer, relative "
              f"error of the mean output: {' '.join(f'{diff[nm] / mass[nm]:.2f}' for nm in qcfs)}; never firing: "
              f"{' '.join(f'{silent[nm] / total[nm]:.2f}' for nm in qcfs)}", flush=True)


if __name__ == "__main__":
    main()
