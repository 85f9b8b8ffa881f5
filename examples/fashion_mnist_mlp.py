"""Fashion-MNIST MLP classifier: 784-256-128-10 with ReLU, dropout and BatchNorm, Keras-style loop.

Zalando's Fashion-MNIST (Debian package dataset-fashion-mnist, fetched once and cached).
Run: python examples/fashion_mnist_mlp.py [--epochs 10]
"""
import argparse

import numpy as np

import tensorforge as tf
from tensorforge import nn
from tensorforge.training import EarlyStopping


def mlp():
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--curves", default="fashion_mnist_curves.png")
    ap.add_argument("--verbose", type=int, default=1)
    args = ap.parse_args(argv)

    tf.manual_seed(args.seed)
    x_train, y_train = tf.datasets.fashion_mnist("train").tensors
    x_test, y_test = tf.datasets.fashion_mnist("test").tensors
    model = tf.Model(mlp())
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.1,
                        callbacks=[EarlyStopping(monitor="val_accuracy", patience=3, restore_best_weights=True)],
                        seed=args.seed, verbose=args.verbose)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    predicted = model.predict(x_test[:8]).argmax(dim=1).numpy()
    names = tf.datasets.FASHION_MNIST_CLASSES
    print(f"Fashion-MNIST MLP: test accuracy {accuracy:.2%} (loss {loss:.4f})")
    print("first test images:", ", ".join(f"{names[p]} ({'ok' if p == t else names[t]})"
                                          for p, t in zip(predicted, np.asarray(y_test[:8]))))
    if args.curves:
        history.plot(args.curves)
    return accuracy


if __name__ == "__main__":
    main()
