#!/usr/bin/env python3
"""GPU microbenchmarks of tensorforge's CUDA kernels against their peers, in one process.

  * fp32 GEMM (square n = 1024, 4096, 8192): ours vs cupy's matmul (cuBLAS, true fp32: CUPY_TF32=0);
    the tf32 / bf16 tensor-core paths (precision "high" / "medium") vs torch's cuBLAS tf32 / bf16,
    by the kernel tensorforge.cuda picks (wgmma on Hopper with sm_90a code, else mma.sync), and on
    Hopper also the mma.sync kernel at 4096 and 8192 for comparison
  * LayerNorm forward + backward and GELU forward: ours vs torch
  * softmax forward + backward and cross-entropy (mean over class indices) forward + backward at
    8192 x 50257 (a GPT-2 vocabulary) and 65536 x 10: ours vs torch, against the copy bandwidth
  * fused AdamW over a GPT-2-small-sized parameter list: ours vs torch.optim.AdamW(fused=True)
  * conv2d fp32 forward / grad-input / grad-weight on ResNet layers (N = 32): ours vs torch
    (cuDNN, TF32 off)
  * fused attention fp32, forward and forward + backward (E = 64, B*H = 16..96, L = 512..4096):
    ours vs torch.nn.functional.scaled_dot_product_attention (its fp32 backend)
  * tensor-core attention forward + backward (E = 64, B in {1, 8}, H 8..12, L 512..4096): ours at
    precision "high" (tf32) vs torch SDPA fp32, ours at "medium" (bf16 products, float32 storage) vs
    torch's flash path on bf16 tensors
  * ceilings measured in the same run: device-to-device copy bandwidth (bytes read + written),
    and an FMA-bound loop for the fp32 rate

Timing: CUDA events around each measurement, warm-up first, peers interleaved (ours, peer, peer,
ours, ...), median of many runs, inputs rotated when they would fit in L2. Ratios are speed
ratios: peer time / our time (> 1 means ours is faster). Prints one markdown table last and
writes JSON to --json (default: $OUT/bench_gpu.json when $OUT is set).

Usage: python bench/bench_gpu.py [--quick] [--json PATH]
"""
import argparse
import contextlib
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

GEMM_PRECISIONS = {  # ours: precision= of tensorforge.cuda.gemm; the peer that a user would pick instead
    "highest": ("sgemm fp32", "cuBLAS fp32 (cupy.matmul)"),
    "high": ("gemm tf32", "cuBLAS tf32 (torch, allow_tf32)"),
    "medium": ("gemm bf16", "cuBLAS bf16 (torch, bf16 tensors)"),
}


def _gemm_peer(precision):
    """(make operands from float32 cupy a, b, out; run) for the peer of `precision`."""
    if precision == "highest":
        return (lambda a, b, c: (a, b, c)), (lambda a, b, c: cp.matmul(a, b, out=c))
    if torch is None or not torch.cuda.is_available():
        raise RuntimeError("the tf32 / bf16 peers are torch's cuBLAS calls; torch with CUDA is not installed")
    dtype = torch.float32 if precision == "high" else torch.bfloat16

    def make(a, b, c):
        return (torch.as_tensor(a, device="cuda").to(dtype), torch.as_tensor(b, device="cuda").to(dtype),
                torch.empty(c.shape, device="cuda", dtype=dtype))

    def run(a, b, c):
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = precision == "high"
        try:
            torch.matmul(a, b, out=c)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old

    return make, run


