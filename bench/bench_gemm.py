"""GEMM benchmark: ours (tensorforge._C.gemm) vs numpy (OpenBLAS) vs torch (CPU), one process.

For each shape and thread count: warm-up, then rounds that interleave the three libraries,
rotating among several input buffers so the caches do not flatter anyone; the median time per
library gives GFLOP/s (2*m*n*k / t). Threads are pinned for every library (threadpoolctl for
numpy's BLAS, torch.set_num_threads, tensorforge.set_num_threads). The FMA peak of this machine
is measured in the same run (an FMA-bound loop on the same threads). Prints a markdown table and
writes JSON to bench/results/gemm.json.

--linear times instead the three products of a Linear layer's training step, in the layouts the
autograd passes them (transposed views, no copies): forward x W^T (W stored out x in), grad-input
g W, grad-weight g^T x, for the Linear layers of the MNIST CNN, an MLP and the char transformer.
"""
import os

# Some machines set these for old OpenBLAS builds; they slow a current numpy's kernel selection.
os.environ.pop("OPENBLAS_CORETYPE", None)
os.environ.pop("OPENBLAS_L2_SIZE", None)

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import tensorforge  # noqa: E402
from tensorforge import _C  # noqa: E402

SQUARE = [256, 512, 1024, 2048]
IRREGULAR = [(1000, 1000, 1000), (1023, 1023, 1023), (2047, 2047, 2047)]
MLP = [(64, 128, 784), (256, 128, 784), (256, 10, 128), (128, 512, 512)]  # (m, n, k)
# Linear layers (batch rows, in_features, out_features): MNIST CNN head, an MLP, the char transformer.
LINEAR = [(64, 9216, 128), (64, 128, 10), (64, 784, 128), (2048, 128, 128), (2048, 128, 512), (2048, 512, 128)]


def linear_products(rows, fan_in, fan_out):
    """(label, m, n, k, a transposed, b transposed) of forward x W^T, grad-input g W, grad-weight g^T x."""
    return [(f"fwd x@W^T {rows}x{fan_in}->{fan_out}", rows, fan_out, fan_in, False, True),
            (f"grad-in g@W {rows}x{fan_in}->{fan_out}", rows, fan_in, fan_out, False, False),
            (f"grad-W g^T@x {rows}x{fan_in}->{fan_out}", fan_out, fan_in, rows, True, False)]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fma_peak_gflops(threads):
    """The machine's FMA peak on `threads` threads: the best of three 0.3 s probes (a single probe once
    caught the pool's second thread still starting and read 116 of 233 GFLOP/s)."""
    return max(_C.measure_fma_peak_gflops(threads, 0.3) for _ in range(3))


def time_interleaved(fns, rounds, min_seconds, timed_calls, lead_in, clock=None, stat=np.median):
    """Seconds per call of each fn (the median of the timed calls, or `stat`), interleaving the
    libraries round by round.

    In a round each library first runs untimed for at least `lead_in` seconds, then makes
    `timed_calls` timed back-to-back calls. The lead-in wakes its own thread pool and outlasts
    the previous library's spinning workers (OpenBLAS and OpenMP threads spin for tens of
    milliseconds after a call and would steal the cores), so every library is timed in the
    steady back-to-back state a training loop sees, on an otherwise quiet machine.
    `clock` times the calls (default time.perf_counter, the wall clock; time.process_time on a
    loaded machine with one thread).
    """
    clock = clock or time.perf_counter
    times = [[] for _ in fns]
    start = time.perf_counter()
    r = 0
    while r < rounds or (time.perf_counter() - start < min_seconds and r < 10 * rounds):
        for i, fn in enumerate(fns):
            lead_end = time.perf_counter() + lead_in
            fn()
            while time.perf_counter() < lead_end:
                fn()
            for _ in range(timed_calls):
                t0 = clock()
                fn()
                times[i].append(clock() - t0)
        r += 1
    return [float(stat(t)) for t in times]


def operand(rng, rows, cols, transposed):
    """A rows x cols float32 operand, as a transposed view of a cols x rows array when asked."""
    if transposed:
        return rng.standard_normal((cols, rows), dtype=np.float32).T
    return rng.standard_normal((rows, cols), dtype=np.float32)


