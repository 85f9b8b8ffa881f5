"""python -m tensorforge.datasets fetch [NAME ...]: fetches the real data sets into the cache and checks they load."""
import argparse
import sys
import time

import numpy as np

from . import bible_kjv, data_home, fashion_mnist, house_prices, mnist
from ._cache import DatasetCorruptError, DatasetNotFoundError


def _images(loader):
    def check():
        train, test = loader("train", raw=True), loader("test", raw=True)
        return (f"train {train[0].shape} test {test[0].shape}, labels {sorted(set(np.unique(train[1]).tolist()))}, "
                f"pixel mean {train[0].mean() / 255:.4f}")
    return check


def _houses():
    cols = house_prices(raw=True)
    price = cols["sale_price"]
    return f"{len(price)} sales, median price {np.median(price):,.0f}, {len(cols)} columns"


def _text():
    text = bible_kjv()
    return f"{len(text):,} characters, {text.count(chr(10)):,} lines, {len(set(text))} distinct characters"


CHECKS = {"mnist": _images(mnist), "fashion_mnist": _images(fashion_mnist), "house_prices": _houses,
          "text": _text}
ALIASES = {"bible_kjv": "text", "fashion-mnist": "fashion_mnist", "house-prices": "house_prices"}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tensorforge.datasets", description=__doc__)
    parser.add_argument("command", choices=["fetch"])
    parser.add_argument("names", nargs="*", help=f"data sets (default: all): {', '.join(CHECKS)}")
    args = parser.parse_args(argv)
    names = [ALIASES.get(n, n) for n in args.names] or list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        parser.error(f"unknown data set(s) {unknown}; choose from {list(CHECKS)}")
    print(f"cache: {data_home()}", flush=True)
    failed = 0
    for name in names:
        start = time.perf_counter()
        try:
            summary = CHECKS[name]()
        except (DatasetNotFoundError, DatasetCorruptError) as e:
            print(f"{name}: FAILED: {e}", flush=True)
            failed += 1
            continue
        print(f"{name}: ok in {time.perf_counter() - start:.1f} s: {summary}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