def bench_gemm(n, budget_s, fma_tflops, precision="highest", tensor_core="auto"):
    rng = np.random.default_rng(n)
    set_bytes = 3 * n * n * 4
    nsets = max(1, min(8, -(-4 * L2_BYTES_GUESS // set_bytes)))
    bench_name, peer_name = GEMM_PRECISIONS[precision]
    if precision != "highest":  # name the tensor-core kernel: wgmma or mma.sync
        bench_name += f" ({tfc.tensor_core_path().split()[0] if tensor_core == 'auto' else tensor_core})"
    make_peer, run_peer = _gemm_peer(precision)
    sets = []
    for _ in range(nsets):
        a = cp.asarray(rng.standard_normal((n, n), dtype=np.float32))
        b = cp.asarray(rng.standard_normal((n, n), dtype=np.float32))
        c = cp.empty((n, n), cp.float32)
        sets.append((a, b, c, make_peer(a, b, c)))
    # Correctness of ours against the peer on this very input (both at the same precision).
    a, b, c_ours, peer_ops = sets[0]
    tfc.gemm(a, b, c_ours, precision=precision, tensor_core=tensor_core)
    run_peer(*peer_ops)
    c_peer = cp.asarray(peer_ops[2].float()) if precision != "highest" else peer_ops[2]
    rel = float(cp.linalg.norm(c_ours - c_peer) / cp.linalg.norm(c_peer))
    it = {"ours": 0, "peer": 0}

    def ours():
        a, b, c, _ = sets[it["ours"] % nsets]
        it["ours"] += 1
        tfc.gemm(a, b, c, precision=precision, tensor_core=tensor_core)

    def peer():
        ops = sets[it["peer"] % nsets][3]
        it["peer"] += 1
        run_peer(*ops)

    t, reps = bench_interleaved({"ours": ours, "peer": peer}, warmup=2, min_reps=3, max_reps=30, budget_s=budget_s)
    flops = 2.0 * n ** 3
    row = {
        "bench": bench_name, "size": f"{n}x{n}x{n}", "reps": reps, "input_sets": nsets,
        "ours_ms": t["ours"], "peer": peer_name, "peer_ms": t["peer"],
        "ours_tflops": flops / (t["ours"] * 1e-3) / 1e12, "peer_tflops": flops / (t["peer"] * 1e-3) / 1e12,
        "speed_ratio": t["peer"] / t["ours"], "rel_err_vs_peer": rel,
    }
    if fma_tflops and precision == "highest":
        row["ours_pct_of_fma_peak"] = 100.0 * row["ours_tflops"] / fma_tflops
    del sets
    cp.get_default_memory_pool().free_all_blocks()
    return row


# ---- LayerNorm and GELU (memory bound: reported against the copy bandwidth) -----------------------

def bench_norm_gelu(budget_s, copy_gbps, quick=False):
    """LayerNorm forward + backward (rows x 768, with weight and bias) and GELU forward, ours vs torch."""
    rows, cols = (2048 if quick else 16384), 768
    n_gelu = (1 << 22) if quick else (1 << 25)
    rng = np.random.default_rng(1)
    xh, dyh = rng.standard_normal((rows, cols), dtype=np.float32), rng.standard_normal((rows, cols), dtype=np.float32)
    wh, bh = rng.standard_normal(cols, dtype=np.float32), rng.standard_normal(cols, dtype=np.float32)
    x, dy, w, b = cp.asarray(xh), cp.asarray(dyh), cp.asarray(wh), cp.asarray(bh)
    g = cp.asarray(rng.standard_normal(n_gelu, dtype=np.float32))
    xt, dyt = torch.as_tensor(x, device="cuda"), torch.as_tensor(dy, device="cuda")
    wt = torch.as_tensor(w, device="cuda").requires_grad_()
    bt = torch.as_tensor(b, device="cuda").requires_grad_()
    gt = torch.as_tensor(g, device="cuda")
    xt_req = xt.clone().requires_grad_()

    def ours_ln():
        _, mean, rstd = tfc.layer_norm_forward(x, cols, w, b)
        return tfc.layer_norm_backward(dy, x, cols, mean, rstd, w)

    def torch_ln():
        y = torch.nn.functional.layer_norm(xt_req, (cols,), wt, bt)
        return torch.autograd.grad(y, (xt_req, wt, bt), dyt)

    ours_out, torch_out = ours_ln(), torch_ln()
    ln_diff = max(float(cp.max(cp.abs(o - cp.asarray(t))) / max(float(cp.max(cp.abs(cp.asarray(t)))), 1e-30))
                  for o, t in zip(ours_out, torch_out))
    gelu_diff = float(cp.max(cp.abs(tfc.gelu_forward(g) - cp.asarray(torch.nn.functional.gelu(gt)))))
    rows_out = []
    for name, size, fns, nbytes, diff in [
        ("LayerNorm fwd+bwd fp32", f"{rows}x{cols}", {"ours": ours_ln, "torch": torch_ln}, 20.0 * rows * cols, ln_diff),
        ("GELU fwd fp32", f"{n_gelu}", {"ours": lambda: tfc.gelu_forward(g), "torch": lambda: torch.nn.functional.gelu(gt)},
         8.0 * n_gelu, gelu_diff),
    ]:
        t, reps = bench_interleaved(fns, warmup=3, min_reps=5, max_reps=50, budget_s=budget_s, inner=5)
        row = {"bench": name, "size": size, "reps": reps, "ours_ms": t["ours"],
               "ours_gbps": nbytes / (t["ours"] * 1e-3) / 1e9, "peer": "torch", "peer_ms": t["torch"],
               "peer_gbps": nbytes / (t["torch"] * 1e-3) / 1e9, "speed_ratio": t["torch"] / t["ours"],
               "max_rel_diff_vs_peer": diff}
        if copy_gbps:
            row["ours_pct_of_copy_bw"] = 100.0 * row["ours_gbps"] / copy_gbps
        rows_out.append(row)
    return rows_out


# ---- softmax and cross-entropy (memory bound: reported against the copy bandwidth) ----------------

SOFTMAX_CE_SHAPES = [(8192, 50257), (65536, 10)]


def _max_rel_diff(ours, theirs):
    return max(float(cp.max(cp.abs(o - cp.asarray(t))) / max(float(cp.max(cp.abs(cp.asarray(t)))), 1e-30))
               for o, t in zip(ours, theirs))


def bench_softmax_ce(rows, cols, budget_s, copy_gbps):
    """softmax fwd+bwd and cross-entropy fwd+bwd ('mean', class indices) of (rows, cols) float32 logits, ours vs
    torch. Minimum DRAM traffic: softmax 20 bytes per element (x, y; y, dy, dx), cross-entropy 12 (x; x, dx).
    Ours runs with check_targets=False (the out-of-range check reads a flag back, a host wait that torch's
    device-side assert does not have); the routed F.cross_entropy checks, so it waits once per call."""
    rng = np.random.default_rng(rows + cols)
    x = cp.asarray(3 * rng.standard_normal((rows, cols), dtype=np.float32))
    dy = cp.asarray(rng.standard_normal((rows, cols), dtype=np.float32))
    t = cp.asarray(rng.integers(0, cols, rows))
    xt, dyt, tt = torch.as_tensor(x, device="cuda"), torch.as_tensor(dy, device="cuda"), torch.as_tensor(t, device="cuda")
    xt_req = xt.clone().requires_grad_()
    F = torch.nn.functional

    def ours_softmax():
        y = tfc.softmax_forward(x)
        return y, tfc.softmax_backward(dy, y)

    def torch_softmax():
        y = F.softmax(xt_req, -1)
        return y.detach(), torch.autograd.grad(y, xt_req, dyt)[0]

    def ours_ce():
        loss, stats, row_w = tfc.cross_entropy_forward(x, t, check_targets=False)
        divisor = row_w.sum()
        mean = loss.sum() / divisor
        return mean, tfc.cross_entropy_backward(cp.float32(1.0) / divisor, x, t, stats)

    def torch_ce():
        loss = F.cross_entropy(xt_req, tt)
        return loss.detach(), torch.autograd.grad(loss, xt_req)[0]

    rows_out = []
    for name, fns, nbytes in [
        ("softmax fwd+bwd fp32", {"ours": ours_softmax, "torch": torch_softmax}, 20.0 * rows * cols),
        ("cross_entropy fwd+bwd fp32", {"ours": ours_ce, "torch": torch_ce}, 12.0 * rows * cols),
    ]:
        diff = _max_rel_diff(fns["ours"](), fns["torch"]())
        t_ms, reps = bench_interleaved(fns, warmup=2, min_reps=5, max_reps=30, budget_s=budget_s,
                                       inner=1 if rows * cols > (1 << 26) else 5)
        row = {"bench": name, "size": f"{rows}x{cols}", "reps": reps, "ours_ms": t_ms["ours"],
               "ours_gbps": nbytes / (t_ms["ours"] * 1e-3) / 1e9, "peer": "torch", "peer_ms": t_ms["torch"],
               "peer_gbps": nbytes / (t_ms["torch"] * 1e-3) / 1e9, "speed_ratio": t_ms["torch"] / t_ms["ours"],
               "max_rel_diff_vs_peer": diff}
        if copy_gbps:
            row["ours_pct_of_copy_bw"] = 100.0 * row["ours_gbps"] / copy_gbps
        rows_out.append(row)
    del x, dy, t, xt, dyt, tt, xt_req
    cp.get_default_memory_pool().free_all_blocks()
    torch.cuda.empty_cache()
    return rows_out


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


# ---- conv2d ---------------------------------------------------------------------------------------

# (name, c_in, c_out, hw, k, stride, padding) at batch 32: ResNet-50 / ResNet-34 layers.
RESNET_CONVS = [
    ("3x3 64->64 56x56", 64, 64, 56, 3, 1, 1),
    ("1x1 64->256 56x56", 64, 256, 56, 1, 1, 0),
    ("1x1 256->64 56x56", 256, 64, 56, 1, 1, 0),
    ("3x3 128->128 28x28", 128, 128, 28, 3, 1, 1),
    ("3x3 256->256 14x14", 256, 256, 14, 3, 1, 1),
    ("3x3 256->256 7x7", 256, 256, 7, 3, 1, 1),
]


def _conv_out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def bench_conv2d(spec, batch, budget_s, fma_tflops):
    """Rows for forward, grad-input and grad-weight of one layer: ours vs torch (cuDNN, fp32)."""
    name, c_in, c_out, hw, k, stride, pad = spec
    if torch is None:
        raise RuntimeError("torch with CUDA is needed for the conv2d peer (cuDNN)")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    g = torch.Generator(device="cuda").manual_seed(c_in * 1000 + hw)
    x = torch.randn(batch, c_in, hw, hw, device="cuda", generator=g)
    w = torch.randn(c_out, c_in, k, k, device="cuda", generator=g) / (c_in * k * k) ** 0.5
    oh = _conv_out(hw, k, stride, pad)
    dy = torch.randn(batch, c_out, oh, oh, device="cuda", generator=g)
    y_ours, y_peer = torch.empty_like(dy), torch.empty_like(dy)
    dx_ours = torch.empty_like(x)
    dw_ours = torch.empty_like(w)
    F = torch.nn.functional
    grad = torch.nn.grad
    args = (stride, pad, 1, 1)
    passes = {
        "forward": (lambda: tfc.conv2d_forward(x, w, None, *args, out=y_ours),
                    lambda: F.conv2d(x, w, None, stride, pad),
                    lambda: F.conv2d(x, w, None, stride, pad), y_ours),
        "grad-input": (lambda: tfc.conv2d_grad_input(dy, w, x.shape, *args, out=dx_ours),
                       lambda: grad.conv2d_input(x.shape, w, dy, stride, pad),
                       lambda: grad.conv2d_input(x.shape, w, dy, stride, pad), dx_ours),
        "grad-weight": (lambda: tfc.conv2d_grad_weight(x, dy, w.shape, *args, out=dw_ours),
                        lambda: grad.conv2d_weight(x, w.shape, dy, stride, pad),
                        lambda: grad.conv2d_weight(x, w.shape, dy, stride, pad), dw_ours),
    }
    flops = 2.0 * batch * c_out * oh * oh * c_in * k * k
    rows = []
    for pname, (ours, peer, ref_fn, out) in passes.items():
        ours()
        ref = ref_fn()
        torch.cuda.synchronize()
        rel = float(torch.linalg.vector_norm(out - ref) / torch.linalg.vector_norm(ref))
        t, reps = bench_interleaved({"ours": ours, "peer": peer}, warmup=2, min_reps=5, max_reps=40,
                                    budget_s=budget_s)
        row = {"bench": f"conv2d {pname}", "size": f"N={batch} {name}", "reps": reps, "ours_ms": t["ours"],
               "peer": "torch cuDNN (fp32, no TF32)", "peer_ms": t["peer"],
               "ours_tflops": flops / (t["ours"] * 1e-3) / 1e12, "peer_tflops": flops / (t["peer"] * 1e-3) / 1e12,
               "speed_ratio": t["peer"] / t["ours"], "rel_err_vs_peer": rel}
        if fma_tflops:
            row["ours_pct_of_fma_peak"] = 100.0 * row["ours_tflops"] / fma_tflops
        rows.append(row)
    return rows


# ---- attention ------------------------------------------------------------------------------------

ATTENTION_SHAPES = [  # (batch, heads, L, causal), E = 64, L = S
    (2, 8, 512, False),
    (4, 8, 1024, False),
    (4, 12, 2048, True),
    (8, 12, 4096, False),
]


def bench_attention(spec, budget_s, fma_tflops, e=64):
    b, h, l, causal = spec
    if torch is None:
        raise RuntimeError("torch with CUDA is needed for the attention peer (scaled_dot_product_attention)")
    torch.backends.cuda.matmul.allow_tf32 = False
    g = torch.Generator(device="cuda").manual_seed(l + b * h)
    q, k, v, do = (torch.randn(b, h, l, e, device="cuda", generator=g) for _ in range(4))
    qp, kp, vp = (t.clone().requires_grad_(True) for t in (q, k, v))
    sdpa = torch.nn.functional.scaled_dot_product_attention
    state = {}

    def ours_fwd():
        state["o"], state["lse"] = tfc.attention_forward(q, k, v, None, causal)

    def ours_fwd_bwd():
        o, lse = tfc.attention_forward(q, k, v, None, causal)
        tfc.attention_backward(do, q, k, v, o, lse, None, causal)

    def peer_fwd():
        with torch.no_grad():
            sdpa(q, k, v, is_causal=causal)

    def peer_fwd_bwd():
        out = sdpa(qp, kp, vp, is_causal=causal)
        qp.grad = kp.grad = vp.grad = None
        out.backward(do)

    # Check ours against the peer once (fp32 both).
    ours_fwd()
    ref = sdpa(qp, kp, vp, is_causal=causal)
    ref.backward(do)
    dq, dk, dv = tfc.attention_backward(do, q, k, v, state["o"], state["lse"], None, causal)
    torch.cuda.synchronize()
    rel = lambda a, r: float(torch.linalg.vector_norm(a - r) / torch.linalg.vector_norm(r))  # noqa: E731
    rel_fwd = rel(state["o"], ref.detach())
    rel_bwd = max(rel(dq, qp.grad), rel(dk, kp.grad), rel(dv, vp.grad))
    frac = 0.5 if causal else 1.0
    fwd_flops = 4.0 * b * h * l * l * e * frac
    rows = []
    for pname, ours, peer, flops, check in (("forward", ours_fwd, peer_fwd, fwd_flops, rel_fwd),
                                            ("fwd+bwd", ours_fwd_bwd, peer_fwd_bwd, 3.5 * fwd_flops, rel_bwd)):
        t, reps = bench_interleaved({"ours": ours, "peer": peer}, warmup=2, min_reps=3, max_reps=30,
                                    budget_s=budget_s)
        row = {"bench": f"attention {pname}", "size": f"B={b} H={h} L=S={l} E={e}{' causal' if causal else ''}",
               "reps": reps, "ours_ms": t["ours"], "peer": "torch SDPA (fp32)", "peer_ms": t["peer"],
               "ours_tflops": flops / (t["ours"] * 1e-3) / 1e12, "peer_tflops": flops / (t["peer"] * 1e-3) / 1e12,
               "speed_ratio": t["peer"] / t["ours"], "rel_err_vs_peer": check}
        if fma_tflops:
            row["ours_pct_of_fma_peak"] = 100.0 * row["ours_tflops"] / fma_tflops
        rows.append(row)
    del q, k, v, do, qp, kp, vp, ref
    torch.cuda.empty_cache()
    return rows


ATTENTION_TC_SHAPES = [  # (batch, heads, L, causal), E = 64, L = S
    (1, 8, 512, False),
    (8, 8, 1024, False),
    (8, 12, 2048, True),
    (1, 12, 4096, False),
    (8, 12, 4096, True),
]


def _flash_only():
    """A context manager restricting torch's SDPA to its flash backend (a no-op on torch without one)."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        return sdpa_kernel(SDPBackend.FLASH_ATTENTION)
    except ImportError:
        return contextlib.nullcontext()


def bench_attention_tc(spec, precision, budget_s, e=64):
    """Forward + backward of our tensor-core attention (float32 tensors, tf32 or bf16 products) vs torch's
    SDPA: fp32 for precision "high", its flash path on bf16 copies of the inputs for "medium"."""
    b, h, l, causal = spec
    if torch is None:
        raise RuntimeError("torch with CUDA is needed for the attention peer (scaled_dot_product_attention)")
    torch.backends.cuda.matmul.allow_tf32 = False
    g = torch.Generator(device="cuda").manual_seed(7 * l + b * h)
    q, k, v, do = (torch.randn(b, h, l, e, device="cuda", generator=g) for _ in range(4))
    peer_dtype = torch.bfloat16 if precision == "medium" else torch.float32
    qp, kp, vp = (t.to(peer_dtype).requires_grad_(True) for t in (q, k, v))
    dop = do.to(peer_dtype)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    backend = _flash_only if precision == "medium" else contextlib.nullcontext

    def ours_fwd_bwd():
        o, lse = tfc.attention_forward(q, k, v, None, causal, precision=precision)
        return (o,) + tfc.attention_backward(do, q, k, v, o, lse, None, causal, precision=precision)

    def peer_fwd_bwd():
        with backend():
            out = sdpa(qp, kp, vp, is_causal=causal)
        qp.grad = kp.grad = vp.grad = None
        out.backward(dop)
        return out

    ours = ours_fwd_bwd()
    ref = peer_fwd_bwd()
    torch.cuda.synchronize()
    rel = lambda a, r: float(torch.linalg.vector_norm(a - r.float()) / torch.linalg.vector_norm(r.float()))  # noqa: E731
    check = max(rel(ours[0], ref.detach()), rel(ours[1], qp.grad), rel(ours[2], kp.grad), rel(ours[3], vp.grad))
    t, reps = bench_interleaved({"ours": ours_fwd_bwd, "peer": peer_fwd_bwd}, warmup=2, min_reps=3, max_reps=30,
                                budget_s=budget_s)
    flops = 3.5 * 4.0 * b * h * l * l * e * (0.5 if causal else 1.0)
    peer = "torch SDPA flash (bf16)" if precision == "medium" else "torch SDPA (fp32)"
    row = {"bench": f"attention fwd+bwd {'tf32' if precision == 'high' else 'bf16'}",
           "size": f"B={b} H={h} L=S={l} E={e}{' causal' if causal else ''}", "reps": reps, "ours_ms": t["ours"],
           "peer": peer, "peer_ms": t["peer"], "ours_tflops": flops / (t["ours"] * 1e-3) / 1e12,
           "peer_tflops": flops / (t["peer"] * 1e-3) / 1e12, "speed_ratio": t["peer"] / t["ours"],
           "rel_err_vs_peer": check}
    del q, k, v, do, qp, kp, vp, dop, ours, ref
    torch.cuda.empty_cache()
    return [row]


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
        if "ours_tflops" in r:
            ours = f"{fmt(r['ours_ms'], '.3f')} ms ({fmt(r['ours_tflops'], '.1f')} TFLOP/s)"
            peer_t = f"{fmt(r['peer_ms'], '.3f')} ms ({fmt(r['peer_tflops'], '.1f')} TFLOP/s)"
            ceil = f"{fmt(r.get('ours_pct_of_fma_peak'), '.0f')}% of FMA peak"
            peer_name = "cuBLAS" if "gemm" in r["bench"] else "torch"
            check = f"rel err vs {peer_name} {fmt(r['rel_err_vs_peer'], '.1e')}"
        else:
            ours = f"{fmt(r['ours_ms'], '.3f')} ms ({fmt(r['ours_gbps'], '.0f')} GB/s)"
            peer_t = (f"{fmt(r.get('peer_ms'), '.3f')} ms ({fmt(r.get('peer_gbps'), '.0f')} GB/s)"
                      if "peer_ms" in r else "-")
            ceil = f"{fmt(r.get('ours_pct_of_copy_bw'), '.0f')}% of copy BW"
            diff = r.get("max_rel_diff_vs_peer_after_1_step", r.get("max_rel_diff_vs_peer"))
            check = f"max rel diff vs torch {fmt(diff, '.1e')}"
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
                    "cuda_build": tfc.build_info(), "tensor_cores": tfc.tensor_core_path(), "cupy": cp.__version__,
                    "torch": torch.__version__ if torch is not None else None,
                    "tensorforge": tensorforge.__version__, "time": time.strftime("%Y-%m-%d %H:%M:%S %Z")},
        "ceilings": {}, "rows": [],
    }
    print(f"# {name} (sm_{dev.compute_capability}, {results['machine']['sms']} SMs); {tfc.build_info()}; "
          f"tensor cores: {tfc.tensor_core_path()}", flush=True)

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
    gemm_runs = [(precision, "auto") for precision in GEMM_PRECISIONS]
    if tfc.tensor_core_path().startswith("wgmma"):  # Hopper: the mma.sync kernel too, for comparison
        gemm_runs += [("high", "mma_sync"), ("medium", "mma_sync")]
    for precision, tensor_core in gemm_runs:
        for n in sizes:
            if tensor_core == "mma_sync" and n < 4096:
                continue
            try:
                row = bench_gemm(n, budget_s=2.0 if args.quick else 6.0,
                                 fma_tflops=results["ceilings"].get("fma_tflops"), precision=precision,
                                 tensor_core=tensor_core)
            except Exception as e:  # noqa: BLE001
                traceback.print_exc()
                row = {"bench": f"{GEMM_PRECISIONS[precision][0]} ({tensor_core})", "size": f"{n}x{n}x{n}",
                       "error": repr(e)[:200]}
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

    try:
        if torch is None or not torch.cuda.is_available():
            raise RuntimeError("the LayerNorm / GELU peers are torch's CUDA kernels; torch with CUDA is not installed")
        rows = bench_norm_gelu(budget_s=1.0 if args.quick else 4.0, copy_gbps=results["ceilings"].get("copy_gbps"),
                               quick=args.quick)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        rows = [{"bench": "LayerNorm / GELU", "error": repr(e)[:200]}]
    for row in rows:
        results["rows"].append(row)
        print(json.dumps(row), flush=True)

    for rows, cols in SOFTMAX_CE_SHAPES:
        if args.quick:
            rows = min(rows, 1024) if cols > 1024 else rows // 8
        try:
            if torch is None or not torch.cuda.is_available():
                raise RuntimeError("the softmax / cross-entropy peers are torch's CUDA kernels; torch with CUDA "
                                   "is not installed")
            rows_sc = bench_softmax_ce(rows, cols, budget_s=1.0 if args.quick else 2.0,
                                       copy_gbps=results["ceilings"].get("copy_gbps"))
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            rows_sc = [{"bench": "softmax / cross_entropy", "size": f"{rows}x{cols}", "error": repr(e)[:200]}]
        for row in rows_sc:
            results["rows"].append(row)
            print(json.dumps(row), flush=True)

    fma = results["ceilings"].get("fma_tflops")
    convs = RESNET_CONVS[:2] if args.quick else RESNET_CONVS
    for spec in convs:
        try:
            rows = bench_conv2d(spec, batch=8 if args.quick else 32, budget_s=0.5 if args.quick else 2.0,
                                fma_tflops=fma)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            rows = [{"bench": "conv2d", "size": spec[0], "error": repr(e)[:200]}]
        for row in rows:
            results["rows"].append(row)
            print(json.dumps(row), flush=True)
    shapes = ATTENTION_SHAPES[:2] if args.quick else ATTENTION_SHAPES
    for spec in shapes:
        try:
            rows = bench_attention(spec, budget_s=0.5 if args.quick else 3.0, fma_tflops=fma)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            rows = [{"bench": "attention", "size": str(spec), "error": repr(e)[:200]}]
        for row in rows:
            results["rows"].append(row)
            print(json.dumps(row), flush=True)
    for spec in ATTENTION_TC_SHAPES[:2] if args.quick else ATTENTION_TC_SHAPES:
        for precision in ("high", "medium"):
            try:
                rows = bench_attention_tc(spec, precision, budget_s=0.5 if args.quick else 2.0)
            except Exception as e:  # noqa: BLE001
                traceback.print_exc()
                rows = [{"bench": f"attention fwd+bwd {precision}", "size": str(spec), "error": repr(e)[:200]}]
            for row in rows:
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
