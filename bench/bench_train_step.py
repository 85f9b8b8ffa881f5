"""End-to-end training step, tensorforge vs torch eager on the CPU: the same model, the same batch,
the same optimizer (Adam), threads pinned for both, interleaved rounds, median.

Models: the MNIST CNN of PyTorch's example (conv 1->32, conv 32->64, 3x3, max-pool, dropout,
linear 9216->128->10; batch 64) and, where nn.TransformerEncoderLayer exists, a small pre-norm
transformer language model (embedding 65 -> 128, 2 layers, 4 heads, sequence 128, batch 16).
A step is zero_grad + forward + loss + backward + optimizer step.
With --cpu-time each step is timed by the process's CPU time instead of the wall clock: on a loaded
machine this leaves out the time spent waiting for a core (meaningful with --threads 1; with more
threads it also counts the pools' spin-waiting).
Run: PYTHONPATH=python python bench/bench_train_step.py [--threads 2] [--rounds 15] [--model lm] [--cpu-time]
"""
import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

import tensorforge as tf


def mnist_cnn(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def mnist_batch(rng):
    return rng.standard_normal((64, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 64)


class CharLM:
    """Embedding -> pre-norm encoder layers (causal) -> LayerNorm -> Linear, built in either library."""

    vocab, width, heads, layers, seq, batch = 65, 128, 4, 2, 128, 16

    def __init__(self, lib):
        nn = lib.nn
        self.lib = lib
        self.model = nn.ModuleDict({
            "embed": nn.Embedding(self.vocab, self.width),
            "pos": nn.Embedding(self.seq, self.width),
            "blocks": nn.ModuleList([nn.TransformerEncoderLayer(self.width, self.heads, 4 * self.width, 0.0,
                                                                activation="gelu", batch_first=True,
                                                                norm_first=True) for _ in range(self.layers)]),
            "norm": nn.LayerNorm(self.width),
            "head": nn.Linear(self.width, self.vocab)})

    def __call__(self, idx):
        lib, m = self.lib, self.model
        x = m["embed"](idx) + m["pos"](lib.arange(idx.shape[1]))
        for block in m["blocks"]:
            x = block(x, is_causal=True, src_mask=_causal_mask(lib, idx.shape[1]))
        return m["head"](m["norm"](x)).reshape(-1, self.vocab)


def _causal_mask(lib, n):
    return lib.ones(n, n, dtype=lib.bool).tril().logical_not() if lib.__name__ == "torch" else None


def lm_batch(rng):
    idx = rng.integers(0, CharLM.vocab, (CharLM.batch, CharLM.seq))
    return idx, rng.integers(0, CharLM.vocab, CharLM.batch * CharLM.seq)


def make_step(lib, model, params, x, y):
    opt = lib.optim.Adam(params, lr=1e-3)
    loss_fn = lib.nn.functional.cross_entropy

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def median_ms(times):
    return statistics.median(times) * 1e3


def run_case(name, build, batch, libs, rounds, rng, clock=time.perf_counter):
    xs, ys = batch(rng)
    steps = {}
    for label, lib in libs.items():
        obj = build(lib)
        model = obj.model if isinstance(obj, CharLM) else obj
        model.train()
        x = lib.tensor(xs)
        y = lib.tensor(ys)
        steps[label] = make_step(lib, obj, list(model.parameters()), x, y)
    times = {label: [] for label in libs}
    for _ in range(3):
        for label in libs:
            steps[label]()
    for _ in range(rounds):
        for label in libs:
            t0 = clock()
            steps[label]()
            times[label].append(clock() - t0)
    ms = {label: median_ms(t) for label, t in times.items()}
    return {"case": name, "ms": ms, "ratio": ms["torch"] / ms["tensorforge"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--cpu-time", action="store_true", help="time steps by process CPU time, not wall clock")
    ap.add_argument("--model", choices=["all", "mnist", "lm"], default="all", help="which training step to time")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    tf.set_num_threads(args.threads)
    torch.manual_seed(0)
    tf.manual_seed(0)
    rng = np.random.default_rng(0)
    libs = {"tensorforge": tf, "torch": torch}
    cases = [("MNIST CNN, batch 64", mnist_cnn, mnist_batch)] if args.model in ("all", "mnist") else []
    if hasattr(tf.nn, "TransformerEncoderLayer") and args.model in ("all", "lm"):
        cases.append(("char transformer LM, batch 16 x 128", CharLM, lm_batch))
    clock = time.process_time if args.cpu_time else time.perf_counter
    load_before = os.getloadavg()[0]
    results = [run_case(name, build, batch, libs, args.rounds, rng, clock) for name, build, batch in cases]
    load = (load_before, os.getloadavg()[0])
    print(f"Training step (zero_grad + forward + loss + backward + Adam), {args.threads} threads, "
          f"median of {args.rounds} interleaved rounds, {'CPU' if args.cpu_time else 'wall-clock'} time, "
          f"load average {load[0]:.1f} -> {load[1]:.1f}\n")
    print("| model | tensorforge ms | torch ms | torch / ours |")
    print("|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['case']} | {r['ms']['tensorforge']:.1f} | {r['ms']['torch']:.1f} | {r['ratio']:.2f}x |")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "train_step.json"), "w") as f:
        json.dump({"threads": args.threads, "cpu_time": args.cpu_time, "machine": platform.processor() or platform.machine(), "load_average": load,
                   "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
