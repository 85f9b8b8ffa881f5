"""conv2d benchmark: ours (tensorforge._C.conv2d_*) vs torch CPU (oneDNN), one process.

Each layer is timed in three directions: forward (with bias), grad-input and grad-weight; torch's
backward directions are aten.convolution_backward with a one-hot output mask, so each direction
is timed alone. Both libraries allocate their outputs on every call. Rounds interleave the two libraries (bench_gemm.time_interleaved: an untimed
lead-in per library, then timed calls, median), inputs rotate between two copies, threads are
pinned for both (torch.set_num_threads, tensorforge.set_num_threads). GFLOP/s counts
2 * N * C_out * OH * OW * C_in/groups * kH * kW per direction; the FMA peak of this machine is
measured in the same run. Prints a markdown table and writes JSON to bench/results/conv.json.

--cpu-time (one thread only) times each call by the process's CPU time instead of the wall clock:
on a shared machine other processes then cost us no time, only cache pollution, so the ratios
stay meaningful when the load average is above the core count.
"""
import argparse
import json
import os

import time

import numpy as np

import bench_gemm
import tensorforge
from tensorforge import _C
from bench_gemm import cpu_model, geomean, time_interleaved

# (name, N, C_in, H, W, C_out, k, stride, padding)
MNIST = [("mnist conv1", 64, 1, 28, 28, 32, 3, 1, 0), ("mnist conv2", 64, 32, 26, 26, 64, 3, 1, 0)]
RESNET_LAYERS = [
    ("3x3 64@56", 64, 56, 56, 64, 3, 1, 1),
    ("3x3 128@28", 128, 28, 28, 128, 3, 1, 1),
    ("3x3 256@14", 256, 14, 14, 256, 3, 1, 1),
    ("3x3 256@7", 256, 7, 7, 256, 3, 1, 1),
    ("3x3 s2 128->256@28", 128, 28, 28, 256, 3, 2, 1),
    ("1x1 64->256@56", 64, 56, 56, 256, 1, 1, 0),
    ("1x1 256->64@56", 256, 56, 56, 64, 1, 1, 0),
    ("1x1 256->256@14", 256, 14, 14, 256, 1, 1, 0),
    ("1x1 s2 128->256@28", 128, 28, 28, 256, 1, 2, 0),
]
QUICK = [MNIST[1], ("resnet 3x3 64@56", 8, 64, 56, 56, 64, 3, 1, 1), ("resnet 1x1 64->256@56", 8, 64, 56, 56, 256, 1, 1, 0),
         ("resnet 3x3 256@14", 8, 256, 14, 14, 256, 3, 1, 1)]
DIRECTIONS = ("forward", "grad_input", "grad_weight")


class ProcessClock:
    """The `time` module as time_interleaved uses it, reading the process's CPU time."""
    perf_counter = staticmethod(time.process_time)


def layers(quick):
    if quick:
        return QUICK
    out = list(MNIST)
    for n in (8, 32):
        out += [(f"resnet {name}", n, *rest) for name, *rest in RESNET_LAYERS]
    return out


