"""Model: an nn.Module with the Keras loop: compile / fit / evaluate / predict / summary.

Either wrap a network, `Model(nn.Sequential(...))`, or subclass Model and write forward() like a
keras.Model. The per-batch work of fit() is: slice (in-memory data) or take (a loader) the batch,
forward, loss, one .item(), zero_grad/backward/step, and numpy running sums for the metrics; the
batch hooks run only for callbacks that define them.
"""
import math
import time

import numpy as np

from .. import _creation
from .._backend import CPU, to_device, xp
from ..autograd import no_grad
from ..nn import functional as F
from ..nn.modules import loss as nn_loss
from ..nn.modules.module import Module
from ..tensor import Tensor, make
from . import metrics as metrics_mod
from .callbacks import Callback, CallbackList, LearningRateScheduler, _is_lr_scheduler, current_lr
from .history import History
from .progress import ProgressBar, format_logs, resolve_verbose
from .weights import sample_weights, weighted_loss

# Keras's default learning rates; the other hyper-parameters are tensorforge.optim's (PyTorch's).
OPTIMIZERS = {
    "adam": ("Adam", {"lr": 1e-3}),
    "adamw": ("AdamW", {"lr": 1e-3}),
    "sgd": ("SGD", {"lr": 0.01}),
    "rmsprop": ("RMSprop", {"lr": 1e-3}),
    "adagrad": ("Adagrad", {"lr": 1e-3}),
}

# name -> (function, kind). Cross-entropy losses take logits (PyTorch's convention); 'bce' takes
# probabilities, 'bce_with_logits' raw scores. The kind picks target dtypes and accuracy's rule.
LOSSES = {
    "mse": (F.mse_loss, "regression"), "mean_squared_error": (F.mse_loss, "regression"),
    "mae": (F.l1_loss, "regression"), "l1": (F.l1_loss, "regression"),
    "mean_absolute_error": (F.l1_loss, "regression"),
    "huber": (F.huber_loss, "regression"), "smooth_l1": (F.smooth_l1_loss, "regression"),
    "cross_entropy": (F.cross_entropy, "categorical"),
    "sparse_categorical_crossentropy": (F.cross_entropy, "categorical"),
    "categorical_crossentropy": (F.cross_entropy, "categorical"),
    "nll": (F.nll_loss, "categorical"),
    "bce": (F.binary_cross_entropy, "binary_probs"), "binary_crossentropy": (F.binary_cross_entropy, "binary_probs"),
    "binary_cross_entropy": (F.binary_cross_entropy, "binary_probs"),
    "bce_with_logits": (F.binary_cross_entropy_with_logits, "binary_logits"),
    "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, "binary_logits"),
}
_MODULE_KINDS = (
    ((nn_loss.CrossEntropyLoss, nn_loss.NLLLoss), "categorical"),
    ((nn_loss.BCEWithLogitsLoss,), "binary_logits"),
    ((nn_loss.BCELoss,), "binary_probs"),
    ((nn_loss.MSELoss, nn_loss.L1Loss, nn_loss.HuberLoss, nn_loss.SmoothL1Loss), "regression"),
)
_FUNCTION_KINDS = {id(fn): kind for fn, kind in LOSSES.values()}


class CompiledLoss:
    """loss(outputs, targets) of a compiled model. For losses of a known kind it reconciles a
    trailing size-1 axis between outputs and targets ((N, 1) outputs with (N,) targets) by a view,
    and cross-entropy accepts classes-last scores (N, T, C) with (N, T) targets as well as
    PyTorch's (N, C, T)."""

    def __init__(self, fn, kind, name):
        self.fn, self.kind, self.name = fn, kind, name

    def __call__(self, out, target):
        return self.fn(*self.reconcile(out, target))

    def reconcile(self, out, target):
        """(out, target) with the layouts above made to match."""
        if self.kind is not None and isinstance(out, Tensor):
            os_, ts = out.shape, target.shape
            if self.kind == "categorical":
                if len(ts) == len(os_) and len(ts) >= 2 and ts[-1] == 1 and target._data.dtype.kind in "iu":
                    target = make(target._data.reshape(ts[:-1]))
                    ts = target.shape
                if len(os_) >= 3 and metrics_mod.class_axis(os_, ts) == -1:
                    # classes last, Keras's layout (a sequence model's (N, T, C) scores): flatten
                    out = out.reshape(-1, os_[-1])
                    target = make(target._data.reshape(-1))
            elif len(ts) + 1 == len(os_) and os_[-1] == 1 or len(ts) == len(os_) + 1 and ts[-1] == 1:
                target = make(target._data.reshape(os_))
        return out, target

    def __repr__(self):
        return f"CompiledLoss({self.name}, kind={self.kind})"


