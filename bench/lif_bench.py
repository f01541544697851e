"""Hand-run benchmark: multi-step LIF forward+backward on the CPU, ltsnn against its peers.

Times one forward and one backward pass of a LIF layer, ``spikes.backward(g)`` with ``g`` a fixed random
upstream gradient (the neuron alone, as the floor counts it; ``--upstream loss`` times
``(spikes * g).sum().backward()`` instead, the harness of the first measurements, whose loss adds ~24 bytes
per element of its own: the product, its sum, and the product's backward) over a time-major input
``[T, B, C, H, W]`` (default ``[10, 16, 64, 48, 48]``, float32), for

- ``ltsnn``        ``ltsnn.neurons.LIFNeuron(threshold_grad="sgp", backend="torch")``: decay 0.5, input x 1,
                   hard reset, fire on ``u >= V_th``, triangle surrogate (width 1), learnable layer threshold,
                   the eager reference (one autograd.Function looping over T);
- ``ltsnn_numba``  the same neuron with ``backend="numba"``: the fused CPU kernels of ``ltsnn.kernels``
                   (numba threads = torch threads; the first call's time includes the JIT or cache load);
- ``ltsnn_numba_compile``  that neuron under ``torch.compile`` (the kernels stay one custom op each);
- ``plain``        the same dynamics as a per-step PyTorch loop under autograd (written below), with
                   a triangle-surrogate ``autograd.Function`` and ``v_th`` an ``nn.Parameter``
                   (its threshold gradient is the straight-through one, ltsnn's ``"stsg"``);
- ``sj``           SpikingJelly 2.0 ``LIFNode(step_mode="m", tau=2., decay_input=False, v_threshold=1.,
                   v_reset=0., surrogate_function=PiecewiseQuadratic(alpha=1.), detach_reset=False)``,
                   eager. With ``decay_input=False`` and ``v_reset=0`` its charge is
                   ``H = V - V/tau + X = 0.5 V + X``, PiecewiseQuadratic(1) is exactly the width-1 triangle,
                   so spikes *and* input gradients equal ltsnn's; its threshold is a fixed float;
- ``sj_compile``   the same module under ``torch.compile`` (with ``--compile``; timed warm);
- ``snntorch``     ``snntorch.Leaky(beta=0.5, threshold=1.0, learn_threshold=True, reset_mechanism="zero")``
                   stepped over T in a Python loop (default ATan surrogate; its reset is detached and
                   applied at the start of the next step, which gives the same forward spikes).

The implementations are timed round-robin in one process (the order shuffled each round), since the
machine may be shared: the table gives the median and the minimum over the rounds, and the ratio of
each median to ltsnn's. Run it in the peers' venv (see docs/benchmarks.md)::

    bench/.venv-peers/bin/python bench/lif_bench.py --rounds 15 --compile --mem --breakdown numba --threads 1

``--mem`` re-runs each implementation in a fresh subprocess and reports the growth of the peak RSS
(VmHWM) over forward+backward, beyond the input and upstream gradient already allocated.
Missing peers are skipped with a note.

The **floor** row is the memory traffic a fused forward+backward cannot avoid, 24 bytes per element in
float32 (forward: read x, write spikes and u; backward: read g and u, write g_x), divided by the copy
bandwidth measured in the same process (``y.copy_(x)`` on the input's size, read + write bytes / time,
median of the rounds). Every implementation also pays for first touching its fresh output pages; the
``--prealloc-note`` line measures that cost on this machine (``torch.empty_like(x).fill_(0)`` minus a
``fill_`` of an already-touched tensor).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from typing import Callable

import torch
from torch import nn

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)   # "Triton not available" on CPU

DEFAULT_SHAPE = (10, 16, 64, 48, 48)
ALL_IMPLS = ("ltsnn", "ltsnn_numba", "ltsnn_numba_compile", "plain", "sj", "sj_compile", "snntorch")
FLOOR_BYTES_PER_ELEMENT = 24
UPSTREAM = {"backward": "spikes.backward(g)", "loss": "(spikes * g).sum().backward()"}
upstream = "backward"                                  # set by --upstream


# ----------------------------------------------------------------------------- (a) plain PyTorch loop

class TriangleSpike(torch.autograd.Function):
    """H(x) (fire on x >= 0) forward, the width-1 triangle max(0, 1 - |x|) backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (1.0 - x.abs()).clamp_min(0.0)


