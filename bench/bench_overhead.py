"""Per-op overhead: a chain of small ops, forward and forward+backward, tensorforge vs torch eager.

Both libraries run on one thread, interleaved round by round, median of many rounds after warm-up.
Prints a markdown table and writes JSON to bench/results/overhead.json.
Run: PYTHONPATH=python python bench/bench_overhead.py [--rounds 200] [--size 16]
"""
import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

import tensorforge as tf

OPS_PER_STEP = 6  # mul, add, tanh, sub, sigmoid, mul per step (the loop below)


def chain(x, w, b, steps):
    y = x
    for _ in range(steps):
        y = ((y * w + b).tanh() - 0.5).sigmoid() * w
    return y.sum()


def time_once(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--size", type=int, default=16)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    tf.set_num_threads(1)
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((args.size, args.size)).astype(np.float32) for _ in range(3)]
    libs = {
        "tensorforge": (tf, [tf.tensor(a, requires_grad=True) for a in arrays]),
        "torch": (torch, [torch.tensor(a, requires_grad=True) for a in arrays]),
    }

    def forward(name):
        lib, (x, w, b) = libs[name]
        with lib.no_grad():
            chain(x, w, b, args.steps)

    def forward_backward(name):
        lib, (x, w, b) = libs[name]
        x.grad = w.grad = b.grad = None
        chain(x, w, b, args.steps).backward()

    n_ops = args.steps * OPS_PER_STEP + 1
    results = {}
    for label, fn in (("forward (no_grad)", forward), ("forward + backward", forward_backward)):
        times = {name: [] for name in libs}
        for _ in range(10):  # warm-up
            for name in libs:
                fn(name)
        for _ in range(args.rounds):  # interleaved
            for name in libs:
                times[name].append(time_once(lambda: fn(name)))
        per_op = {name: statistics.median(t) / n_ops * 1e6 for name, t in times.items()}
        results[label] = {"us_per_op": per_op, "ratio": per_op["tensorforge"] / per_op["torch"]}

    print(f"Per-op overhead, {args.size}x{args.size} float32, chain of {n_ops} ops, 1 thread, "
          f"median of {args.rounds} interleaved rounds\n")
    print("| pass | tensorforge (us/op) | torch (us/op) | ratio |")
    print("|---|---:|---:|---:|")
    for label, r in results.items():
        u = r["us_per_op"]
        print(f"| {label} | {u['tensorforge']:.2f} | {u['torch']:.2f} | {r['ratio']:.2f}x |")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    out = os.path.join(os.path.dirname(__file__), "results", "overhead.json")
    with open(out, "w") as f:
        json.dump({"size": args.size, "ops": n_ops, "rounds": args.rounds, "torch": torch.__version__,
                   "machine": platform.machine(), "results": results}, f, indent=2)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
