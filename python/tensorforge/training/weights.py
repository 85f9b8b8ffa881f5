"""Keras's sample_weight and class_weight for fit / evaluate.

A batch's weighted loss is sum_i w_i * loss_i / batch size (Keras's "sum over batch size"
reduction), where loss_i is the loss of sample i averaged over its other elements (a regression
target's outputs, a sequence's time steps). class_weight maps a class to a weight; a sample's weight
is its class's (integer labels, 0/1 labels of a binary loss, or the argmax of one-hot targets),
times its sample_weight when both are given. Metrics stay unweighted, as Keras's `metrics=`.
"""
import copy
import functools

import numpy as np

from ..tensor import make


def sample_weights(y, sample_weight, class_weight, what):
    """The per-sample weights (float64, shape (N,)) for targets y, or None when neither is given."""
    if sample_weight is None and class_weight is None:
        return None
    n = y.shape[0]
    w = np.ones(n)
    if sample_weight is not None:
        sw = np.asarray(sample_weight._data if hasattr(sample_weight, "_data") else sample_weight, dtype=np.float64)
        if sw.shape != (n,):
            raise ValueError(f"{what}: sample_weight must have one weight per sample, shape ({n},); got shape "
                             f"{sw.shape}")
        if not np.all(np.isfinite(sw)) or np.any(sw < 0):
            raise ValueError(f"{what}: sample_weight must be finite and non-negative")
        w *= sw
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(f"{what}: class_weight must be a dict {{class index: weight}}, got "
                            f"{type(class_weight).__name__}")
        classes = _class_labels(y, what)
        table = {int(k): float(v) for k, v in class_weight.items()}
        missing = sorted(set(np.unique(classes).tolist()) - set(table))
        if missing:
            raise ValueError(f"{what}: class_weight has no weight for class(es) {missing[:10]}")
        w *= np.array([table[c] for c in classes.tolist()])
    return w


def _class_labels(y, what):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind == "f":  # one-hot rows / class probabilities
        return y.argmax(1)
    flat = y.reshape(y.shape[0], -1)
    if flat.shape[1] != 1 or (y.dtype.kind == "f" and not np.all(flat == np.round(flat))):
        raise ValueError(f"{what}: class_weight needs one class label per sample (integer labels, 0/1 labels or "
                         f"one-hot rows); got targets of shape {y.shape}")
    return flat[:, 0].astype(np.int64)


def _unreduced(fn):
    """`fn` computing one loss per element (reduction='none')."""
    if hasattr(fn, "reduction") and hasattr(fn, "forward"):  # an nn loss module
        module = copy.copy(fn)
        module.reduction = "none"
        return module
    return functools.partial(fn, reduction="none")


def weighted_loss(compiled, out, target, weights):
    """sum_i weights_i * loss_i / N for a CompiledLoss, loss_i averaged over sample i's elements."""
    out, target = compiled.reconcile(out, target)
    try:
        losses = _unreduced(compiled.fn)(out, target)
    except TypeError as e:
        raise TypeError(f"sample_weight / class_weight need a loss that accepts reduction='none' (a loss name, an "
                        f"F.* loss or an nn loss module); {compiled.name} does not") from e
    n = weights.shape[0]
    per_sample = losses.reshape(n, -1).mean(1)
    w = make(weights.astype(per_sample._data.dtype)).to(per_sample.device)
    return (per_sample * w).sum() / n