class PlainLIF(nn.Module):
    def __init__(self, decay: float = 0.5, v_th: float = 1.0):
        super().__init__()
        self.decay = decay
        self.v_th = nn.Parameter(torch.tensor([v_th]))

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(x_seq[0])
        spikes = []
        for x_t in x_seq.unbind(0):
            u = self.decay * v + x_t
            s = TriangleSpike.apply(u - self.v_th)
            v = u * (1.0 - s)
            spikes.append(s)
        return torch.stack(spikes)


# ----------------------------------------------------------------------------- the implementations

def make_ltsnn(threshold_grad: str = "sgp", backend: str = "torch",
               compile: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    from ltsnn.neurons import LIFNeuron

    neuron = LIFNeuron(threshold_grad=threshold_grad, v_th=1.0, decay=0.5, reset="hard", backend=backend)
    call = torch.compile(neuron, fullgraph=True) if compile else neuron

    def run(x):
        neuron.reset()
        return call(x)

    run.params = list(neuron.parameters())
    return run


def make_plain() -> Callable[[torch.Tensor], torch.Tensor]:
    mod = PlainLIF()

    def run(x):
        return mod(x)

    run.params = list(mod.parameters())
    return run


def _sj_node():
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=0.0,
                          surrogate_function=surrogate.PiecewiseQuadratic(alpha=1.0),
                          detach_reset=False, step_mode="m")


def make_sj() -> Callable[[torch.Tensor], torch.Tensor]:
    node = _sj_node()

    def run(x):
        node.reset()
        return node(x)

    run.params = []
    return run


def make_sj_compile() -> Callable[[torch.Tensor], torch.Tensor]:
    node = _sj_node()
    compiled = torch.compile(node)

    def run(x):
        node.reset()
        return compiled(x)

    run.params = []
    return run


def make_snntorch() -> Callable[[torch.Tensor], torch.Tensor]:
    import snntorch

    leaky = snntorch.Leaky(beta=0.5, threshold=1.0, learn_threshold=True, reset_mechanism="zero")

    def run(x):
        mem = leaky.reset_mem()
        spikes = []
        for x_t in x.unbind(0):
            spk, mem = leaky(x_t, mem)
            spikes.append(spk)
        return torch.stack(spikes)

    run.params = list(leaky.parameters())
    return run


MAKERS = {"ltsnn": make_ltsnn, "ltsnn_numba": lambda: make_ltsnn(backend="numba"),
          "ltsnn_numba_compile": lambda: make_ltsnn(backend="numba", compile=True), "plain": make_plain, "sj": make_sj, "sj_compile": make_sj_compile,
          "snntorch": make_snntorch}


def fwd_bwd(run, x: torch.Tensor, g: torch.Tensor) -> None:
    x.grad = None
    for p in run.params:
        p.grad = None
    if upstream == "loss":
        (run(x) * g).sum().backward()
    else:
        run(x).backward(g)


