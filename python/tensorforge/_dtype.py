"""dtype objects (tensorforge.float32, ...) and PyTorch's type-promotion rules."""
import numpy as np


class dtype:
    """A tensor element type; wraps the numpy dtype that stores it."""

    __slots__ = ("name", "np", "is_floating_point", "itemsize", "_category")

    def __init__(self, name, np_dtype, category):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = category == 2
        self.itemsize = self.np.itemsize
        self._category = category  # 0 bool, 1 integer, 2 floating point

    def __repr__(self):
        return f"tensorforge.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))


float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)
int64 = dtype("int64", np.int64, 1)
int32 = dtype("int32", np.int32, 1)
uint8 = dtype("uint8", np.uint8, 1)
bool_ = dtype("bool", np.bool_, 0)
float = float32  # noqa: A001 - PyTorch aliases
double = float64
long = int64
int = int32  # noqa: A001

ALL = (float32, float64, int64, int32, uint8, bool_)
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
# numpy dtypes with no tensorforge twin that numpy array inputs are converted to
_NP_FALLBACK = {np.dtype(np.float16): float32, np.dtype(np.int8): int32, np.dtype(np.int16): int32,
                np.dtype(np.uint16): int32, np.dtype(np.uint32): int64, np.dtype(np.uint64): int64}


def _by_name(name):
    return _BY_NAME[name]


def from_numpy_dtype(np_dtype):
    """The tensorforge dtype of a numpy dtype; TypeError for types tensors cannot hold."""
    d = _BY_NP.get(np_dtype)
    if d is None:
        raise TypeError(f"numpy arrays of dtype {np_dtype} are not supported; supported dtypes: "
                        f"{', '.join(x.name for x in ALL)}")
    return d


def to_numpy_dtype(d):
    """Accepts a tensorforge dtype, a numpy dtype or a Python type (float, int, bool)."""
    if d.__class__ is dtype:
        return d.np
    if d is builtin_float:
        return float32.np
    if d is builtin_int:
        return int64.np
    if d is builtin_bool:
        return bool_.np
    npd = np.dtype(d)
    from_numpy_dtype(npd)
    return npd


builtin_float, builtin_int, builtin_bool = type(1.0), type(1), type(True)
_CATEGORY = {d.np: d._category for d in ALL}


def _category_of_scalar(value):
    if value.__class__ is builtin_bool:
        return 0
    return 2 if value.__class__ is builtin_float else 1


def result_type(a, b):
    """The numpy dtype of a binary op on arrays a and b under PyTorch's rules.

    Operands of a higher category (bool < integer < floating point) win; within a category the
    wider type wins, except that a 0-d operand only decides the type when its category is higher.
    """
    da, db = a.dtype, b.dtype
    if da == db:
        return da
    ca, cb = _CATEGORY[da], _CATEGORY[db]
    a0, b0 = a.ndim == 0, b.ndim == 0
    if a0 != b0:  # a 0-d operand matters only when its category is higher
        if a0:
            return da if ca > cb else db
        return db if cb > ca else da
    if ca != cb:
        return da if ca > cb else db
    return np.promote_types(da, db)


def scalar_result_type(a, value):
    """The numpy dtype of an op between array a and a Python scalar."""
    ca, cs = _CATEGORY[a.dtype], _category_of_scalar(value)
    if cs <= ca:
        return a.dtype
    return float32.np if cs == 2 else int64.np