def bench_layer(layer, threads, rounds, min_seconds, torch):
    name, n, c_in, h, w, c_out, k, stride, pad = layer
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((n, c_in, h, w), dtype=np.float32) for _ in range(2)]
    dys = [rng.standard_normal((n, c_out, oh, ow), dtype=np.float32) for _ in range(2)]
    wt = rng.standard_normal((c_out, c_in, k, k), dtype=np.float32)
    b = rng.standard_normal(c_out, dtype=np.float32)
    geo = ((stride, stride), (pad, pad), (1, 1), 1)
    txs, tdys = [torch.from_numpy(a) for a in xs], [torch.from_numpy(a) for a in dys]
    tw, tb = torch.from_numpy(wt), torch.from_numpy(b)
    state = {"i": 0}

    def pick():
        state["i"] ^= 1
        return state["i"]

    def torch_backward(mask):
        def run():
            i = pick()
            torch.ops.aten.convolution_backward(tdys[i], txs[i], tw, [c_out], [stride] * 2, [pad] * 2, [1, 1], False,
                                                [0, 0], 1, mask)
        return run

    # Ours allocate their outputs on every call, as torch does (and as F.conv2d does).
    def ours_forward():
        _C.conv2d_forward(xs[pick()], wt, b, np.empty_like(dys[0]), *geo)

    def ours_grad_input():
        _C.conv2d_grad_input(dys[pick()], wt, np.empty_like(xs[0]), *geo)

    def ours_grad_weight():
        i = pick()
        _C.conv2d_grad_weight(xs[i], dys[i], np.empty_like(wt), *geo)

    ours = {"forward": ours_forward, "grad_input": ours_grad_input, "grad_weight": ours_grad_weight}
    peer = {
        "forward": lambda: (lambda i: torch.nn.functional.conv2d(txs[i], tw, tb, stride, pad))(pick()),
        "grad_input": torch_backward([True, False, False]),
        "grad_weight": torch_backward([False, True, False]),
    }
    flops = 2.0 * n * c_out * oh * ow * c_in * k * k
    result = {}
    with torch.no_grad():
        for d in DIRECTIONS:
            t_ours, t_torch = time_interleaved([ours[d], peer[d]], rounds, min_seconds, timed_calls=3,
                                               lead_in=0.05 if threads > 1 else 0.0)
            result[d] = {"ours": flops / t_ours * 1e-9, "torch": flops / t_torch * 1e-9}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few layers, few repeats")
    parser.add_argument("--threads", type=int, nargs="*", default=None, help="thread counts (default: all cores)")
    parser.add_argument("--only", default=None, help="run only layers whose name contains this text")
    parser.add_argument("--cpu-time", action="store_true", help="time by process CPU time (one thread only)")
    parser.add_argument("--peak", type=float, default=None,
                        help="FMA peak GFLOP/s per thread to report against instead of measuring it (loaded machine)")
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "conv.json"))
    args = parser.parse_args()
    import torch

    cores = os.cpu_count() or 1
    if args.cpu_time:
        if (args.threads or [cores]) != [1]:
            parser.error("--cpu-time needs --threads 1 (CPU time of several threads is not a duration)")
        bench_gemm.time = ProcessClock  # time_interleaved reads its clock as bench_gemm.time.perf_counter
    rounds, min_seconds = (3, 0.3) if args.quick else (7, 1.0)
    rows = []
    for threads in args.threads or [cores]:
        tensorforge.set_num_threads(threads)
        torch.set_num_threads(threads)
        peak = args.peak * threads if args.peak else bench_gemm.fma_peak_gflops(threads)
        for layer in layers(args.quick):
            if args.only and args.only not in layer[0]:
                continue
            r = bench_layer(layer, threads, rounds, min_seconds, torch)
            rows.append({"layer": layer[0], "shape": list(layer[1:]), "threads": threads, "peak_gflops": peak, **r})
            print(f"{layer[0]} N={layer[1]} thr={threads}: " + ", ".join(
                f"{d} {r[d]['ours']:.0f}/{r[d]['torch']:.0f}" for d in DIRECTIONS), flush=True)

    clock = "process CPU time" if args.cpu_time else "wall clock"
    print(f"\nconv2d float32, {cpu_model()}, {cores} cores, SIMD path {_C.active_isa()}, torch {torch.__version__}; "
          f"GFLOP/s (ours / torch), median of interleaved runs, {clock}\n")
    print("| layer | N | C_in->C_out | HxW | k/s | thr | " + " | ".join(f"{d} ours/torch GF/s | ratio"
                                                             for d in DIRECTIONS) + " | % peak (fwd/gi/gw) |")
    print("|" + "---|" * (6 + 2 * len(DIRECTIONS) + 1))
    for r in rows:
        n, c_in, h, w, c_out, k, s, _ = r["shape"]
        cells = " | ".join(f"{r[d]['ours']:.0f} / {r[d]['torch']:.0f} | {r[d]['ours'] / r[d]['torch']:.2f}"
                           for d in DIRECTIONS)
        pk = "/".join(f"{100 * r[d]['ours'] / r['peak_gflops']:.0f}" for d in DIRECTIONS)
        print(f"| {r['layer']} | {n} | {c_in}->{c_out} | {h}x{w} | {k}/{s} | {r['threads']} | {cells} | {pk}% |")
    print()
    for d in DIRECTIONS:
        ratios = [r[d]["ours"] / r[d]["torch"] for r in rows]
        worst = min(rows, key=lambda r: r[d]["ours"] / r[d]["torch"])
        print(f"{d}: geomean ours/torch {geomean(ratios):.2f}, min {min(ratios):.2f} ({worst['layer']} N={worst['shape'][0]})")
    peaks = {r["threads"]: r["peak_gflops"] for r in rows}
    print(("FMA peak given (--peak): " if args.peak else "FMA peak measured: ") + ", ".join(f"{t} thr {p:.0f} GFLOP/s" for t, p in peaks.items()))
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": cpu_model(), "cores": cores, "isa": _C.active_isa(), "clock": clock, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
