"""Metrics of the Keras-style loop, accumulated as running sums over an epoch.

Each metric sees the batch's outputs and targets as numpy arrays (no graph, no copies beyond
what the arithmetic needs) and keeps plain float or small-array sums; `result()` turns the sums
into the value over every sample seen since `reset()`. String shortcuts: 'accuracy' (or 'acc'),
'mae', 'mse', 'rmse', 'r2'. A callable `fn(outputs, targets)` (PyTorch's argument order, like the
loss) is averaged over batches weighted by their sizes.
"""
import numpy as np

from .._backend import xp
from ..tensor import Tensor


def _host(a):
    """A numpy copy of a small array of either device (explicit .get() for cupy)."""
    return a if xp(a) is np else a.get()


class Metric:
    """Base class: reset(), update(outputs, targets) with arrays of the model's device (numpy or cupy),
    result() -> float."""

    name = "metric"

    def __init__(self, name=None):
        if name is not None:
            self.name = name
        self.reset()

    def reset(self):
        raise NotImplementedError

    def update(self, outputs, targets):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def configure(self, loss_kind):
        """Called by compile() with the loss's kind ('categorical', 'binary_logits', 'binary_probs',
        'regression' or None) so metrics that depend on it (accuracy) pick the right rule."""

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


def _align(outputs, targets):
    """Drops a trailing size-1 axis that only one of outputs/targets has ((N, 1) against (N,))."""
    if outputs.ndim == targets.ndim + 1 and outputs.shape[-1] == 1:
        outputs = outputs[..., 0]
    elif targets.ndim == outputs.ndim + 1 and targets.shape[-1] == 1:
        targets = targets[..., 0]
    return outputs, targets


def class_axis(out_shape, target_shape):
    """The class axis of scores `out_shape` for class-index targets of `target_shape`: 1 in
    PyTorch's layout (N, C, d1, ...), -1 for classes last (N, d1, ..., C); None if neither fits.
    Where both fit (C == d1) PyTorch's layout wins, as in the loss."""
    out_shape, target_shape = tuple(out_shape), tuple(target_shape)
    if len(out_shape) != len(target_shape) + 1 or len(out_shape) < 2:
        return None
    if target_shape == out_shape[:1] + out_shape[2:]:
        return 1
    if target_shape == out_shape[:-1]:
        return -1
    return None


class Accuracy(Metric):
    """Fraction of correct predictions.

    Multi-class outputs (a last axis of C > 1 scores) are compared by argmax with class-index
    targets, or with the argmax of one-hot/probability targets of the same shape. Binary outputs
    (a last axis of 1, or the targets' shape with a binary loss) are thresholded: at 0 for logits
    (BCE-with-logits), at 0.5 for probabilities (the default, like Keras); `threshold` overrides.
    """

    name = "accuracy"

    def __init__(self, name=None, threshold=None):
        self.threshold = threshold
        self._mode = None          # 'categorical' / 'binary' / None (decided from the shapes)
        self._from_logits = False
        super().__init__(name)

    def configure(self, loss_kind):
        if loss_kind == "categorical":
            self._mode = "categorical"
        elif loss_kind in ("binary_logits", "binary_probs"):
            self._mode = "binary"
            self._from_logits = loss_kind == "binary_logits"

    def reset(self):
        self.correct = 0
        self.count = 0

    def update(self, outputs, targets):
        axis = class_axis(outputs.shape, targets.shape) if outputs.ndim == targets.ndim + 1 else None
        if axis is not None and outputs.shape[axis] > 1:
            hit = outputs.argmax(axis) == targets                  # class-index targets
        elif (self._mode != "binary" and outputs.ndim >= 2 and outputs.shape == targets.shape
              and outputs.shape[-1] > 1):
            hit = outputs.argmax(-1) == targets.argmax(-1)         # one-hot / probability targets
        else:
            outputs, targets = _align(outputs, targets)
            if outputs.dtype.kind in "iub":                        # the model already outputs labels
                hit = outputs == targets
            else:
                t = self.threshold if self.threshold is not None else (0.0 if self._from_logits else 0.5)
                hit = (outputs > t) == (targets > 0.5)
        self.correct += int(xp(hit).count_nonzero(hit))
        self.count += hit.size

    def result(self):
        return self.correct / self.count if self.count else float("nan")


