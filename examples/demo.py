"""The README's demo: train a small MLP on real data with our Tensor + autograd, then time our GEMM.

1. scikit-learn's bundled handwritten digits (1,797 real 8x8 scans): a 64-256-10 MLP trained with
   plain minibatch SGD written on tensorforge's autograd (every matmul runs on our GEMM), with a
   progress bar per epoch, then its held-out accuracy.
2. The short GEMM benchmark (ours vs numpy/OpenBLAS vs torch), as bench/bench_gemm.py --quick prints it.

The nn/optim/training-loop layers (issue 7) will replace the hand-written model and SGD here.
"""
import argparse
import os
import subprocess
import sys

import numpy as np

import tensorforge as tf


def load_digits_split(seed):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def init_linear(fan_in, fan_out):
    bound = 1.0 / np.sqrt(fan_in)  # PyTorch's nn.Linear default range
    w = (tf.rand(fan_in, fan_out) * 2 - 1) * bound
    b = (tf.rand(fan_out) * 2 - 1) * bound
    return w.requires_grad_(), b.requires_grad_()


def forward(params, x):
    w1, b1, w2, b2 = params
    return tf.relu(x @ w1 + b1) @ w2 + b2


def cross_entropy(logits, labels):
    logp = tf.log_softmax(logits, dim=1)
    return -logp[tf.arange(len(labels)), labels].mean()


def accuracy(params, x, y):
    with tf.no_grad():
        return float((forward(params, tf.from_numpy(x)).argmax(dim=1).numpy() == y).mean())


def train(epochs, batch_size, lr, seed):
    from tqdm import tqdm

    tf.manual_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_digits_split(seed)
    params = [*init_linear(64, 256), *init_linear(256, 10)]
    rng = np.random.default_rng(seed)
    print(f"digits: {len(x_train)} train / {len(x_test)} test images, MLP 64-256-10, SGD lr={lr}")
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        batches = range(0, len(order), batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch}/{epochs}", unit="batch", disable=None, leave=True)
        for start in bar:
            idx = order[start:start + batch_size]
            loss = cross_entropy(forward(params, tf.from_numpy(x_train[idx])), tf.from_numpy(y_train[idx]))
            for p in params:
                p.grad = None
            loss.backward()
            with tf.no_grad():
                for p in params:
                    p.add_(p.grad, alpha=-lr)
            bar.set_postfix(loss=f"{loss.item():.4f}")
        print(f"epoch {epoch}: loss {loss.item():.4f}, test accuracy {accuracy(params, x_test, y_test):.2%}")
    return accuracy(params, x_test, y_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-bench", action="store_true", help="skip the GEMM benchmark")
    args = parser.parse_args()

    tf.show_config()
    print()
    acc = train(args.epochs, args.batch_size, args.lr, args.seed)
    print(f"\nfinal held-out accuracy on real handwritten digits: {acc:.2%}\n")
    if not args.no_bench:
        bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "bench_gemm.py")
        subprocess.run([sys.executable, bench, "--quick"], check=True)


if __name__ == "__main__":
    main()
