"""Attention benchmark: our fused kernel (F.scaled_dot_product_attention) vs torch's
scaled_dot_product_attention on the CPU vs a plain matmul-softmax-matmul path of our own ops.

Cases: batch B in {1, 8, 32}, heads 8..12, L = S in {128, 512, 1024, 2048}, E = 64, float32,
causal and not, forward and forward+backward. Each case interleaves the libraries round by round
after warm-up (bench_gemm.time_interleaved) with threads pinned for all; the median time gives
forward GFLOP/s (4 B H E x the number of attended (i, j) pairs) and the ratios ours / peer. Our
GEMM's rate (1024^3, same threads) and the FMA peak are measured in the same run. The plain path
materialises B H L S scores and is skipped where those would pass --plain-max-gib. Cases whose
work B H L S exceeds --max-work are listed as skipped (2 cores cannot time them in minutes), or,
with --big, timed in one interleaved round of one call per library after a warm-up call (B = 8
and 32 at L = 2048: seconds per call).
Also records peak RSS growth of forward+backward at L = S = 16384 (B H = 2) for ours and torch,
each in a fresh process. Prints a markdown table; JSON goes to bench/results/attention.json.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import textwrap
import time

import numpy as np

import tensorforge
import tensorforge.nn.functional as F
from tensorforge import _C

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gemm import cpu_model, fma_peak_gflops, geomean, time_interleaved  # noqa: E402

E = 64
GRID = [(1, 8), (8, 12), (32, 8)]  # (batch, heads)
LENGTHS = [128, 512, 1024, 2048]


def attended_pairs(L, S, causal):
    return sum(min(i + 1, S) for i in range(L)) if causal else L * S


def make_inputs(B, H, L, torch, requires_grad):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((B, H, L, E), dtype=np.float32) for _ in range(4)]
    ours = [tensorforge.tensor(a, requires_grad=requires_grad) for a in arrays[:3]]
    theirs = [torch.from_numpy(a.copy()).requires_grad_(requires_grad) for a in arrays[:3]]
    return ours, theirs, tensorforge.tensor(arrays[3]), torch.from_numpy(arrays[3])


def plain_attention(q, k, v, causal_mask):
    s = (q @ k.mT) * (1.0 / math.sqrt(E))
    if causal_mask is not None:
        s = s + causal_mask
    return F.softmax(s, dim=-1) @ v


def bench_case(B, H, L, causal, backward, torch, rounds, plain_max_gib, big=False, clock=None, stat=np.median):
    ours, theirs, g_ours, g_theirs = make_inputs(B, H, L, torch, backward)
    causal_mask = tensorforge.tensor(np.triu(np.full((L, L), -np.inf, np.float32), 1)) if causal else None

    def grads_reset(ts):
        for t in ts:
            t.grad = None

    def run_ours():
        out = F.scaled_dot_product_attention(*ours, is_causal=causal)
        if backward:
            out.backward(g_ours)
            grads_reset(ours)

    def run_torch():
        out = torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=causal)
        if backward:
            out.backward(g_theirs)
            grads_reset(theirs)

    def run_plain():
        out = plain_attention(*ours, causal_mask)
        if backward:
            out.backward(g_ours)
            grads_reset(ours)

    fns, names = [run_ours, run_torch], ["ours", "torch"]
    if B * H * L * L * 4 * (3 if backward else 2) <= plain_max_gib * 2**30:
        fns.append(run_plain)
        names.append("plain")
    ctx = torch.no_grad() if not backward else torch.enable_grad()
    with ctx:
        if big:  # one round: each library's warm-up call, then one timed call
            secs = time_interleaved(fns, 1, min_seconds=0.0, timed_calls=1, lead_in=0.0, clock=clock)
        else:
            t0 = time.perf_counter()
            run_ours()
            calls = int(min(20, max(1, 0.1 / (time.perf_counter() - t0))))  # ~0.1 s of timed calls per library
            secs = time_interleaved(fns, rounds, min_seconds=0.5, timed_calls=calls, lead_in=0.0, clock=clock,
                                    stat=stat)
    return dict(zip(names, secs))


def gemm_rate(threads, clock=None, stat=np.median):
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((1024, 1024), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    tensorforge.set_num_threads(threads)
    (sec,) = time_interleaved([lambda: _C.gemm(a, b, out)], rounds=10, min_seconds=0.5, timed_calls=3, lead_in=0.0,
                              clock=clock, stat=stat)
    return 2.0 * 1024**3 / sec * 1e-9


PEAK_SCRIPT = """
import sys, numpy as np
def peak_rss():  # this process's high-water RSS in bytes (ru_maxrss would carry the parent's over exec)
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith('VmHWM:'))
lib = sys.argv[1]
L, E = 16384, 64
rng = np.random.default_rng(0)
arrays = [rng.standard_normal((1, 2, L, E), dtype=np.float32) for _ in range(4)]
if lib == "ours":
    import tensorforge, tensorforge.nn.functional as F
    tensorforge.set_num_threads({threads})
    q, k, v = (tensorforge.tensor(a, requires_grad=True) for a in arrays[:3])
    g = tensorforge.tensor(arrays[3])
    sdpa = F.scaled_dot_product_attention
