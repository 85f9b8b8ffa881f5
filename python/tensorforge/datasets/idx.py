"""Reader for the idx format of MNIST and Fashion-MNIST (plain or gzip-compressed)."""
import gzip
from pathlib import Path

import numpy as np

from ._cache import DatasetCorruptError

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """The n-d array stored in an idx file: magic 0 0 <type> <ndim>, ndim big-endian int32 sizes, then the data."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DatasetCorruptError(f"{path}: corrupt gzip data ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DatasetCorruptError(f"{path}: not an idx file (magic bytes {raw[:4].hex()})")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">i4", ndim, 4).astype(np.int64) if len(raw) >= 4 + 4 * ndim else None
    dtype = np.dtype(_TYPES[raw[2]])
    start = 4 + 4 * ndim
    if dims is None or len(raw) - start != int(np.prod(dims)) * dtype.itemsize:
        raise DatasetCorruptError(f"{path}: idx data size does not match its header (truncated or corrupt)")
    return np.frombuffer(raw, dtype, offset=start).reshape(tuple(dims)).astype(dtype.newbyteorder("="))