class _ErrorMetric(Metric):
    def reset(self):
        self.total = 0.0
        self.count = 0

    def _err(self, outputs, targets):
        outputs, targets = _align(outputs, targets)
        if outputs.shape != targets.shape:
            raise ValueError(f"metric '{self.name}': outputs of shape {outputs.shape} and targets of shape "
                             f"{targets.shape} do not match")
        return outputs - targets

    def update(self, outputs, targets):
        d = self._err(outputs, targets)
        self.total += float(self._reduce(d))
        self.count += d.size

    def result(self):
        return self.total / self.count if self.count else float("nan")


class MeanAbsoluteError(_ErrorMetric):
    name = "mae"

    @staticmethod
    def _reduce(d):
        return xp(d).abs(d).sum(dtype=np.float64)


class MeanSquaredError(_ErrorMetric):
    name = "mse"

    @staticmethod
    def _reduce(d):
        d = d.astype(np.float64, copy=False)
        return xp(d).dot(d.ravel(), d.ravel())


class RootMeanSquaredError(MeanSquaredError):
    name = "rmse"

    def result(self):
        return float(np.sqrt(super().result()))


class R2Score(Metric):
    """Coefficient of determination 1 - SS_res / SS_tot over the epoch, per output column and then
    averaged uniformly over the columns (scikit-learn's default), from running sums in float64."""

    name = "r2"

    def reset(self):
        self.n = 0
        self.sum_y = self.sum_y2 = self.sum_res = 0.0

    def update(self, outputs, targets):
        outputs, targets = _align(outputs, targets)
        if outputs.shape != targets.shape:
            raise ValueError(f"metric 'r2': outputs of shape {outputs.shape} and targets of shape "
                             f"{targets.shape} do not match")
        y = targets.reshape(targets.shape[0], -1).astype(np.float64, copy=False)
        p = outputs.reshape(outputs.shape[0], -1).astype(np.float64, copy=False)
        d = y - p
        self.n += y.shape[0]
        self.sum_y = self.sum_y + _host(y.sum(0))  # per-column sums: tiny, kept on the host
        self.sum_y2 = self.sum_y2 + _host((y * y).sum(0))
        self.sum_res = self.sum_res + _host((d * d).sum(0))

    def result(self):
        if self.n == 0:
            return float("nan")
        ss_tot = self.sum_y2 - self.sum_y * self.sum_y / self.n
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = 1.0 - self.sum_res / ss_tot
        # a constant target column: perfect predictions score 1, anything else 0 (scikit-learn's rule)
        r2 = np.where(ss_tot > 0, r2, np.where(np.asarray(self.sum_res) == 0, 1.0, 0.0))
        return float(np.mean(r2))


class FunctionMetric(Metric):
    """Wraps fn(outputs, targets) -> scalar (Tensor or number); averaged weighted by batch size."""

    def __init__(self, fn, name=None):
        self.fn = fn
        super().__init__(name or getattr(fn, "__name__", type(fn).__name__))

    def reset(self):
        self.total = 0.0
        self.count = 0

    def update(self, outputs, targets):
        value = self.fn(Tensor(outputs), Tensor(targets))
        n = outputs.shape[0] if outputs.ndim else 1
        self.total += float(value.item() if isinstance(value, Tensor) else value) * n
        self.count += n

    def result(self):
        return self.total / self.count if self.count else float("nan")


_BY_NAME = {
    "accuracy": Accuracy, "acc": Accuracy,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "rmse": RootMeanSquaredError, "root_mean_squared_error": RootMeanSquaredError,
    "r2": R2Score, "r2_score": R2Score,
}


def get(spec):
    """A Metric from a string shortcut, a Metric instance, or a callable fn(outputs, targets)."""
    if isinstance(spec, Metric):
        return spec
    if isinstance(spec, str):
        cls = _BY_NAME.get(spec.lower())
        if cls is None:
            raise ValueError(f"unknown metric '{spec}'; known: {', '.join(sorted(_BY_NAME))}, "
                             "a Metric instance or a callable fn(outputs, targets)")
        return cls(name=spec)
    if isinstance(spec, type) and issubclass(spec, Metric):
        return spec()
    if callable(spec):
        return FunctionMetric(spec)
    raise TypeError(f"a metric must be a string, a Metric or a callable, got {type(spec).__name__}")


__all__ = ["class_axis", "Metric", "Accuracy", "MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError", "R2Score",
           "FunctionMetric", "get"]
