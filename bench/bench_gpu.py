#!/usr/bin/env python3
"""GPU microbenchmarks of tensorforge's CUDA kernels against their peers, in one process.

  * fp32 GEMM (square n = 1024, 4096, 8192): ours vs cupy's matmul (cuBLAS, true fp32: CUPY_TF32=0)
  * fused AdamW over a GPT-2-small-sized parameter list: ours vs torch.optim.AdamW(fused=True)
  * ceilings measured in the same run: device-to-device copy bandwidth (bytes read + written),
    and an FMA-bound loop for the fp32 rate

Timing: CUDA events around each measurement, warm-up first, peers interleaved (ours, peer, peer,
ours, ...), median of many runs, inputs rotated when they would fit in L2. Ratios are speed
ratios: peer time / our time (> 1 means ours is faster). Prints one markdown table last and
writes JSON to --json (default: $OUT/bench_gpu.json when $OUT is set).

Usage: python bench/bench_gpu.py [--quick] [--json PATH]
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback

os.environ.setdefault("CUPY_TF32", "0")  # cuBLAS in true fp32, the same arithmetic as our kernel

import numpy as np  # noqa: E402

try:
    import cupy as cp  # noqa: E402
except ImportError:
    sys.exit("bench_gpu.py needs cupy (pip install 'tensorforge[cuda]')")

import tensorforge  # noqa: E402
import tensorforge.cuda as tfc  # noqa: E402

try:
    import torch  # noqa: E402
    if not torch.cuda.is_available():
        torch = None
except ImportError:
    torch = None

L2_BYTES_GUESS = 64 << 20  # rotate inputs when a set is smaller than a few times this


def cuda_time_ms(fn, stream):
    """GPU milliseconds of one call of fn() between two events on `stream`."""
    start, end = cp.cuda.Event(), cp.cuda.Event()
    start.record(stream)
    fn()
    end.record(stream)
    end.synchronize()
    return cp.cuda.get_elapsed_time(start, end)


def bench_interleaved(fns, *, warmup=2, min_reps=5, max_reps=50, budget_s=8.0, inner=1):
    """Median ms per call for each callable in `fns` (name -> fn), interleaved, after warm-up.

    Each sample times `inner` back-to-back calls (launch overheads overlap the GPU work, as in a
    training loop) and divides. The repetition count adapts so the whole thing fits `budget_s`."""
    stream = cp.cuda.get_current_stream()
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    stream.synchronize()
    # One timed sample each, to size the repetitions.
    first = {name: cuda_time_ms(lambda f=fn: [f() for _ in range(inner)], stream) for name, fn in fns.items()}
    per_round = sum(first.values()) / 1e3
    reps = int(max(min_reps, min(max_reps, budget_s / max(per_round, 1e-6))))
    samples = {name: [] for name in fns}
    names = list(fns)
    for r in range(reps):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            fn = fns[name]
            samples[name].append(cuda_time_ms(lambda f=fn: [f() for _ in range(inner)], stream) / inner)
    return {name: statistics.median(s) for name, s in samples.items()}, reps


# ---- ceilings -------------------------------------------------------------------------------------

FMA_SRC = r"""
extern "C" __global__ void fma_peak(float* out, int iters, float a, float b) {
    float x0 = threadIdx.x * 1e-3f, x1 = x0 + 1e-3f, x2 = x0 + 2e-3f, x3 = x0 + 3e-3f;
    float x4 = x0 + 4e-3f, x5 = x0 + 5e-3f, x6 = x0 + 6e-3f, x7 = x0 + 7e-3f;
    for (int i = 0; i < iters; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            x0 = fmaf(x0, a, b); x1 = fmaf(x1, a, b); x2 = fmaf(x2, a, b); x3 = fmaf(x3, a, b);
            x4 = fmaf(x4, a, b); x5 = fmaf(x5, a, b); x6 = fmaf(x6, a, b); x7 = fmaf(x7, a, b);
        }
    }
    out[blockIdx.x * blockDim.x + threadIdx.x] = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
}
"""


def measure_fma_peak():
    kern = cp.RawKernel(FMA_SRC, "fma_peak")
    sms = cp.cuda.Device().attributes["MultiProcessorCount"]
    blocks, threads, iters = sms * 16, 256, 4096
    out = cp.empty(blocks * threads, cp.float32)
    fn = lambda: kern((blocks,), (threads,), (out, np.int32(iters), np.float32(0.9999), np.float32(1e-4)))  # noqa: E731
    t, _ = bench_interleaved({"fma": fn}, min_reps=5, max_reps=20, budget_s=2.0)
    flops = 2.0 * 8 * 4 * iters * blocks * threads
    return {"ms": t["fma"], "tflops": flops / (t["fma"] * 1e-3) / 1e12}


def measure_copy_bandwidth(nbytes=1 << 30):
    src = cp.empty(nbytes // 4, cp.float32)
    src.fill(1.0)
    dst = cp.empty_like(src)
    stream = cp.cuda.get_current_stream()
    fn = lambda: cp.cuda.runtime.memcpyAsync(dst.data.ptr, src.data.ptr, nbytes,  # noqa: E731
                                             cp.cuda.runtime.memcpyDeviceToDevice, stream.ptr)
    t, _ = bench_interleaved({"copy": fn}, min_reps=10, max_reps=50, budget_s=2.0)
    del src, dst
    return {"ms": t["copy"], "bytes": 2 * nbytes, "gbps": 2 * nbytes / (t["copy"] * 1e-3) / 1e9}


# ---- GEMM -----------------------------------------------------------------------------------------

def bench_gemm(n, budget_s, fma_tflops):
    rng = np.random.default_rng(n)
    set_bytes = 3 * n * n * 4
    nsets = max(1, min(8, -(-4 * L2_BYTES_GUESS // set_bytes)))
    sets = []
    for _ in range(nsets):
        a = cp.asarray(rng.standard_normal((n, n), dtype=np.float32))
        b = cp.asarray(rng.standard_normal((n, n), dtype=np.float32))
        sets.append((a, b, cp.empty((n, n), cp.float32), cp.empty((n, n), cp.float32)))
    # Correctness of ours against cuBLAS on this very input (both fp32).
    a, b, c_ours, c_peer = sets[0]
    tfc.gemm(a, b, c_ours)
    cp.matmul(a, b, out=c_peer)
    rel = float(cp.linalg.norm(c_ours - c_peer) / cp.linalg.norm(c_peer))
    it = {"ours": 0, "cublas": 0}

    def ours():
        a, b, c, _ = sets[it["ours"] % nsets]
        it["ours"] += 1
        tfc.gemm(a, b, c)

    def cublas():
        a, b, _, c = sets[it["cublas"] % nsets]
        it["cublas"] += 1
        cp.matmul(a, b, out=c)

    t, reps = bench_interleaved({"ours": ours, "cublas": cublas}, warmup=2, min_reps=3, max_reps=30,
                                budget_s=budget_s)
    flops = 2.0 * n ** 3
    row = {
        "bench": "sgemm fp32", "size": f"{n}x{n}x{n}", "reps": reps, "input_sets": nsets,
        "ours_ms": t["ours"], "peer": "cuBLAS (cupy.matmul)", "peer_ms": t["cublas"],
        "ours_tflops": flops / (t["ours"] * 1e-3) / 1e12, "peer_tflops": flops / (t["cublas"] * 1e-3) / 1e12,
        "speed_ratio": t["cublas"] / t["ours"], "rel_err_vs_peer": rel,
    }
    if fma_tflops:
        row["ours_pct_of_fma_peak"] = 100.0 * row["ours_tflops"] / fma_tflops
    del sets
    cp.get_default_memory_pool().free_all_blocks()
    return row


# ---- AdamW ----------------------------------------------------------------------------------------

def gpt2_small_shapes(layers=12, d=768, vocab=50304, ctx=1024):
    shapes = [(vocab, d), (ctx, d)]
    for _ in range(layers):
        shapes += [(d,), (d,), (3 * d, d), (3 * d,), (d, d), (d,), (d,), (d,), (4 * d, d), (4 * d,), (d, 4 * d), (d,)]
    shapes += [(d,), (d,)]
    return shapes


def bench_adamw(budget_s, copy_gbps, quick=False):
    shapes = gpt2_small_shapes(layers=2 if quick else 12)
    numel = sum(int(np.prod(s)) for s in shapes)
    hp = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01)
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    grads_h = [rng.standard_normal(s, dtype=np.float32) * 1e-2 for s in shapes]

    ours_p = [cp.asarray(x) for x in init]
    ours_g = [cp.asarray(x) for x in grads_h]
    ours_m = [cp.zeros(s, cp.float32) for s in shapes]
    ours_v = [cp.zeros(s, cp.float32) for s in shapes]
    step = {"ours": 0, "torch": 0}

    def ours():
        step["ours"] += 1
        tfc.adamw_step(ours_p, ours_g, ours_m, ours_v, step=step["ours"], **hp)

    fns = {"ours": ours}
    check = None
    if torch is not None:
        tp = [torch.nn.Parameter(torch.from_numpy(x).cuda()) for x in init]
        for p, g in zip(tp, grads_h):
            p.grad = torch.from_numpy(g).cuda()
        opt = torch.optim.AdamW(tp, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                                weight_decay=hp["weight_decay"], fused=True)

        def torch_step():
            opt.step()

        # Same inputs, one step each, before timing: how far apart are the results?
        ours()
        torch_step()
        torch.cuda.synchronize()
        cp.cuda.Device().synchronize()
        worst = 0.0
        for p, q in zip(tp, ours_p):
            ref = p.detach().cpu().numpy().astype(np.float64)
            worst = max(worst, float(np.max(np.abs(cp.asnumpy(q) - ref)) / max(np.max(np.abs(ref)), 1e-30)))
        check = worst
        fns["torch"] = torch_step
    # torch runs on its current stream (the legacy default stream unless changed); so does cupy's
    # default, so events on cupy's current stream bracket both.
    t, reps = bench_interleaved(fns, warmup=3, min_reps=5, max_reps=40, budget_s=budget_s, inner=5)
    bytes_moved = 28.0 * numel  # read p, g, m, v; write p, m, v (float32)
    row = {
        "bench": "AdamW fp32 step", "size": f"{numel / 1e6:.1f}M params, {len(shapes)} tensors", "reps": reps,
        "ours_ms": t["ours"], "ours_gbps": bytes_moved / (t["ours"] * 1e-3) / 1e9,
    }
    if "torch" in t:
        row.update({"peer": "torch AdamW(fused=True)", "peer_ms": t["torch"],
                    "peer_gbps": bytes_moved / (t["torch"] * 1e-3) / 1e9, "speed_ratio": t["torch"] / t["ours"],
                    "max_rel_diff_vs_peer_after_1_step": check})
    if copy_gbps:
        row["ours_pct_of_copy_bw"] = 100.0 * row["ours_gbps"] / copy_gbps
    return row


# ---- report ---------------------------------------------------------------------------------------

def fmt(x, spec):
    return format(x, spec) if isinstance(x, (int, float)) else "-"


def markdown(results):
    lines = ["| benchmark | size | ours | peer | peer time | speed ours/peer | % of ceiling | check |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results["rows"]:
        if "error" in r:
            lines.append(f"| {r['bench']} | {r.get('size', '-')} | ERROR: {r['error']} | | | | | |")
            continue
        if r["bench"].startswith("sgemm"):
            ours = f"{fmt(r['ours_ms'], '.3f')} ms ({fmt(r['ours_tflops'], '.1f')} TFLOP/s)"
            peer_t = f"{fmt(r['peer_ms'], '.3f')} ms ({fmt(r['peer_tflops'], '.1f')} TFLOP/s)"
            ceil = f"{fmt(r.get('ours_pct_of_fma_peak'), '.0f')}% of FMA peak"
            check = f"rel err vs cuBLAS {fmt(r['rel_err_vs_peer'], '.1e')}"
        else:
            ours = f"{fmt(r['ours_ms'], '.3f')} ms ({fmt(r['ours_gbps'], '.0f')} GB/s)"
            peer_t = (f"{fmt(r.get('peer_ms'), '.3f')} ms ({fmt(r.get('peer_gbps'), '.0f')} GB/s)"
                      if "peer_ms" in r else "-")
            ceil = f"{fmt(r.get('ours_pct_of_copy_bw'), '.0f')}% of copy BW"
            check = f"max rel diff vs torch {fmt(r.get('max_rel_diff_vs_peer_after_1_step'), '.1e')}"
        lines.append(f"| {r['bench']} | {r['size']} | {ours} | {r.get('peer', '-')} | {peer_t} | "
                     f"{fmt(r.get('speed_ratio'), '.2f')}x | {ceil} | {check} |")
    c = results["ceilings"]
    lines.append(f"| ceiling: D2D copy | 1 GiB | {fmt(c.get('copy_gbps'), '.0f')} GB/s (read + write) | | | | | |")
    lines.append(f"| ceiling: FMA loop | fp32 | {fmt(c.get('fma_tflops'), '.1f')} TFLOP/s | | | | | |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes and budgets (a smoke run)")
    ap.add_argument("--json", default=None, help="where to write the JSON (default $OUT/bench_gpu.json)")
    ap.add_argument("--sizes", default=None, help="comma-separated GEMM sizes (default 1024,4096,8192)")
    args = ap.parse_args()
    if not tfc.is_available():
        sys.exit(f"tensorforge.cuda is not available (built: {tfc.is_built()}, devices: {tfc.device_count()})")

    dev = cp.cuda.Device()
    props = cp.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    results = {
        "machine": {"gpu": name, "compute_capability": dev.compute_capability,
                    "sms": dev.attributes["MultiProcessorCount"], "host": platform.node(),
                    "cuda_build": tfc.build_info(), "cupy": cp.__version__,
                    "torch": torch.__version__ if torch is not None else None,
                    "tensorforge": tensorforge.__version__, "time": time.strftime("%Y-%m-%d %H:%M:%S %Z")},
        "ceilings": {}, "rows": [],
    }
    print(f"# {name} (sm_{dev.compute_capability}, {results['machine']['sms']} SMs); {tfc.build_info()}", flush=True)

    try:
        results["ceilings"].update({"copy_gbps": measure_copy_bandwidth()["gbps"]})
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        results["ceilings"]["copy_error"] = repr(e)
    try:
        results["ceilings"].update({"fma_tflops": measure_fma_peak()["tflops"]})
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        results["ceilings"]["fma_error"] = repr(e)
    print(f"ceilings: {results['ceilings']}", flush=True)

    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([512, 1024] if args.quick else [1024, 4096, 8192])
    for n in sizes:
        try:
            row = bench_gemm(n, budget_s=2.0 if args.quick else 10.0, fma_tflops=results["ceilings"].get("fma_tflops"))
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            row = {"bench": "sgemm fp32", "size": f"{n}x{n}x{n}", "error": repr(e)[:200]}
        results["rows"].append(row)
        print(json.dumps(row), flush=True)
    try:
        row = bench_adamw(budget_s=2.0 if args.quick else 8.0, copy_gbps=results["ceilings"].get("copy_gbps"),
                          quick=args.quick)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        row = {"bench": "AdamW fp32 step", "error": repr(e)[:200]}
    results["rows"].append(row)
    print(json.dumps(row), flush=True)

    table = markdown(results)
    results["markdown"] = table
    path = args.json or (os.path.join(os.environ["OUT"], "bench_gpu.json") if os.environ.get("OUT") else None)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(results, f, indent=2, default=str)
        print(f"wrote {path}")
    print()
    print(table)
    return 1 if any("error" in r for r in results["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