else:
    import torch
    torch.set_num_threads({threads})
    q, k, v = (torch.from_numpy(a).requires_grad_(True) for a in arrays[:3])
    g = torch.from_numpy(arrays[3])
    sdpa = torch.nn.functional.scaled_dot_product_attention
before = peak_rss()
sdpa(q, k, v).backward(g)
print(before, peak_rss())
"""


def peak_memory(lib, threads):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(PEAK_SCRIPT.format(threads=threads)), lib],
                         capture_output=True, text=True, env=env, timeout=900)
    if res.returncode:
        raise RuntimeError(f"peak-memory run for {lib} failed:\n{res.stderr}")
    before, after = map(int, res.stdout.split()[-2:])
    return {"before": before, "after": after}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="B = 1 and 8, L <= 1024, few repeats")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per case (default 5, quick 3)")
    parser.add_argument("--grid", default=None, help="batch x heads to run, e.g. 1x8,32x8 (default all)")
    parser.add_argument("--lengths", default=None, help="L = S values to run, e.g. 1024,2048 (default all)")
    parser.add_argument("--max-work", type=float, default=2.0**28, help="skip cases with B*H*L*S above this")
    parser.add_argument("--big", action="store_true",
                        help="time the cases above --max-work too, in one round of one call each")
    parser.add_argument("--plain-max-gib", type=float, default=2.0, help="memory cap for the plain path's scores")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time calls by process CPU time, for a loaded machine (one thread only)")
    parser.add_argument("--stat", choices=["median", "min"], default="median",
                        help="statistic of each library's timed calls: median (default), or min, the best call "
                             "(an estimate of the quiet-machine time when other jobs load the cores)")
    parser.add_argument("--no-peak-memory", action="store_true")
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "attention.json"))
    args = parser.parse_args()
    import torch

    threads = args.threads
    if args.cpu_time and threads != 1:
        parser.error("--cpu-time needs --threads 1 (CPU time of several threads is not a duration)")
    clock = time.process_time if args.cpu_time else None
    stat = np.min if args.stat == "min" else np.median
    tensorforge.set_num_threads(threads)
    torch.set_num_threads(threads)
    grid, lengths, rounds = (GRID[:2], LENGTHS[:3], 3) if args.quick else (GRID, LENGTHS, 5)
    rounds = args.rounds or rounds
    if args.grid:
        grid = [tuple(int(x) for x in bh.split("x")) for bh in args.grid.split(",")]
    if args.lengths:
        lengths = [int(x) for x in args.lengths.split(",")]
    fma_peak = fma_peak_gflops(threads)
    gemm = gemm_rate(threads, clock, stat)
    rows, skipped = [], []
    for B, H in grid:
        for L in lengths:
            big = B * H * L * L > args.max_work
            if big and not args.big:
                skipped.append(f"B={B} H={H} L={L}")
                continue
            for causal in (False, True):
                for backward in (False, True):
                    secs = bench_case(B, H, L, causal, backward, torch, rounds, args.plain_max_gib, big, clock, stat)
                    gflops = 4.0 * B * H * E * attended_pairs(L, L, causal) * 1e-9
                    rows.append({"B": B, "H": H, "L": L, "causal": causal, "backward": backward, "one_call": big,
                                 "seconds": secs, "fwd_gflops_ours": None if backward else gflops / secs["ours"]})
                    r = rows[-1]
                    print(f"B={B} H={H} L={L} causal={causal} bwd={backward}: "
                          + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in secs.items()), flush=True)

    print(f"\nAttention float32, E = {E}, {cpu_model()}, {threads} threads, SIMD path {_C.active_isa()}; "
          f"{args.stat} of interleaved runs ({'process CPU time' if args.cpu_time else 'wall clock'}); our GEMM 1024^3: {gemm:.0f} GFLOP/s, FMA peak {fma_peak:.0f} GFLOP/s\n")
    print("| B x H | L = S | causal | pass | ours ms | torch ms | plain ms | ours/torch speed | ours/plain speed "
          "| fwd GFLOP/s | of our GEMM |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["seconds"]
        plain = s.get("plain")
        fwd = r["fwd_gflops_ours"]
        print(f"| {r['B']} x {r['H']} | {r['L']} | {'yes' if r['causal'] else 'no'} | "
              f"{'fwd+bwd' if r['backward'] else 'fwd'}{' (1 call)' if r['one_call'] else ''} | {s['ours'] * 1e3:.2f} | {s['torch'] * 1e3:.2f} | "
              + (f"{plain * 1e3:.2f}" if plain else "-") + f" | {s['torch'] / s['ours']:.2f} | "
              + (f"{plain / s['ours']:.2f}" if plain else "-") + " | "
              + (f"{fwd:.1f} | {100 * fwd / gemm:.0f}% |" if fwd else "- | - |"))
    speed = [r["seconds"]["torch"] / r["seconds"]["ours"] for r in rows]
    vs_plain = [r["seconds"]["plain"] / r["seconds"]["ours"] for r in rows if "plain" in r["seconds"]]
    fwd_frac = [r["fwd_gflops_ours"] / gemm for r in rows if r["fwd_gflops_ours"]]
    def spread(values):
        return f"geomean {geomean(values):.2f}, min {min(values):.2f}" if values else "no cases"

    print(f"\nspeed vs torch (torch time / ours): {spread(speed)}; vs our plain path: {spread(vs_plain)}; "
          f"forward GFLOP/s as a fraction of our GEMM: {spread(fwd_frac)}")
    if skipped:
        print("skipped (work above --max-work): " + "; ".join(skipped))
    peak = {}
    if not args.no_peak_memory:
        peak = {lib: peak_memory(lib, threads) for lib in ("ours", "torch")}
        print("peak RSS of a fresh process, forward+backward at L = S = 16384, E = 64, B x H = 2 (inputs "
              "32 MiB; one L x S float32 matrix is 1024 MiB): " + "; ".join(
                  f"{lib} {p['before'] / 2**20:.0f} MiB before, {p['after'] / 2**20:.0f} MiB after "
                  f"(+{(p['after'] - p['before']) / 2**20:.0f} MiB)" for lib, p in peak.items()))
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": cpu_model(), "threads": threads, "isa": _C.active_isa(), "gemm_gflops": gemm,
                   "clock": "process CPU time" if args.cpu_time else "wall clock", "stat": args.stat,
                   "fma_peak_gflops": fma_peak, "rows": rows, "skipped": skipped, "peak_rss_bytes": peak}, f,
                  indent=1)


if __name__ == "__main__":
    main()
