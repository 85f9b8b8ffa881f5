"""LSTM (and GRU) training step (forward + backward of the whole sequence), tensorforge vs torch eager on the CPU.

Both libraries run with the same explicit thread count (ours, torch, and numpy's BLAS through
threadpoolctl when it is installed), interleaved round by round after warm-up, inputs rotated
among several sequences; the median per library is reported with the ratio ours / torch and the
achieved GFLOP/s against this machine's FMA peak measured in the same run. CPU time
(time.process_time) is recorded beside wall time: on a shared, loaded machine it is the steadier
figure for one thread.
FLOPs counted: the GEMMs only (forward 2*L*N*4H*(in+H) per layer and direction, backward twice
that); the gate math is O(L*N*H) and left out.
Prints a markdown table and writes JSON to bench/results/rnn.json.
Run: PYTHONPATH=python python bench/bench_rnn.py [--threads 1] [--rounds 30]
"""
import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

import tensorforge as tf
from tensorforge import _C

CASES = [  # (layer, seq, batch, input, hidden, layers)
    ("LSTM", 64, 32, 128, 256, 1),
    ("LSTM", 64, 32, 128, 256, 2),
    ("GRU", 64, 32, 128, 256, 1),
]
GATES = {"LSTM": 4, "GRU": 3}


def gemm_flops(kind, seq, batch, inp, hidden, layers):
    total = 0
    for layer in range(layers):
        fan_in = inp if layer == 0 else hidden
        total += 3 * 2 * seq * batch * GATES[kind] * hidden * (fan_in + hidden)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    tf.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    peak = _C.measure_fma_peak_gflops(args.threads, 0.3)
    rows = []
    for kind, seq, batch, inp, hidden, layers in CASES:
        ours = getattr(tf.nn, kind)(inp, hidden, num_layers=layers)
        theirs = getattr(torch.nn, kind)(inp, hidden, num_layers=layers)
        ours.load_state_dict(theirs.state_dict())
        xs = [rng.standard_normal((seq, batch, inp)).astype(np.float32) for _ in range(4)]
        inputs = {"tensorforge": [tf.tensor(x) for x in xs], "torch": [torch.tensor(x) for x in xs]}
        models = {"tensorforge": ours, "torch": theirs}

        def step(name, i):
            model = models[name]
            x = inputs[name][i % len(xs)]
            model.zero_grad()
            out, h = model(x)
            h = h[0] if isinstance(h, tuple) else h
            (out.sum() + h.sum()).backward()

        times = {name: [] for name in models}
        cpu = {name: [] for name in models}
        for i in range(args.warmup):
            for name in models:
                step(name, i)
        for i in range(args.rounds):
            for name in models:
                c0, t0 = time.process_time(), time.perf_counter()
                step(name, i)
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
        med = {name: statistics.median(t) for name, t in times.items()}
        med_cpu = {name: statistics.median(t) for name, t in cpu.items()}
        flops = gemm_flops(kind, seq, batch, inp, hidden, layers)
        rows.append({"layer": kind, "seq": seq, "batch": batch, "input": inp, "hidden": hidden, "layers": layers,
                     "ms": {k: v * 1e3 for k, v in med.items()}, "ratio": med["tensorforge"] / med["torch"],
                     "cpu_ms": {k: v * 1e3 for k, v in med_cpu.items()},
                     "cpu_ratio": med_cpu["tensorforge"] / med_cpu["torch"],
                     "gflops": {k: flops / v / 1e9 for k, v in med.items()}, "peak_gflops": peak})

    print(f"LSTM / GRU forward + backward, float32, {args.threads} thread(s), median of {args.rounds} interleaved rounds, "
          f"FMA peak {peak:.0f} GFLOP/s\n")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; CPU time (process_time) "
          "is the steadier figure on a shared machine\n")
    print("| layer: seq x batch, in -> hidden, layers | tensorforge (ms) | torch (ms) | ours / torch | CPU-time ratio | "
          "ours % of peak | torch % of peak |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['layer']}: {r['seq']}x{r['batch']}, {r['input']} -> {r['hidden']}, {r['layers']} | {r['ms']['tensorforge']:.1f} | "
              f"{r['ms']['torch']:.1f} | {r['ratio']:.2f}x | {r['cpu_ratio']:.2f}x | {100 * r['gflops']['tensorforge'] / peak:.0f}% | "
              f"{100 * r['gflops']['torch'] / peak:.0f}% |")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    out = os.path.join(os.path.dirname(__file__), "results", "rnn.json")
    with open(out, "w") as f:
        json.dump({"threads": args.threads, "rounds": args.rounds, "torch": torch.__version__,
                   "machine": platform.machine(), "load_average": os.getloadavg(), "rows": rows}, f, indent=2)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
