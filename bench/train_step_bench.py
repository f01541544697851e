"""Hand-run benchmark: one VGG-9 training step on the CPU, ltsnn against SpikingJelly.

Times full training steps (forward, cross-entropy of the time-averaged logits, backward, SGD step) of
LT-SNN's VGG-9 (``32C3-64C3-64C3-AP2-128C3-128C3-AP2-256C3-256C3-AP2-512C3-512C3-AP2-FC512-FC10``, conv +
BN + LIF per layer) on a random batch ``[T, B, 2, 48, 48] = [10, 16, 2, 48, 48]``:

- ``ltsnn_<backend>``  ``ltsnn.models.create_model("vgg9", neuron=NeuronSpec("lif", options={"backend": ...}))``
                       (SGP threshold gradient, learnable thresholds);
- ``sj``               the same layers built from SpikingJelly 2.0 (``layer.SeqToANNContainer(Conv2d,
                       BatchNorm2d)``, ``neuron.LIFNode(tau=2, decay_input=False, v_reset=0, step_mode="m",
                       surrogate PiecewiseQuadratic(1))``, average pooling, the same head): the same spikes
                       in the forward, no threshold gradient.

A suffix ``_cl`` lays the model out channels-last (``model.to(memory_format=torch.channels_last)``, what
``train.memory_format=channels_last`` does; SpikingJelly's layers run so too), ``_compile`` runs it under
``torch.compile(fullgraph=True)`` (the first step then includes the cold compile), in that order:
``ltsnn_numba_cl_compile``.

Each implementation runs in a fresh subprocess (so its peak RSS, VmHWM, is its own): one untimed warm-up
step, then ``--steps`` timed steps; samples/s = B / median step time. Run it in the peers' venv::

    OMP_NUM_THREADS=1 bench/.venv-peers/bin/python bench/train_step_bench.py --threads 1 --steps 5 \
        --impls ltsnn_torch,ltsnn_numba,ltsnn_numba_cl,ltsnn_numba_cl_compile,sj,sj_cl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

SHAPE = (10, 16, 2, 48, 48)
ARCH = [32, 64, 64, "AP", 128, 128, "AP", 256, 256, "AP", 512, 512, "AP"]


def make_sj() -> nn.Module:
    from spikingjelly.activation_based import layer, neuron, surrogate

    mods, c = [], SHAPE[2]
    for item in ARCH:
        if item == "AP":
            mods.append(layer.SeqToANNContainer(nn.AvgPool2d(2)))
            continue
        mods += [layer.SeqToANNContainer(nn.Conv2d(c, item, 3, padding=1, bias=False), nn.BatchNorm2d(item)),
                 neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=0.0, detach_reset=False,
                                surrogate_function=surrogate.PiecewiseQuadratic(alpha=1.0), step_mode="m")]
        c = item
    side = SHAPE[3] // 16
    mods.append(layer.SeqToANNContainer(nn.Flatten(), nn.Linear(c * side * side, 512), nn.Dropout(0.5),
                                        nn.Linear(512, 10)))
    return nn.Sequential(*mods)


def make_ltsnn(backend: str) -> nn.Module:
    from ltsnn.models import create_model
    from ltsnn.neurons import NeuronSpec

    return create_model("vgg9", in_channels=SHAPE[2], num_classes=10, input_size=SHAPE[3],
                        neuron=NeuronSpec("lif", threshold_grad="sgp", options={"backend": backend}))


def child(name: str, steps: int) -> None:
    torch.manual_seed(0)
    compiled = name.endswith("_compile")
    base = name.removesuffix("_compile")
    base, channels_last = base.removesuffix("_cl"), base.endswith("_cl")
    if base == "sj":
        from spikingjelly.activation_based.functional import reset_net as reset
        model = make_sj()
    else:
        from ltsnn.neurons import reset_states as reset
        model = make_ltsnn(base.split("_", 1)[1])
    if channels_last:                                                     # conv weights NHWC: so are the maps
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model, fullgraph=True) if compiled else model  # fullgraph: fails on a graph break
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x_seq = torch.rand(SHAPE) * 2                                         # [T, B, C, H, W]
    target = torch.randint(0, 10, (SHAPE[1],))
    times, first = [], 0.0
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = forward(x_seq).mean(0)                                   # [T, B, K] -> [B, K]
        nn.functional.cross_entropy(logits, target).backward()
        opt.step()
        reset(model)
        if i:                                                             # step 0 warms up (JIT, caches)
            times.append(time.perf_counter() - t0)
        else:
            first = time.perf_counter() - t0
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 2**20
    print(json.dumps({"name": name, "step_s": statistics.median(times), "min_s": min(times), "first_s": first,
                      "peak_gib": peak}))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--impls", default="ltsnn_torch,ltsnn_numba,sj")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--ref", default="sj", help="the implementation the ratios are to (default sj)")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's own)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child(args.child, args.steps)
        return
    rows = []
    for name in args.impls.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--steps", str(args.steps),
               "--threads", str(args.threads)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode:
            print(f"{name} failed: {res.stderr.strip().splitlines()[-1:]}")
            continue
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    ref = next((r for r in rows if r["name"] == args.ref), None)
    print("\n| implementation | first step s | median step s (min) | samples/s | × ref samples/s | peak RSS GiB "
          "| × ref peak |\n|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        sps = SHAPE[1] / r["step_s"]
        ratio = (f"{ref['step_s'] / r['step_s']:.2f} | {r['peak_gib']:.2f} | {r['peak_gib'] / ref['peak_gib']:.2f}"
                 if ref else f"- | {r['peak_gib']:.2f} | -")
        print(f"| {r['name']} | {r['first_s']:.1f} | {r['step_s']:.2f} ({r['min_s']:.2f}) | {sps:.2f} | {ratio} |")
    print(f"\n[T, B, C, H, W] = {list(SHAPE)}, {args.steps} timed steps after one warm-up, "
          f"{torch.get_num_threads()} torch thread(s), each implementation in a fresh process.")


if __name__ == "__main__":
    main()
