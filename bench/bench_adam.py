"""AdamW step benchmark: ours (tensorforge.optim.AdamW, the fused multi-tensor kernel) vs
torch.optim.AdamW(fused=True) and AdamW(foreach=True), one process.

For each model size (1M, 16M, 64M float32 parameters over ~100 tensors of mixed sizes, fixed seed)
and thread count, the three optimizers step the same parameter arrays with the same gradients,
interleaved round by round after a warm-up (each library first runs untimed for a lead-in so its
thread pool is awake and the previous library's spinning workers have gone), median of all
timed calls. Threads are pinned for both libraries. Effective bandwidth counts the minimum
traffic of 28 bytes per parameter (read p, g, m, v; write p, m, v) and is compared with the copy
bandwidth measured in the same run just before each model (a multithreaded copy of 256 MiB, read +
written bytes, best of 10).
Prints a markdown table and writes JSON to bench/results/adam.json.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import tensorforge
from tensorforge import _C

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gemm import cpu_model  # noqa: E402

BYTES_PER_PARAM = 28


def model_sizes(total, count, rng):
    """`count` tensor sizes summing to `total`: log-uniform from bias-like (tens) to matrix-like, shuffled."""
    raw = np.exp(rng.uniform(np.log(16), np.log(total / 4), count))
    sizes = np.maximum(1, np.floor(raw / raw.sum() * total)).astype(np.int64)
    sizes[np.argmax(sizes)] += total - sizes.sum()
    return [int(s) for s in sizes]


def time_interleaved(fns, rounds, timed_calls, lead_in):
    times = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            end = time.perf_counter() + lead_in
            fn()
            while time.perf_counter() < end:
                fn()
            for _ in range(timed_calls):
                t0 = time.perf_counter()
                fn()
                times[i].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def bench_model(total, threads, rounds, torch):
    rng = np.random.default_rng(0)
    sizes = model_sizes(total, 100, rng)
    params = [rng.standard_normal(n, dtype=np.float32) for n in sizes]
    grads = [(1e-3 * rng.standard_normal(n, dtype=np.float32)) for n in sizes]

    ours_p = [tensorforge.Tensor(p) for p in params]  # wraps the arrays, no copy
    for p, g in zip(ours_p, grads):
        p.requires_grad_(True)
        p.grad = tensorforge.Tensor(g)
    ours = tensorforge.optim.AdamW(ours_p, lr=1e-3, weight_decay=0.01)
    fns, names = [ours.step], ["ours"]
    if torch is not None:
        torch_p = [torch.from_numpy(p).requires_grad_(True) for p in params]  # the same arrays
        for p, g in zip(torch_p, grads):
            p.grad = torch.from_numpy(g)
        fused = torch.optim.AdamW(torch_p, lr=1e-3, weight_decay=0.01, fused=True)
        foreach = torch.optim.AdamW(torch_p, lr=1e-3, weight_decay=0.01, foreach=True)
        fns += [fused.step, foreach.step]
        names += ["torch_fused", "torch_foreach"]
    tensorforge.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    for fn in fns:  # creates the optimizer states
        fn()
    timed_calls = 3 if total >= 16_000_000 else 10
    secs = time_interleaved(fns, rounds, timed_calls, lead_in=0.05 if threads > 1 else 0.0)
    return {"tensors": len(sizes), **{name: s for name, s in zip(names, secs)}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="*", default=[1e6, 16e6, 64e6], help="parameter counts")
    parser.add_argument("--threads", type=int, nargs="*", default=None, help="thread counts (default: 1 and all)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "adam.json"))
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        torch = None

    cores = os.cpu_count() or 1
    rows = []
    for threads in args.threads or sorted({1, cores}):
        for total in (int(s) for s in args.sizes):
            tensorforge.set_num_threads(threads)
            copy_gbs = _C.measure_copy_bandwidth_gbs(256 << 20, threads, 10)  # right before, on a shared machine
            r = bench_model(total, threads, args.rounds, torch)
            r.update(params=total, threads=threads, copy_gbs=copy_gbs)
            rows.append(r)

    print(f"\nAdamW step, float32, {cpu_model()}, {cores} cores, SIMD path {_C.active_isa()}; "
          f"median ms per step, GB/s at {BYTES_PER_PARAM} B/param")
    print("| params | tensors | threads | ours ms | torch fused ms | torch foreach ms | ours / fused speed-up "
          "| ours / foreach speed-up | ours GB/s | copy GB/s | ours / copy |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        gbs = BYTES_PER_PARAM * r["params"] / r["ours"] * 1e-9
        r["ours_gbs"] = gbs
        fused = r.get("torch_fused", float("nan"))
        foreach = r.get("torch_foreach", float("nan"))
        print(f"| {r['params'] / 1e6:.0f}M | {r['tensors']} | {r['threads']} | {r['ours'] * 1e3:.2f} | "
              f"{fused * 1e3:.2f} | {foreach * 1e3:.2f} | {fused / r['ours']:.2f}x | {foreach / r['ours']:.2f}x | "
              f"{gbs:.1f} | {r['copy_gbs']:.1f} | {gbs / r['copy_gbs']:.0%} |")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"cpu": cpu_model(), "cores": cores, "isa": _C.active_isa(),
                   "torch": getattr(torch, "__version__", None), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
