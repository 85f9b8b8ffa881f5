"""scikit-learn's bundled data sets (an optional dependency) as TensorDatasets of float32 features.

digits(): 1797 8x8 digit images flattened to 64 features (values 0-16), int64 labels 0-9.
diabetes(): 442 patients, 10 standardised features, float32 disease progression target.
breast_cancer(): 569 tumours, 30 features, int64 labels (0 malignant, 1 benign).
"""
import numpy as np

from ..data import TensorDataset
from ..tensor import make
from ._cache import DatasetNotFoundError


def _load(loader_name, target_dtype):
    try:
        import sklearn.datasets as skd
    except ImportError:
        raise DatasetNotFoundError(f"{loader_name} needs scikit-learn, which ships this data set: "
                                   "pip install scikit-learn (or pip install 'tensorforge[demo]')") from None
    bunch = getattr(skd, loader_name)()
    return TensorDataset(make(np.asarray(bunch.data, dtype=np.float32)),
                         make(np.asarray(bunch.target).astype(target_dtype)))


def digits():
    return _load("load_digits", np.int64)


def diabetes():
    return _load("load_diabetes", np.float32)


def breast_cancer():
    return _load("load_breast_cancer", np.int64)
