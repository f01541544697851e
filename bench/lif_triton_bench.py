"""Hand-run GPU benchmark: the Triton LIF kernels against the memory floor and SpikingJelly 2.0's Triton LIF.

Needs a CUDA GPU, torch with CUDA and triton (SpikingJelly 2.0 optional). One command::

    python bench/lif_triton_bench.py                       # [10, 16, 64, 48, 48] float32
    python bench/lif_triton_bench.py --blocks 512,1024,2048 --json bench_gpu.json
    TRITON_INTERPRET=1 python bench/lif_triton_bench.py --dry-run      # no GPU: checks this script itself

First it checks, on CUDA, the kernels against the torch reference ``ltsnn.functional.neuron.lif_multistep``:
in float64 against the CPU reference for every threshold-gradient mode and both resets (nondefault
leak, surrogate width, per-channel thresholds, odd sizes), and at the benchmark shape in float32 against
the reference run on the same GPU. It stops if a check fails.

Then it times, with CUDA events (median over ``--rounds``, each round ``--reps`` back-to-back calls so that
Python launch overhead hides behind GPU work; all in one process, round-robin):

- ``copy``          ``dst.copy_(src)`` of a 1 GiB buffer: the device's copy bandwidth B (read + write);
- ``triton raw``    ``lif_forward`` + ``lif_backward`` on ``[T, N]`` (sgp, triangle width 1, hard reset,
                    decay 0.5, input × 1, fire on u >= V_th): exactly what the dispatch runs;
- ``triton op``     ``ltsnn.kernels.lif_multistep(backend="triton")`` with a learnable layer threshold and
                    autograd (``spikes.backward(g)``): the custom op as a model sees it;
- ``torch eager``   ``ltsnn.functional.neuron.lif_multistep`` on CUDA, the same autograd call;
- ``sj triton``     SpikingJelly 2.0 ``LIFNode(tau=2, decay_input=False, v_threshold=1, v_reset=0,
                    PiecewiseQuadratic(alpha=1), step_mode="m")`` with ``SJ_LIF_CUDA_IMPLEMENTATION=triton``:
                    the same dynamics and input gradient (docs/benchmarks.md), fixed threshold
                    (``SJ_LIF_CUDA_IMPLEMENTATION=cuda`` in the environment times its CUDA C++ kernel).

The floor is the bytes a fused forward + backward must move, 6 tensors of [T, N] (forward: read x, write
spikes and u; backward: read ∂L/∂S and u, write ∂L/∂x), divided by B. ``--blocks`` re-times ``triton raw``
at other block sizes (``lif_triton.BLOCK``, read at each launch).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("SJ_LIF_CUDA_IMPLEMENTATION", "triton")      # read when spikingjelly is imported
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ltsnn.functional.neuron import THRESHOLD_GRADS, lif_multistep  # noqa: E402
from ltsnn.kernels import lif_triton  # noqa: E402
from ltsnn.kernels import lif_multistep as lif_multistep_backend  # noqa: E402

DEFAULT_SHAPE = (10, 16, 64, 48, 48)
DEVICE = "cuda"                                                  # "cpu" with --dry-run
RAW_OPTS = dict(decay=0.5, input_scale=1.0, hard_reset=True, fire_on_equal=True)


# ----------------------------------------------------------------------------- correctness on CUDA

def raw_lif(x_seq, v_th, v_init, g_seq, g_v_last, *, decay, input_scale, reset, detach_reset, fire_on_equal,
            threshold_grad, surrogate, width):
    """The raw kernels on [T, B, ...]: spikes, v_last, g_x, g_vth (reduced to v_th's shape), g_v_init."""
    T, step = x_seq.shape[0], x_seq.shape[1:]
    v_th_n = v_th.expand(step).reshape(-1).contiguous()
    s, u, v_last = lif_triton.lif_forward(x_seq.reshape(T, -1), v_th_n, v_init.expand(step).reshape(-1).contiguous(),
                                          decay, input_scale, reset == "hard", fire_on_equal)
    g_x, g_vth, g_v_init = lif_triton.lif_backward(g_seq.reshape(T, -1), g_v_last.reshape(-1), u, v_th_n, decay,
                                                   input_scale, reset == "hard", detach_reset, fire_on_equal,
                                                   threshold_grad, surrogate, width)
    return (s.view(x_seq.shape), v_last.view(step), g_x.view(x_seq.shape),
            g_vth.view(step).sum_to_size(v_th.shape), g_v_init.view(step))


def torch_lif(x_seq, v_th, v_init, g_seq, g_v_last, **opts):
    """The reference with autograd, on whatever device and dtype its inputs have; the same five results."""
    x_seq, v_th, v_init = (t.detach().clone().requires_grad_() for t in (x_seq, v_th, v_init))
    s, v_last = lif_multistep(x_seq, v_th, v_init=v_init, **opts)
    grads = torch.autograd.grad((s * g_seq).sum() + (v_last * g_v_last).sum(), [x_seq, v_th, v_init],
                                allow_unused=True)
    return (s.detach(), v_last.detach()) + tuple(grads)


def compare(name, got, ref, rtol, atol) -> str:
    """Raise unless spikes are equal and the rest close; return a one-line summary."""
    mismatched = int((got[0].cpu() != ref[0].cpu()).sum())
    if mismatched:
        raise SystemExit(f"FAIL {name}: {mismatched} spikes differ from the reference")
    worst = 0.0
    for label, a, b in zip(("v_last", "g_x", "g_vth", "g_v_init"), got[1:], ref[1:]):
        if b is None:                                           # "fixed": the reference has no g_vth
            continue
        a, b = a.cpu().double(), b.cpu().double()
        if not torch.allclose(a, b, rtol=rtol, atol=atol):
            raise SystemExit(f"FAIL {name}: {label} max |diff| {float((a - b).abs().max()):.3g}")
        worst = max(worst, float((a - b).abs().max()))
    return f"ok   {name}: spikes equal, max |diff| {worst:.2g}"


def check(shape) -> None:
    gen = torch.Generator().manual_seed(0)
    small = (5, 3, 4, 7, 9)                                     # N = 756, odd
    for mode in THRESHOLD_GRADS:
        for reset in ("hard", "soft"):
            opts = dict(decay=0.3, input_scale=0.7, reset=reset, detach_reset=False, fire_on_equal=True,
                        threshold_grad=mode, surrogate="sigmoid", width=2.5)
            inputs = (torch.randn(small, generator=gen, dtype=torch.float64) + 0.5,
                      torch.rand(4, 1, 1, generator=gen, dtype=torch.float64) + 0.5,
                      torch.randn(small[1:], generator=gen, dtype=torch.float64) * 0.3,
                      torch.randn(small, generator=gen, dtype=torch.float64),
                      torch.randn(small[1:], generator=gen, dtype=torch.float64))
            ref = torch_lif(*inputs, **opts)
            got = raw_lif(*(t.to(DEVICE) for t in inputs), **opts)
            print(compare(f"float64 {mode:<15} {reset}", got, ref, rtol=1e-10, atol=1e-12))
    opts = dict(decay=0.5, input_scale=1.0, reset="hard", detach_reset=False, fire_on_equal=True,
                threshold_grad="sgp", surrogate="triangle", width=1.0)
    x, g = make_inputs(shape)
    inputs = (x, torch.ones(1, device=DEVICE), torch.zeros(shape[1:], device=DEVICE), g,
              torch.zeros(shape[1:], device=DEVICE))
    got, ref = raw_lif(*inputs, **opts), torch_lif(*inputs, **opts)
    # g_vth sums 2.4 M float32 terms in different orders: compare it relatively.
    print(compare(f"float32 {list(shape)} against the reference on {DEVICE}", got, ref, rtol=1e-4, atol=1e-4))


# ----------------------------------------------------------------------------- timing

def make_inputs(shape, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    # Mean 0.5, sd 1 (as bench/lif_bench.py): ~30-40% firing, plenty of u inside the surrogate's support.
    return (torch.randn(shape, generator=gen) + 0.5).to(DEVICE), torch.randn(shape, generator=gen).to(DEVICE)


def make_runs(shape, x_seq, g_seq) -> dict:
    T, N = shape[0], x_seq[0].numel()
    x, g = x_seq.reshape(T, N), g_seq.reshape(T, N)
    v_th, zeros = torch.ones(N, device=DEVICE), torch.zeros(N, device=DEVICE)

    def raw():
        _, u, _ = lif_triton.lif_forward(x, v_th, zeros, **RAW_OPTS)
        lif_triton.lif_backward(g, zeros, u, v_th, detach_reset=False, mode="sgp", surrogate="triangle",
                                width=1.0, **RAW_OPTS)

    x_leaf = x_seq.clone().requires_grad_()
    v_th_param = torch.nn.Parameter(torch.ones(1, device=DEVICE))

    def autograd(fn):
        def run():
            x_leaf.grad = v_th_param.grad = None
            fn().backward(g_seq)
        return run

    runs = {"triton raw": raw,
            "triton op": autograd(lambda: lif_multistep_backend(x_leaf, v_th_param, backend="triton")[0]),
            "torch eager": autograd(lambda: lif_multistep(x_leaf, v_th_param)[0])}
    try:
        from spikingjelly.activation_based import neuron, surrogate
    except ImportError as err:
        print(f"note: SpikingJelly not timed ({err})")
    else:
        node = neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=0.0,
                              surrogate_function=surrogate.PiecewiseQuadratic(alpha=1.0), detach_reset=False,
                              step_mode="m").to(DEVICE)

        def sj():
            node.reset()
            return node(x_leaf)

        if DEVICE == "cuda":                                     # which kernel SJ really runs (private API)
            try:
                from spikingjelly._ops.lif import _selection
                print(f"sj implementation: {_selection.diagnostics(torch.device(DEVICE))}")
            except (ImportError, AttributeError) as err:
                print(f"note: could not ask SpikingJelly which LIF kernel it runs ({err})")
        s_sj, s_ours = sj(), lif_multistep(x_seq, 1.0)[0]
        print(f"sj triton vs ltsnn: {int((s_sj != s_ours).sum())} of {s_sj.numel()} spikes differ")
        runs["sj triton"] = autograd(sj)
    return runs


def time_ms(fn, reps: int) -> float:
    if DEVICE != "cuda":                                         # --dry-run: wall clock
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - start) * 1e3 / reps
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / reps


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default=",".join(map(str, DEFAULT_SHAPE)), help="T,B,C,H,W")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--blocks", default=str(lif_triton.BLOCK), help="block sizes to time 'triton raw' at")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--dry-run", action="store_true",
                        help="run every step at a tiny shape on the CPU (needs TRITON_INTERPRET=1); times mean nothing")
    args = parser.parse_args(argv)
    global DEVICE
    shape = tuple(int(s) for s in args.shape.split(","))
    copy_elements = 2 ** 28                                      # 1 GiB float32, far beyond L2
    if args.dry_run:
        if not lif_triton._INTERPRETED:
            raise SystemExit("--dry-run needs TRITON_INTERPRET=1 in the environment")
        DEVICE, shape, copy_elements, args.rounds, args.reps = "cpu", (3, 2, 4, 8, 8), 2 ** 16, 2, 1
    elif not torch.cuda.is_available():
        raise SystemExit("lif_triton_bench needs a CUDA GPU (torch.cuda.is_available() is False); "
                         "--dry-run checks the script on the CPU")
    device_name = torch.cuda.get_device_name() if DEVICE == "cuda" else "CPU (dry run, triton interpreter)"
    print(f"{device_name}, torch {torch.__version__}, triton {lif_triton.triton.__version__}")

    check(shape)

    buf = torch.empty(copy_elements, device=DEVICE)
    dst = torch.empty_like(buf)
    x_seq, g_seq = make_inputs(shape)
    runs = {"copy": lambda: dst.copy_(buf), **make_runs(shape, x_seq, g_seq)}

    def at_block(block):                                         # "triton raw" with another BLOCK
        def run():
            default, lif_triton.BLOCK = lif_triton.BLOCK, block
            try:
                runs["triton raw"]()
            finally:
                lif_triton.BLOCK = default
        return run

    runs.update({f"triton raw, BLOCK {b}": at_block(b) for b in map(int, args.blocks.split(","))
                 if b != lif_triton.BLOCK})
    for fn in runs.values():                                     # compile and warm up
        fn()
    times = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            times[name].append(time_ms(fn, args.reps))

    median = {name: statistics.median(t) for name, t in times.items()}
    bandwidth = 2 * buf.numel() * buf.element_size() / (median["copy"] * 1e-3)    # bytes/s
    floor_ms = 6 * x_seq.numel() * x_seq.element_size() / bandwidth * 1e3
    print(f"\n{list(shape)} float32; copy bandwidth {bandwidth / 1e9:.0f} GB/s; floor {floor_ms:.3f} ms "
          f"(24 bytes/element); median of {args.rounds} rounds x {args.reps} calls\n")
    print("| implementation | ms | x floor |\n|---|---:|---:|")
    print(f"| floor | {floor_ms:.3f} | 1.00 |")
    for name, ms in median.items():
        if name != "copy":
            print(f"| {name} | {ms:.3f} | {ms / floor_ms:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"device": device_name, "shape": shape,
                                         "bandwidth_GBps": bandwidth / 1e9, "floor_ms": floor_ms,
                                         "median_ms": median, "all_ms": times}, indent=1))


if __name__ == "__main__":
    main()