def make_inputs(shape, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    # Mean 0.5, sd 1: a firing rate of roughly 30-40%, and plenty of u inside the surrogate's support.
    x = (torch.randn(shape, generator=gen) + 0.5).requires_grad_(True)
    g = torch.randn(shape, generator=gen)
    return x, g


def versions() -> dict[str, str]:
    out = {"torch": torch.__version__, "python": platform.python_version(),
           "torch threads": str(torch.get_num_threads())}
    for mod in ("spikingjelly", "snntorch", "numba"):
        try:
            from importlib.metadata import version
            out[mod] = version(mod)
        except Exception:  # noqa: BLE001 - not installed
            out[mod] = "not installed"
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available(names) -> tuple[list[str], dict[str, str]]:
    ok, skipped = [], {}
    for name in names:
        try:
            MAKERS[name]()
            ok.append(name)
        except Exception as e:  # noqa: BLE001 - a missing peer is skipped, not fatal
            skipped[name] = f"{type(e).__name__}: {e}"
    return ok, skipped


# ----------------------------------------------------------------------------- sanity

def sanity(names) -> None:
    """On a small input: exact spikes against ltsnn, and input gradients where the maths agrees."""
    shape = (6, 3, 4, 8, 8)
    torch.manual_seed(1)
    ref_fn = make_ltsnn("sgp")
    x, g = make_inputs(shape, seed=1)
    s_ref = ref_fn(x)
    (s_ref * g).sum().backward()
    gx_ref = x.grad.clone()
    print(f"sanity on {list(shape)}: ltsnn firing rate {s_ref.mean().item():.3f}")

    # ltsnn's "stsg" threshold gradient is what plain autograd gives through u - v_th.
    stsg = make_ltsnn("stsg")
    x2 = x.detach().clone().requires_grad_(True)
    (stsg(x2) * g).sum().backward()
    gvth_stsg = stsg.params[0].grad.clone()

    for name in names:
        if name == "ltsnn":
            continue
        fn = MAKERS[name]()
        xi = x.detach().clone().requires_grad_(True)
        s = fn(xi)
        (s * g).sum().backward()
        same_spikes = torch.equal(s.detach(), s_ref.detach())
        line = f"  {name:11s} spikes equal: {same_spikes}"
        if name in ("plain", "sj", "sj_compile", "ltsnn_numba", "ltsnn_numba_compile"):
            err = (xi.grad - gx_ref).abs().max().item()
            line += f"; input grad max |diff| {err:.2e}"
            assert same_spikes and err < 1e-5, f"{name} disagrees with ltsnn"
        if name.startswith("ltsnn_"):
            err = (fn.params[0].grad - ref_fn.params[0].grad).abs().max().item()
            line += f"; v_th grad vs ltsnn |diff| {err:.2e}"
            assert err < 1e-4 * max(1.0, ref_fn.params[0].grad.abs().max().item())
        if name == "plain":
            err = (fn.params[0].grad - gvth_stsg).abs().max().item()
            line += f"; v_th grad vs ltsnn 'stsg' |diff| {err:.2e}"
            assert err < 1e-3 * max(1.0, gvth_stsg.abs().max().item())
        if name == "snntorch":
            line += " (gradients differ by design: ATan surrogate, detached reset)"
            assert same_spikes
        print(line)


# ----------------------------------------------------------------------------- timing

def time_round_robin(names, shape, rounds: int, warmup: int, seed: int = 0):
    x, g = make_inputs(shape, seed)
    fns = {}
    for name in names:
        fns[name] = MAKERS[name]()
        t0 = time.perf_counter()
        fwd_bwd(fns[name], x, g)                       # first call (a cold compile for sj_compile)
        first = time.perf_counter() - t0
        print(f"  {name}: first call {first * 1e3:.0f} ms", flush=True)
        for _ in range(warmup):
            fwd_bwd(fns[name], x, g)
    # The floor's yardstick, timed in the same rounds: a copy of the input into an already-touched tensor,
    # and the first touch of a fresh output (allocation + page faults + fill) against a fill of a warm one.
    src, dst = x.detach(), torch.empty_like(x).fill_(0)
    yardsticks = {"copy": lambda: dst.copy_(src), "fresh_fill": lambda: torch.empty_like(src).fill_(0),
                  "warm_fill": lambda: dst.fill_(0)}
    times = {name: [] for name in [*names, *yardsticks]}
    order = list(names) + list(yardsticks)
    rng = random.Random(seed)
    for r in range(rounds):
        rng.shuffle(order)
        for name in order:
            t0 = time.perf_counter()
            if name in yardsticks:
                yardsticks[name]()
            else:
                fwd_bwd(fns[name], x, g)
            times[name].append((time.perf_counter() - t0) * 1e3)
        print(f"  round {r + 1}/{rounds}: " + ", ".join(f"{n} {times[n][-1]:.0f}" for n in names), flush=True)
    return times


def breakdown(shape, rounds: int, backend: str) -> None:
    """ltsnn's forward and backward timed separately, the kernel's share (page faults), a short profile."""
    import resource

    x, g = make_inputs(shape)
    fn = make_ltsnn("sgp", backend=backend)
    fwd_bwd(fn, x, g)                                  # the JIT (or its cache) is not part of the breakdown
    fwd, bwd, sys_ms, user_ms, faults, total = [], [], [], [], [], []
    for i in range(rounds + 2):
        x.grad = None
        fn.params[0].grad = None
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        s = fn(x)
        loss, grad = ((s * g).sum(), None) if upstream == "loss" else (s, g)
        t1 = time.perf_counter()
        loss.backward(grad)
        t2 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        del s, loss
        if i >= 2:
            fwd.append((t1 - t0) * 1e3)
            bwd.append((t2 - t1) * 1e3)
            total.append((t2 - t0) * 1e3)
            sys_ms.append((r1.ru_stime - r0.ru_stime) * 1e3)
            user_ms.append((r1.ru_utime - r0.ru_utime) * 1e3)
            faults.append(r1.ru_minflt - r0.ru_minflt)
    med = statistics.median
    if os.environ.get("LIF_BENCH_VERBOSE"):
        print("forward ms", [round(t) for t in fwd], "backward ms", [round(t) for t in bwd])
    plus_loss = " (+ loss)" if upstream == "loss" else ""
    print(f"\nltsnn (backend {backend!r}) breakdown on {list(shape)} ({rounds} calls): forward{plus_loss} "
          f"median {med(fwd):.0f} ms "
          f"(min {min(fwd):.0f}), backward median {med(bwd):.0f} ms (min {min(bwd):.0f}); "
          f"{med(total):.0f} ms wall; CPU time over all threads: user {med(user_ms):.0f} ms, "
          f"kernel (sys) {med(sys_ms):.0f} ms; "
          f"{med(faults):.0f} minor page faults ({med(faults) * 4 / 1024:.0f} MiB first-touched) per call")
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            fwd_bwd(fn, x, g)
    print("torch.profiler, 3 calls:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def _vm_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def mem_child(name: str, shape) -> None:
    """Peak RSS growth of forward+backward over the set-up process (input, g and module allocated).

    Reads the mm's own high-water mark (VmHWM): ``ru_maxrss`` keeps the parent's peak across fork+exec.
    The mark is reset after set-up through /proc/self/clear_refs where the kernel allows it."""
    x, g = make_inputs(shape)
    fn = MAKERS[name]()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                              # reset VmHWM to the current RSS
        before = _vm_kib("VmRSS")
    except OSError:
        before = _vm_kib("VmHWM")
    for _ in range(3 if name != "sj_compile" else 4):
        fwd_bwd(fn, x, g)
    after = _vm_kib("VmHWM")
    print(json.dumps({"name": name, "peak_growth_mib": (after - before) / 1024}))


def mem_all(names, shape) -> dict[str, float]:
    out = {}
    for name in names:
        cmd = [sys.executable, os.path.abspath(__file__), "--mem-child", name, "--upstream", upstream,
               "--shape", ",".join(map(str, shape)), "--threads", str(torch.get_num_threads())]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        try:
            out[name] = json.loads(res.stdout.strip().splitlines()[-1])["peak_growth_mib"]
        except Exception:  # noqa: BLE001
            print(f"  mem {name} failed: {res.stderr[-500:]}")
    return out


def fmt(ms: float) -> str:
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}"


def table(times, mem, shape) -> str:
    times = dict(times)
    copy, fresh, warm = (times.pop(k) for k in ("copy", "fresh_fill", "warm_fill"))
    numel = torch.Size(shape).numel()
    med = statistics.median
    bandwidth = 2 * numel * 4 / (med(copy) * 1e-3) / 1e9                   # GB/s, read + write
    floor = FLOOR_BYTES_PER_ELEMENT * numel / (bandwidth * 1e9) * 1e3       # ms
    ref = med(times["ltsnn"]) if "ltsnn" in times else None
    head = "| implementation | median ms | min ms | median / floor | median / ltsnn median |"
    sep = "|---|---:|---:|---:|---:|"
    if mem:
        head += " peak RSS growth MiB |"
        sep += "---:|"
    floor_row = (f"| floor ({FLOOR_BYTES_PER_ELEMENT} B/element at {bandwidth:.1f} GB/s) | {fmt(floor)} | - | 1.00 | "
                 f"{f'{floor / ref:.2f}' if ref else '-'} |")
    rows = [head, sep, floor_row + (" - |" if mem else "")]
    for name, ts in times.items():
        row = f"| {name} | {fmt(med(ts))} | {fmt(min(ts))} | {med(ts) / floor:.1f} | " \
              f"{f'{med(ts) / ref:.2f}' if ref else '-'} |"
        if mem:
            row += f" {mem[name]:.0f} |" if name in mem else " - |"
        rows.append(row)
    note = (f"\nShape {list(shape)} float32 ({numel * 4 / 2**20:.0f} MiB per tensor), {len(copy)} rounds, "
            f"{torch.get_num_threads()} torch thread(s), forward + {UPSTREAM[upstream]}. "
            f"Copy of one tensor {fmt(med(copy))} ms; first touch of a fresh tensor of that size costs "
            f"{fmt(med(fresh) - med(warm))} ms (fresh empty+fill {fmt(med(fresh))} ms, warm fill {fmt(med(warm))} ms).")
    return "\n".join(rows) + note


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default=",".join(map(str, DEFAULT_SHAPE)), help="T,B,C,H,W (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=11, help="timed rounds per implementation (default 11)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls after the first (default 2)")
    ap.add_argument("--compile", action="store_true", help="also time SpikingJelly and ltsnn_numba under torch.compile")
    ap.add_argument("--impls", default=None, help=f"comma-separated subset of {','.join(ALL_IMPLS)}")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's own)")
    ap.add_argument("--mem", action="store_true", help="peak RSS growth per implementation (subprocesses)")
    ap.add_argument("--breakdown", default=None, choices=["torch", "numba"],
                    help="ltsnn forward/backward split and a profile, on this backend")
    ap.add_argument("--upstream", default="backward", choices=list(UPSTREAM),
                    help="backward: spikes.backward(g), the neuron alone (default); "
                         "loss: (spikes * g).sum().backward()")
    ap.add_argument("--no-sanity", action="store_true")
    ap.add_argument("--mem-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    shape = tuple(int(s) for s in args.shape.split(","))
    global upstream
    upstream = args.upstream

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mem_child:
        mem_child(args.mem_child, shape)
        return

    wanted = args.impls.split(",") if args.impls else [n for n in ALL_IMPLS if "compile" not in n or args.compile]
    names, skipped = available(wanted)
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    print(f"nproc {os.cpu_count()}, CPU {cpu_model()}")
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    if not args.no_sanity:
        sanity(names)
    print(f"\ntiming {names} on {list(shape)}, {args.rounds} rounds", flush=True)
    times = time_round_robin(names, shape, args.rounds, args.warmup)
    mem = mem_all(names, shape) if args.mem else {}
    print()
    print(table(times, mem, shape))
    if args.breakdown:
        breakdown(shape, max(3, args.rounds // 2), args.breakdown)


if __name__ == "__main__":
    main()