def bench_shape(m, n, k, threads, rounds, min_seconds, torch, threadpool_limits, clock=None, ta=False, tb=False,
                stat=np.median):
    rng = np.random.default_rng(0)
    copies = max(2, min(8, int(64e6 // (4 * (m * k + k * n + m * n)))))
    a_list = [operand(rng, m, k, ta) for _ in range(copies)]
    b_list = [operand(rng, k, n, tb) for _ in range(copies)]
    out = np.empty((m, n), np.float32)
    state = {"i": 0}

    def pick():
        state["i"] = (state["i"] + 1) % copies
        return state["i"]

    def ours():
        i = pick()
        _C.gemm(a_list[i], b_list[i], out)

    def numpy_mm():
        i = pick()
        np.matmul(a_list[i], b_list[i], out=out)

    fns, names = [ours, numpy_mm], ["ours", "numpy"]
    if torch is not None:
        # torch.from_numpy keeps the strides, so transposed views stay transposed (no copies).
        a_torch = [torch.from_numpy(x) for x in a_list]
        b_torch = [torch.from_numpy(x) for x in b_list]
        tout = torch.from_numpy(out)

        def torch_mm():
            i = pick()
            torch.mm(a_torch[i], b_torch[i], out=tout)

        fns.append(torch_mm)
        names.append("torch")
    tensorforge.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        secs = time_interleaved(fns, rounds, min_seconds, timed_calls=3,
                                lead_in=0.1 if threads > 1 else 0.0, clock=clock, stat=stat)
    flops = 2.0 * m * n * k
    return {name: flops / s * 1e-9 for name, s in zip(names, secs)}


def geomean(xs):
    xs = [x for x in xs if x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few shapes, few repeats (the demo)")
    parser.add_argument("--big", action="store_true", help="add 4096^3 (slow)")
    parser.add_argument("--linear", action="store_true",
                        help="the three products of Linear layers' training steps instead of the shape table")
    parser.add_argument("--threads", type=int, nargs="*", default=None, help="thread counts (default: 1 and all)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time calls by process CPU time, for a loaded machine (one thread only)")
    parser.add_argument("--peak", type=float, default=None,
                        help="FMA peak GFLOP/s per thread for the %% column instead of measuring it (loaded machine)")
    parser.add_argument("--stat", choices=["median", "min"], default="median",
                        help="statistic of each library's timed calls: median (default), or min, the best call, "
                             "an estimate of the quiet-machine time when other jobs load the cores")
    parser.add_argument("--split", choices=["auto", "rows", "columns", "depth"], default="auto",
                        help="force how our GEMM splits every product over the threads (_C.gemm_set_split), "
                             "to compare the splits; default: the cost model's choice")
    parser.add_argument("--shapes", default=None,
                        help="only these shapes, e.g. '512x512x512,1000x1000x1000' (m x n x k; plain layouts)")
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "gemm.json"))
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    try:
        import torch
    except ImportError:
        torch = None

    cores = os.cpu_count() or 1
    threads_list = args.threads or sorted({1, cores})
    if args.cpu_time and threads_list != [1]:
        parser.error("--cpu-time needs --threads 1 (CPU time of several threads is not a duration)")
    clock = time.process_time if args.cpu_time else None
    # (label, (m, n, k), a transposed, b transposed)
    if args.linear:
        shapes = [(label, (m, n, k), ta, tb) for layer in LINEAR for label, m, n, k, ta, tb in linear_products(*layer)]
        rounds, min_seconds = 15, 1.0
    elif args.quick:
        shapes = [("square", (512, 512, 512)), ("square", (1024, 1024, 1024)), ("irregular", (1023, 1023, 1023)),
                  ("mlp", (256, 128, 784))]
        rounds, min_seconds = 5, 0.2
    else:
        shapes = [("square", (s, s, s)) for s in SQUARE + ([4096] if args.big else [])]
        shapes += [("irregular", s) for s in IRREGULAR] + [("mlp", s) for s in MLP]
        rounds, min_seconds = 15, 1.0
    if not args.linear:
        shapes = [(kind, mnk, False, False) for kind, mnk in shapes]
    if args.shapes:
        shapes = [("shape", tuple(int(x) for x in spec.split("x")), False, False) for spec in args.shapes.split(",")]
    _C.gemm_set_split(args.split)

    rows = []
    for threads in threads_list:
        tensorforge.set_num_threads(threads)
        peak = args.peak * threads if args.peak else fma_peak_gflops(threads)
        for kind, (m, n, k), ta, tb in shapes:
            g = bench_shape(m, n, k, threads, rounds, min_seconds, torch, threadpool_limits, clock, ta, tb,
                            np.min if args.stat == "min" else np.median)
            plan_threads, split = _C.gemm_plan(m, n, k, threads, ta, tb)
            rows.append({"kind": kind, "m": m, "n": n, "k": k, "trans_a": ta, "trans_b": tb, "threads": threads,
                         "peak_gflops": peak, "plan": f"{plan_threads} thr, {split}", **g})

    print(f"\nGEMM float32, {cpu_model()}, {cores} cores, SIMD path {_C.active_isa()}; "
          f"GFLOP/s, {args.stat} of interleaved runs ({'process CPU time' if args.cpu_time else 'wall clock'})\n")
    has_torch = torch is not None
    head = "| shape (m x n x k) | threads | ours | numpy | " + ("torch | " if has_torch else "")
    head += "ours/numpy | " + ("ours/torch | " if has_torch else "") + "% of FMA peak | our split |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        flags = "".join(f" {name}" for name, on in (("A^T", r["trans_a"]), ("B^T", r["trans_b"])) if on)
        line = f"| {r['kind']} {r['m']}x{r['n']}x{r['k']}{flags} | {r['threads']} | {r['ours']:.0f} | {r['numpy']:.0f} | "
        if has_torch:
            line += f"{r['torch']:.0f} | "
        line += f"{r['ours'] / r['numpy']:.2f} | "
        if has_torch:
            line += f"{r['ours'] / r['torch']:.2f} | "
        line += f"{100 * r['ours'] / r['peak_gflops']:.0f}% | {r['plan']} |"
        print(line)
    best_peer = [r["ours"] / max(r["numpy"], r.get("torch", 0)) for r in rows]
    print(f"\ngeomean ours / faster peer: {geomean(best_peer):.2f} (min {min(best_peer):.2f}); "
          f"FMA peak {'given (--peak)' if args.peak else 'measured'}: " + ", ".join(f"{t} thr {r['peak_gflops']:.0f} GFLOP/s"
                                             for t, r in {r['threads']: r for r in rows}.items()))
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": cpu_model(), "cores": cores, "isa": _C.active_isa(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
