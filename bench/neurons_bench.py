"""Hand-run benchmark: forward+backward of the I-LIF, M-HT, IF and LM-HT neurons, torch reference against
the fused numba kernels (issue 11 item 5), round-robin in one process, with the memory floor.

Each call is ``(neuron(x) * g).sum().backward()`` on a fresh module at ``[T, B, C, H, W] = [10, 16, 64,
48, 48]`` float32, 1 thread; the floor is 18 bytes/element (the backward keeps a 1-byte window) at the copy
bandwidth measured in the same run. ``ROUNDS`` (default 7) is the first argument::

    OMP_NUM_THREADS=1 .venv/bin/python bench/neurons_bench.py 9
"""

import statistics, sys, time
import torch
from ltsnn.neurons.ilif import ILIFNeuron
from ltsnn.neurons.lmht import MHTNeuron, IFConvertNeuron, LMHTNeuron
from functools import partial

torch.set_num_threads(1)
shape = (10, 16, 64, 48, 48)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
gen = torch.Generator().manual_seed(0)
x = torch.randn(shape, generator=gen) * 2 + 1
g = torch.randn(shape, generator=gen)
impls = {f"{name}_{be}": (lambda cls=cls, be=be: cls(backend=be))
         for name, cls in (("ilif", ILIFNeuron), ("mht", MHTNeuron), ("if_convert", IFConvertNeuron), ("lmht", partial(LMHTNeuron, steps=10)))
         for be in ("torch", "numba")}
def step(make):
    neuron = make()
    xb = x.detach().requires_grad_()
    (neuron(xb) * g).sum().backward()
def copy_time():
    y = torch.empty_like(x); y.copy_(x)
    t = time.perf_counter(); y.copy_(x); return time.perf_counter() - t
for make in impls.values():
    step(make)                                     # warm-up (JIT from the on-disk cache)
times = {k: [] for k in impls}; copies = []
for r in range(rounds):
    copies.append(min(copy_time() for _ in range(3)))
    for k, make in impls.items():
        t = time.perf_counter(); step(make); times[k].append(time.perf_counter() - t)
bw = 2 * x.numel() * 4 / statistics.median(copies)
floor = 18 * x.numel() / bw
print(f"copy bandwidth {bw/1e9:.1f} GB/s; floor (18 B/element) {floor*1e3:.1f} ms")
for k, v in times.items():
    med = statistics.median(v)
    ref = statistics.median(times[k.rsplit('_', 1)[0] + "_torch"])
    print(f"{k:18s} median {med*1e3:7.1f} ms  min {min(v)*1e3:7.1f}  x floor {med/floor:5.1f}  x torch {med/ref:5.2f}")