def resolve_loss(loss):
    if isinstance(loss, str):
        entry = LOSSES.get(loss.lower())
        if entry is None:
            raise ValueError(f"unknown loss '{loss}'; known: {', '.join(sorted(LOSSES))}, "
                             "or pass a callable loss(outputs, targets) / an nn loss module")
        return CompiledLoss(entry[0], entry[1], loss)
    if isinstance(loss, CompiledLoss):
        return loss
    if callable(loss):
        kind = _FUNCTION_KINDS.get(id(loss))
        for classes, k in _MODULE_KINDS:
            if isinstance(loss, classes):
                kind = k
        return CompiledLoss(loss, kind, getattr(loss, "__name__", type(loss).__name__))
    raise TypeError(f"loss must be a string, a callable or an nn loss module, got {type(loss).__name__}")


def _is_array(obj):
    return isinstance(obj, (Tensor, np.ndarray)) or (hasattr(obj, "__array__") and hasattr(obj, "shape")
                                                    and not isinstance(obj, (list, tuple)))


def _looks_like_batches(seq):
    """A list of batches ((inputs, targets) pairs or input arrays) rather than nested numbers."""
    first = seq[0] if len(seq) else None
    if isinstance(first, (list, tuple)) and len(first):
        first = first[0]
    return _is_array(first) and getattr(first, "ndim", 1) >= 1


def _to_array(obj, what):
    if isinstance(obj, Tensor):
        return obj._data
    if isinstance(obj, np.ndarray):
        return obj
    if hasattr(obj, "detach") and hasattr(obj, "numpy"):  # a torch tensor
        return obj.detach().cpu().numpy()
    try:
        arr = np.asarray(obj)
    except (TypeError, ValueError) as e:  # noqa: BLE001 - re-raised with the argument's name
        raise TypeError(f"{what} must be a Tensor or an array, got {type(obj).__name__}") from e
    if arr.dtype == object:
        raise TypeError(f"{what} must be a Tensor or a numeric array, got {type(obj).__name__} of objects")
    return arr


def _input_array(arr, fdtype):
    if arr.dtype.kind == "f" and arr.dtype != fdtype:
        return arr.astype(fdtype)
    return arr


def _target_array(arr, kind, fdtype):
    k = arr.dtype.kind
    if kind == "categorical":
        if k in "iub" or (k == "f" and arr.ndim == 1 and bool((arr == arr.round()).all())):
            return arr.astype(np.int64, copy=False)  # class indices (1-d float labels too, like Keras)
        return arr.astype(fdtype, copy=False)
    if kind in ("regression", "binary_probs", "binary_logits"):
        return arr.astype(fdtype, copy=False)
    if k == "f":
        return arr.astype(fdtype, copy=False)
    return arr


class _ArrayData:
    """Batches of in-memory arrays: slices of a fresh permutation each pass (shuffle) or plain
    views (no shuffle). Yields (inputs, targets, sample weights or None) as numpy arrays."""

    def __init__(self, x, y, batch_size, shuffle=False, rng=None, w=None):
        self.x, self.y, self.w = x, y, w
        self.n = x.shape[0]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rng = rng

    def __len__(self):
        return -(-self.n // self.batch_size)

    def __iter__(self):
        x, y, w, bs, n = self.x, self.y, self.w, self.batch_size, self.n
        if self.shuffle:
            perm = self.rng.permutation(n)
            xperm = xp(x).asarray(perm) if xp(x) is not np else perm  # data already on a GPU: index it there
            for i in range(0, n, bs):
                idx = xperm[i:i + bs]
                yield x[idx], (None if y is None else y[idx]), (None if w is None else w[perm[i:i + bs]])
        else:
            for i in range(0, n, bs):
                yield x[i:i + bs], (None if y is None else y[i:i + bs]), (None if w is None else w[i:i + bs])

    def split(self, at):
        """(the first `at` samples, the rest) as two unshuffled _ArrayData."""
        w = (None, None) if self.w is None else (self.w[:at], self.w[at:])
        return (_ArrayData(self.x[:at], self.y[:at], self.batch_size, self.shuffle, self.rng, w[0]),
                _ArrayData(self.x[at:], self.y[at:], self.batch_size, w=w[1]))


class _IterableData:
    """Batches from a DataLoader or any iterable of (inputs, targets) pairs, (inputs, targets,
    sample weights) triples, or inputs alone (predict). Converts each to arrays with the model's
    float dtype; yields (inputs, targets, weights or None)."""

    def __init__(self, source, kind, fdtype, what, need_targets=True):
        if not hasattr(source, "__iter__"):
            raise TypeError(f"{what} must be a Tensor, an array, a DataLoader or an iterable of (inputs, targets) "
                            f"batches, got {type(source).__name__}")
        self.source, self.kind, self.fdtype, self.what = source, kind, fdtype, what
        self.need_targets = need_targets

    def __len__(self):
        try:
            return len(self.source)
        except TypeError:
            return 0

    def _inputs(self, xb):
        if isinstance(xb, (tuple, list)):
            return tuple(_input_array(_to_array(v, f"{self.what} inputs"), self.fdtype) for v in xb)
        return _input_array(_to_array(xb, f"{self.what} inputs"), self.fdtype)

    def __iter__(self):
        for i, batch in enumerate(self.source):
            wb = None
            if isinstance(batch, (tuple, list)) and len(batch) == 2:
                xb, yb = batch
            elif isinstance(batch, (tuple, list)) and len(batch) == 3 and self.need_targets:
                xb, yb, wb = batch
                wb = sample_weights(_to_array(yb, f"{self.what} targets"), _to_array(wb, f"{self.what} weights"),
                                    None, f"{self.what}: batch {i}")
            elif isinstance(batch, (tuple, list)) and len(batch) != 1:
                raise ValueError(f"{self.what}: batch {i} is a sequence of {len(batch)} items; expected "
                                 "(inputs, targets) pairs or (inputs, targets, sample weights) triples")
            elif not self.need_targets:
                xb, yb = (batch[0] if isinstance(batch, (tuple, list)) else batch), None
            else:
                raise ValueError(f"{self.what}: batch {i} has no targets; expected (inputs, targets) pairs")
            if yb is not None:
                yb = _target_array(_to_array(yb, f"{self.what} targets"), self.kind, self.fdtype)
            yield self._inputs(xb), yb, wb


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _serialization():
    try:
        from ..serialization import load, save
    except ImportError as e:
        raise ImportError("saving and loading models needs tensorforge.save / tensorforge.load "
                          "(tensorforge.serialization), which this build of tensorforge lacks") from e
    return save, load


class Model(Module):
    """A trainable model with Keras's loop. `Model(network)` wraps any nn.Module; a subclass
    instead defines its layers in __init__ and its forward(). compile() before fit/evaluate."""

    def __init__(self, network=None):
        super().__init__()
        if network is not None:
            if not isinstance(network, Module):
                raise TypeError(f"Model(network): network must be an nn.Module, got {type(network).__name__}")
            self.network = network
        object.__setattr__(self, "optimizer", None)
        object.__setattr__(self, "loss", None)
        object.__setattr__(self, "metrics", [])
        object.__setattr__(self, "history", None)
        object.__setattr__(self, "stop_training", False)
        object.__setattr__(self, "clip_grad_norm", None)
        object.__setattr__(self, "_input_spec", None)

    def forward(self, *args, **kwargs):
        net = self._modules.get("network")
        if net is None:
            raise NotImplementedError(f"{type(self).__name__} has no forward(): wrap a network with Model(network) "
                                      "or subclass Model and define forward()")
        return net(*args, **kwargs)

    # ---- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, clip_grad_norm=None):
        """optimizer: an optimizer instance, a name ('adam', 'adamw', 'sgd', 'rmsprop', 'adagrad')
        or (name, kwargs) like ('adam', {'lr': 3e-4}); loss: a name (see LOSSES), a callable
        loss(outputs, targets) or an nn loss module; metrics: names ('accuracy', 'mae', 'mse',
        'rmse', 'r2'), Metric objects or callables fn(outputs, targets); clip_grad_norm: clip the
        gradients' global 2-norm to this value before every step (nn.utils.clip_grad_norm_)."""
        if clip_grad_norm is not None and not (float(clip_grad_norm) > 0):
            raise ValueError(f"compile: clip_grad_norm must be a positive number, got {clip_grad_norm!r}")
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='mse' or loss='cross_entropy'")
        compiled_loss = resolve_loss(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, metrics_mod.Metric)) or callable(metrics):
            metrics = [metrics]
        resolved = [metrics_mod.get(m) for m in metrics]
        names = ["loss"]
        for m in resolved:
            if m.name in names:
                raise ValueError(f"compile: two metrics (or a metric and the loss) are named '{m.name}'")
            names.append(m.name)
            m.configure(compiled_loss.kind)
        opt = self._resolve_optimizer(optimizer)
        object.__setattr__(self, "optimizer", opt)
        object.__setattr__(self, "loss", compiled_loss)
        object.__setattr__(self, "metrics", resolved)
        object.__setattr__(self, "clip_grad_norm", None if clip_grad_norm is None else float(clip_grad_norm))
        return self

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.metrics]

    def _resolve_optimizer(self, spec):
        if isinstance(spec, str):
            name, kwargs = spec, {}
        elif isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str):
            name, kwargs = spec[0], dict(spec[1])
        elif hasattr(spec, "step") and hasattr(spec, "zero_grad"):
            groups = getattr(spec, "param_groups", None)
            if groups is not None:
                mine = {id(p) for p in self.parameters()}
                if not any(id(p) in mine for g in groups for p in g["params"]):
                    raise ValueError("compile: the optimizer holds none of this model's parameters "
                                     "(was it built over another model?)")
            return spec
        else:
            raise TypeError("compile: optimizer must be an optimizer instance, a name like 'adam' or "
                            f"(name, kwargs); got {type(spec).__name__}")
        entry = OPTIMIZERS.get(name.lower())
        if entry is None:
            raise ValueError(f"unknown optimizer '{name}'; known: {', '.join(sorted(OPTIMIZERS))}, "
                             "or pass an optimizer instance")
        try:
            from .. import optim
        except ImportError as e:
            raise ImportError(f"compile(optimizer='{name}') needs tensorforge.optim, which this build lacks; "
                              "pass an optimizer instance instead") from e
        cls_name, defaults = entry
        kwargs = {**defaults, **kwargs}
        if "learning_rate" in kwargs:  # Keras's spelling
            kwargs["lr"] = kwargs.pop("learning_rate")
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            raise ValueError("compile: the model has no trainable parameters")
        return getattr(optim, cls_name)(params, **kwargs)

    def _require_compiled(self, what):
        if self.loss is None or (what == "fit" and self.optimizer is None):
            raise RuntimeError(f"{what}: the model is not compiled; call model.compile(optimizer, loss, metrics) first")

    def _device(self):
        """Where the model's parameters live (the CPU for a model without any)."""
        for p in self.parameters():
            return p.device
        return CPU

    def _on_device(self, batch):
        """A batch (an array, or a tuple of arrays) moved to the model's device; None stays None."""
        if batch is None:
            return None
        dev = self._device()
        if isinstance(batch, tuple):
            return tuple(to_device(b, dev) for b in batch)
        return to_device(batch, dev)

    def _float_dtype(self):
        for p in self.parameters():
            if p._data.dtype.kind == "f":
                return p._data.dtype
        return np.dtype(np.float32)

    # ---- data ---------------------------------------------------------------------------------
    def _arrays(self, x, y, what):
        fdtype = self._float_dtype()
        xa = _input_array(_to_array(x, f"{what}: x"), fdtype)
        ya = _target_array(_to_array(y, f"{what}: y"), self.loss.kind if self.loss else None, fdtype)
        if xa.ndim == 0 or ya.ndim == 0:
            raise ValueError(f"{what}: x and y need a leading sample axis; got shapes {xa.shape} and {ya.shape}")
        if xa.shape[0] != ya.shape[0]:
            raise ValueError(f"{what}: x and y have different numbers of samples: x has {xa.shape[0]} "
                             f"(shape {xa.shape}), y has {ya.shape[0]} (shape {ya.shape})")
        return xa, ya

    def _batches(self, x, y, batch_size, what, shuffle=False, rng=None, sample_weight=None, class_weight=None):
        """(batches, number of samples or None) for x/y arrays or an iterable of batches as x."""
        if x is None:
            raise ValueError(f"{what}: x is required (arrays with y, or a DataLoader of (inputs, targets))")
        if isinstance(x, (list, tuple)) and not _looks_like_batches(x):
            x = _to_array(x, f"{what}: x")  # nested lists of numbers
        if _is_array(x):
            if y is None:
                raise ValueError(f"{what}: y is required when x is a Tensor or an array (or pass x as a DataLoader "
                                 "/ iterable yielding (inputs, targets) batches)")
            xa, ya = self._arrays(x, y, what)
            w = sample_weights(ya, sample_weight, class_weight, what)
            return _ArrayData(xa, ya, batch_size, shuffle, rng, w), xa.shape[0]
        if y is not None:
            raise ValueError(f"{what}: y must be None when x is a DataLoader or an iterable of batches "
                             "(the batches carry the targets)")
        if sample_weight is not None or class_weight is not None:
            raise ValueError(f"{what}: sample_weight and class_weight need x and y as arrays; a DataLoader can yield "
                             "(inputs, targets, sample weights) triples instead")
        return _IterableData(x, self.loss.kind if self.loss else None, self._float_dtype(), what), None

    # ---- the loop -----------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=32, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, seed=None, terminate_on_nan=False, class_weight=None,
            sample_weight=None):
        """Trains for `epochs` epochs (from `initial_epoch`) and returns a History.

        x, y: Tensors or arrays (batches sliced from a seeded permutation when shuffle), or x a
        DataLoader / iterable of (inputs, targets) batches with y=None. validation_split holds out
        the last fraction of x/y (before shuffling, like Keras); validation_data is (x_val, y_val)
        or an iterable of batches. seed fixes the shuffling (default: drawn from
        tensorforge.manual_seed's generator). terminate_on_nan=True raises FloatingPointError,
        naming the epoch and batch, when a batch's loss is not finite (before that update).
        sample_weight (one weight per sample of x/y) and class_weight ({class: weight}) weight each
        sample's loss as Keras does (training/weights.py); validation_data may carry a third item,
        the validation sample weights, and loader batches may be (inputs, targets, weights).
        verbose: 'auto' (a bar on a terminal, a line per epoch otherwise), 0, 1 or 2."""
        self._require_compiled("fit")
        verbose = resolve_verbose(verbose)
        batch_size = _check_int("batch_size", batch_size, 1)
        epochs = _check_int("epochs", epochs, 0)
        initial_epoch = _check_int("initial_epoch", initial_epoch, 0)
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        if seed is None:
            seed = int(_creation.default_generator().integers(2 ** 63))
        rng = np.random.default_rng(seed)

        train, n = self._batches(x, y, batch_size, "fit", shuffle=bool(shuffle), rng=rng,
                                 sample_weight=sample_weight, class_weight=class_weight)
        val = None
        if validation_data is not None:
            val = self._validation_data(validation_data, batch_size)
        elif validation_split:
            if n is None:
                raise ValueError("validation_split needs x and y as arrays; with a DataLoader pass validation_data")
            split = int(n * (1.0 - float(validation_split)))
            if split == 0 or split == n:
                raise ValueError(f"validation_split={validation_split} of {n} samples leaves an empty "
                                 f"{'training' if split == 0 else 'validation'} set")
            train, val = train.split(split)
        if n is not None and n == 0:
            raise ValueError("fit: x and y hold no samples")

        cbs, history = self._callback_list(callbacks, verbose, epochs, len(train) or None)
        opt, loss_fn, metrics = self.optimizer, self.loss, self.metrics
        batch_logs = cbs.wants_batch_logs
        batch_begin = bool(cbs._batch_begin)
        clip = self.clip_grad_norm
        if clip is not None:
            from ..nn.utils import clip_grad_norm_
            clip_params = [p for p in self.parameters() if p.requires_grad]
        object.__setattr__(self, "stop_training", False)
        logs = {}
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            self.train()
            for m in metrics:
                m.reset()
            cbs.on_epoch_begin(epoch)
            loss_sum, seen, step, xb = 0.0, 0, -1, None
            for step, (xb, yb, wb) in enumerate(train):
                if batch_begin:
                    cbs.on_train_batch_begin(step)
                xb, yb = self._on_device(xb), self._on_device(yb)
                out = self(*map(make, xb)) if isinstance(xb, tuple) else self(make(xb))
                loss = loss_fn(out, make(yb)) if wb is None else weighted_loss(loss_fn, out, make(yb), wb)
                value = loss.item()
                if terminate_on_nan and not math.isfinite(value):
                    raise FloatingPointError(f"fit: the loss is {value} at epoch {epoch + 1}, batch {step + 1} "
                                             "(terminate_on_nan=True); the weights were not updated with it")
                opt.zero_grad()
                loss.backward()
                if clip is not None:
                    clip_grad_norm_(clip_params, clip)
                opt.step()
                nb = yb.shape[0] if yb.ndim else 1
                loss_sum += value * nb
                seen += nb
                if metrics:
                    od = out._data
                    for m in metrics:
                        m.update(od, yb)
                if batch_logs:
                    blogs = {"loss": loss_sum / seen}
                    for m in metrics:
                        blogs[m.name] = m.result()
                    cbs.on_train_batch_end(step, blogs)
                if self.stop_training:
                    break
            if step < 0:
                raise ValueError(f"fit: the training data yielded no batches in epoch {epoch + 1} (a generator can "
                                 "only be iterated once: pass a DataLoader or a list of batches)")
            self._remember_input(xb)
            logs = {"loss": loss_sum / seen}
            for m in metrics:
                logs[m.name] = m.result()
            if val is not None:
                cbs.on_test_begin()
                val_logs = self._evaluate_batches(val)
                cbs.on_test_end(val_logs)
                logs.update(("val_" + k, v) for k, v in val_logs.items())
            lr = current_lr(opt)
            if lr is not None:
                logs["lr"] = lr
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        object.__setattr__(self, "history", history)
        return history

    def _validation_data(self, validation_data, batch_size):
        if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3) \
                and _is_array(validation_data[0]):
            xa, ya = self._arrays(validation_data[0], validation_data[1], "validation_data")
            if xa.shape[0] == 0:
                raise ValueError("validation_data holds no samples")
            w = validation_data[2] if len(validation_data) == 3 else None
            return _ArrayData(xa, ya, batch_size, w=sample_weights(ya, w, None, "validation_data"))
        return _IterableData(validation_data, self.loss.kind, self._float_dtype(), "validation_data")

    def _callback_list(self, callbacks, verbose, epochs, steps):
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback) or _is_lr_scheduler(callbacks):
            callbacks = [callbacks]
        cbs = []
        for cb in callbacks:
            if _is_lr_scheduler(cb):
                cb = LearningRateScheduler(cb)
            elif not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback objects or lr_scheduler objects, got {type(cb).__name__}")
            cbs.append(cb)
        if verbose and not any(isinstance(cb, ProgressBar) for cb in cbs):
            cbs.append(ProgressBar(verbose))
        history = next((cb for cb in cbs if isinstance(cb, History)), None)
        if history is None:
            history = History()
            cbs.append(history)
        params = {"epochs": epochs, "steps": steps, "verbose": verbose, "metrics": self.metrics_names}
        return CallbackList(cbs, self, params), history

    def _remember_input(self, xb):
        if isinstance(xb, np.ndarray):
            object.__setattr__(self, "_input_spec", (tuple(xb.shape[1:]), xb.dtype))

    def _evaluate_batches(self, data):
        """{'loss': mean over samples, metric: value, ...} in eval mode without a graph."""
        was_training = self.training
        self.eval()
        loss_fn, metrics = self.loss, self.metrics
        for m in metrics:
            m.reset()
        loss_sum, seen = 0.0, 0
        try:
            with no_grad():
                for xb, yb, wb in data:
                    xb, yb = self._on_device(xb), self._on_device(yb)
                    out = self(*map(make, xb)) if isinstance(xb, tuple) else self(make(xb))
                    nb = yb.shape[0] if yb.ndim else 1
                    loss = loss_fn(out, make(yb)) if wb is None else weighted_loss(loss_fn, out, make(yb), wb)
                    loss_sum += loss.item() * nb
                    seen += nb
                    od = out._data
                    for m in metrics:
                        m.update(od, yb)
        finally:
            self.train(was_training)
        if seen == 0:
            raise ValueError("evaluation data yielded no batches")
        logs = {"loss": loss_sum / seen}
        for m in metrics:
            logs[m.name] = m.result()
        return logs

    def evaluate(self, x=None, y=None, batch_size=32, verbose="auto", return_dict=False, sample_weight=None):
        """The loss (and metrics) over x/y or an iterable of batches, in eval mode under no_grad;
        sample_weight weights each sample's loss as in fit.
        Returns the loss alone when there are no metrics, else [loss, metric, ...] in compile
        order, or a dict with return_dict=True (Keras's convention)."""
        self._require_compiled("evaluate")
        verbose = resolve_verbose(verbose)
        batch_size = _check_int("batch_size", batch_size, 1)
        data, _ = self._batches(x, y, batch_size, "evaluate", sample_weight=sample_weight)
        start = time.perf_counter()
        logs = self._evaluate_batches(data)
        if verbose:
            print(f"evaluate - {time.perf_counter() - start:.2f}s - {format_logs(logs)}", flush=True)
        if return_dict:
            return logs
        if not self.metrics:
            return logs["loss"]
        return [logs[k] for k in self.metrics_names]

    def predict(self, x, batch_size=32, verbose=0):
        """The model's outputs for x (a Tensor or an array, in batches of batch_size, or an iterable
        of batches: inputs, or (inputs, targets) whose targets are ignored), concatenated along the
        first axis into one Tensor (a tuple of Tensors for a model with several outputs)."""
        batch_size = _check_int("batch_size", batch_size, 1)
        fdtype = self._float_dtype()
        if isinstance(x, (list, tuple)) and not _looks_like_batches(x):
            x = _to_array(x, "predict: x")
        if _is_array(x):
            data = _ArrayData(_input_array(_to_array(x, "predict: x"), fdtype), None, batch_size)
        else:
            data = _IterableData(x, None, fdtype, "predict", need_targets=False)
        outs = []
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for xb, _, _ in data:
                    xb = self._on_device(xb)
                    out = self(*map(make, xb)) if isinstance(xb, tuple) else self(make(xb))
                    outs.append(tuple(o._data for o in out) if isinstance(out, (tuple, list)) else out._data)
        finally:
            self.train(was_training)
        if not outs:
            raise ValueError("predict: x holds no samples")
        if isinstance(outs[0], tuple):
            return tuple(make(xp(parts[0]).concatenate(parts, axis=0)) for parts in zip(*outs))
        return make(xp(outs[0]).concatenate(outs, axis=0))

    # ---- summary ------------------------------------------------------------------------------
    def summary(self, input_shape=None, dtype=None, print_fn=print):
        """Prints the layers (leaf modules), their output shapes and parameter counts. Output
        shapes come from one forward pass on a batch of 1 zero sample shaped like input_shape
        (without the batch axis) or like the inputs of the last fit/evaluate/predict call."""
        rows = [(name, mod) for name, mod in self.named_modules()
                if name and (not mod._modules or mod._parameters)]
        if not rows:
            rows = [(type(self).__name__, self)]
        shapes = self._output_shapes(rows, input_shape, dtype)
        table = [("Layer (type)", "Output Shape", "Param #")]
        for name, mod in rows:
            n = sum(p.numel() for p in mod.parameters(recurse=not mod._modules or mod is self) if p is not None)
            table.append((f"{name} ({type(mod).__name__})", shapes.get(id(mod), "?"), f"{n:,}"))
        total = trainable = 0
        for p in self.parameters():
            total += p.numel()
            trainable += p.numel() if p.requires_grad else 0
        widths = [max(len(r[i]) for r in table) + 2 for i in range(3)]
        rule = "-" * sum(widths)
        lines = [f'Model: "{type(self).__name__}"', rule]
        for i, r in enumerate(table):
            lines.append(r[0].ljust(widths[0]) + r[1].ljust(widths[1]) + r[2].rjust(widths[2]))
            if i == 0:
                lines.append("=" * sum(widths))
        lines += ["=" * sum(widths), f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                  f"Non-trainable params: {total - trainable:,}", rule]
        print_fn("\n".join(lines))

    def _output_shapes(self, rows, input_shape, dtype):
        spec = self._input_spec
        if input_shape is not None:
            spec = (tuple(input_shape), np.dtype(dtype) if dtype is not None else self._float_dtype())
        if spec is None:
            return {}
        shapes = {}

        def hook(mod, args, out):
            if isinstance(out, Tensor):
                shapes[id(mod)] = str((None,) + tuple(out.shape[1:]))
            elif isinstance(out, (tuple, list)):
                shapes[id(mod)] = ", ".join(str((None,) + tuple(o.shape[1:])) for o in out if isinstance(o, Tensor))

        handles = [mod.register_forward_hook(hook) for _, mod in rows]
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                self(make(self._on_device(np.zeros((1,) + tuple(spec[0]), dtype=spec[1]))))
        except Exception:  # noqa: BLE001 - shapes are a courtesy; the table still prints
            return {}
        finally:
            for h in handles:
                h.remove()
            self.train(was_training)
        return shapes

    # ---- saving -------------------------------------------------------------------------------
    def _weights_module(self):
        """The module whose state_dict is saved: the wrapped network (so the file loads straight
        into it, with PyTorch-style keys), or the model itself when it is subclassed."""
        net = self._modules.get("network")
        return net if net is not None and type(self).forward is Model.forward else self

    def save_weights(self, path):
        """Writes the weights (the state_dict) with tensorforge.save (atomic)."""
        save, _ = _serialization()
        save(self._weights_module().state_dict(), path)

    def save_checkpoint(self, path, epoch=None):
        """Writes {'model': state_dict, 'optimizer': the optimizer's state_dict, 'epoch': epoch}."""
        save, _ = _serialization()
        obj = {"model": self._weights_module().state_dict()}
        if self.optimizer is not None and hasattr(self.optimizer, "state_dict"):
            obj["optimizer"] = self.optimizer.state_dict()
        if epoch is not None:
            obj["epoch"] = int(epoch)
        save(obj, path)

    @staticmethod
    def _is_checkpoint(obj):
        return isinstance(obj, dict) and isinstance(obj.get("model"), dict)

    def load_weights(self, path, strict=True):
        """Loads weights saved by save_weights, ModelCheckpoint or tensorforge.save(state_dict)."""
        _, load = _serialization()
        obj = load(path)
        state = obj["model"] if self._is_checkpoint(obj) else obj
        return self._weights_module().load_state_dict(state, strict=strict)

    def load_checkpoint(self, path):
        """Restores the weights and, when the file has it and the model is compiled, the optimizer
        state; returns the epochs done (for fit(initial_epoch=...)) or None."""
        _, load = _serialization()
        obj = load(path)
        if not self._is_checkpoint(obj):
            self._weights_module().load_state_dict(obj)
            return None
        self._weights_module().load_state_dict(obj["model"])
        if "optimizer" in obj and self.optimizer is not None:
            self.optimizer.load_state_dict(obj["optimizer"])
        epoch = obj.get("epoch")
        return None if epoch is None else int(epoch.item() if isinstance(epoch, Tensor) else epoch)


__all__ = ["Model", "LOSSES", "OPTIMIZERS", "resolve_loss"]
