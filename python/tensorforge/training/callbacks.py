"""Callbacks of the Keras-style loop, with Keras's names, hooks and semantics.

Hooks receive `epoch` / `batch` numbers counted from 0 and a `logs` dict: at the end of a training
batch the running means of the epoch so far ('loss' and each metric), at the end of an epoch the
epoch's values plus 'val_*' and 'lr'. A callback stops training by setting
`self.model.stop_training = True`.
"""
import csv
import inspect
import math
import os
import warnings

import numpy as np

from ..tensor import Tensor

_BATCH_HOOKS = (("on_train_batch_begin", "on_batch_begin"), ("on_train_batch_end", "on_batch_end"))


class Callback:
    """Base class: override the hooks you need. `self.model` and `self.params` ('epochs',
    'steps', 'verbose', 'metrics') are set by fit() before on_train_begin."""

    # None: the loop calls the batch hooks when a subclass (or instance) overrides them;
    # False/True forces the decision (the progress bar needs them only when it draws a bar).
    _batch_hooks = None

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass


def _uses_hook(cb, names):
    forced = getattr(cb, "_batch_hooks", None)
    if forced is not None:
        return forced
    return any(getattr(type(cb), n, None) is not getattr(Callback, n) or n in vars(cb) for n in names)


def _is_lr_scheduler(obj):
    return not isinstance(obj, Callback) and hasattr(obj, "step") and hasattr(obj, "optimizer")


class CallbackList:
    """Runs a list of callbacks; the batch hooks only reach the callbacks that use them, so a
    loop with none pays one empty-list check per batch."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self._batch_begin = [cb for cb in self.callbacks if _uses_hook(cb, _BATCH_HOOKS[0])]
        self._batch_end = [cb for cb in self.callbacks if _uses_hook(cb, _BATCH_HOOKS[1])]
        self.wants_batch_logs = bool(self._batch_end)

    def __iter__(self):
        return iter(self.callbacks)

    def on_train_begin(self, logs=None):
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs=None):
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        for cb in self._batch_begin:
            cb.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for cb in self._batch_end:
            cb.on_train_batch_end(batch, logs)

    def on_test_begin(self, logs=None):
        for cb in self.callbacks:
            cb.on_test_begin(logs)

    def on_test_end(self, logs=None):
        for cb in self.callbacks:
            cb.on_test_end(logs)


# ---- monitoring helpers ----------------------------------------------------------------------
_MAX_METRICS = ("acc", "accuracy", "r2", "auc", "precision", "recall", "f1")


def _resolve_mode(monitor, mode, who):
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{who}: mode '{mode}' is unknown, falling back to 'auto'", RuntimeWarning, stacklevel=3)
        mode = "auto"
    if mode == "auto":
        base = monitor[4:] if monitor.startswith("val_") else monitor
        mode = "max" if base in _MAX_METRICS or base.endswith("accuracy") or base.endswith("_acc") else "min"
    return mode


def _improved(mode, current, reference, min_delta=0.0):
    if mode == "min":
        return current + min_delta < reference
    return current - min_delta > reference


def _monitored(logs, monitor, who):
    value = (logs or {}).get(monitor)
    if value is None:
        warnings.warn(f"{who} monitors '{monitor}', which is not available in the logs (available: "
                      f"{', '.join(sorted(logs or {})) or 'none'}); skipping", RuntimeWarning, stacklevel=3)
        return None
    return float(value)


def _snapshot(model):
    """A private copy of the model's weights (arrays on the model's device, keyed like state_dict)."""
    return {k: (v._data if isinstance(v, Tensor) else v).copy() for k, v in model.state_dict().items()}


def _set_lr(optimizer, values):
    groups = optimizer.param_groups
    if not isinstance(values, (list, tuple)):
        values = [values] * len(groups)
    for group, lr in zip(groups, values):
        group["lr"] = lr


def current_lr(optimizer):
    """The first parameter group's learning rate (None for an optimizer without param_groups)."""
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        return float(groups[0]["lr"])
    lr = getattr(optimizer, "lr", None)
    return None if lr is None else float(lr)


# ---- the callbacks -----------------------------------------------------------------------------
class EarlyStopping(Callback):
    """Stops training when `monitor` has not improved by more than `min_delta` for `patience`
    epochs (Keras's semantics). With `baseline`, training also stops after `patience` epochs that
    fail to beat the baseline, improving or not (Keras's documented rule). `restore_best_weights`
    puts back the weights of the best epoch at the end of training (also when it did not stop
    early). `start_from_epoch` epochs are ignored as a warm-up."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self.verbose = verbose
        self.mode = _resolve_mode(monitor, mode, "EarlyStopping")
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        current = _monitored(logs, self.monitor, "EarlyStopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _snapshot(self.model)
            self.best_epoch = epoch
        self.wait += 1
        if _improved(self.mode, current, self.best, self.min_delta):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = _snapshot(self.model)
            if self.baseline is None or _improved(self.mode, current, self.baseline, self.min_delta):
                self.wait = 0
                return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Saves the model at the end of every epoch (or only when `monitor` improves, with
    save_best_only) through tensorforge.save, which writes atomically. `filepath` may hold
    format fields: {epoch} (counted from 1) and any log key, e.g. 'ckpt-{epoch:02d}-{val_loss:.3f}.safetensors'.
    save_weights_only=True stores the model's state_dict; otherwise a checkpoint
    {'model': state_dict, 'optimizer': optimizer state_dict, 'epoch': epochs done}, which
    Model.load_weights and Model.load_checkpoint read back."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = _resolve_mode(monitor, mode, "ModelCheckpoint")
        if initial_value_threshold is not None:
            self.best = float(initial_value_threshold)
        else:
            self.best = math.inf if self.mode == "min" else -math.inf
        self.saved = []  # paths written, in order

    def _path(self, epoch, logs):
        try:
            return self.filepath.format(epoch=epoch + 1, **(logs or {}))
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot format filepath '{self.filepath}' with epoch={epoch + 1} "
                             f"and the logs {sorted(logs or {})}: {e!r}") from None

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            current = _monitored(logs, self.monitor, "ModelCheckpoint")
            if current is None:
                return
            if not _improved(self.mode, current, self.best):
                if self.verbose > 0:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}")
            self.best = current
        path = self._path(epoch, logs)
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save_checkpoint(path, epoch=epoch + 1)
        self.saved.append(path)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")


def _schedule_arity(fn):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params) or len(positional) >= 2:
        return 2
    return 1


def _is_plateau_scheduler(s):
    try:
        from ..optim.lr_scheduler import ReduceLROnPlateau as Plateau
    except ImportError:
        return type(s).__name__ == "ReduceLROnPlateau"
    return isinstance(s, Plateau)


class LearningRateScheduler(Callback):
    """Sets the learning rate every epoch.

    `schedule` is either a function schedule(epoch, lr) -> new lr (or schedule(epoch)), called at
    the start of each epoch (epoch counted from 0) for every parameter group, or a
    tensorforge.optim.lr_scheduler object, stepped at the end of each epoch (or of each training
    batch with interval='step', for warm-up and one-cycle schedules); a ReduceLROnPlateau
    scheduler is stepped with the value of `monitor` ('val_loss', or 'loss' when there is no
    validation). fit() wraps scheduler objects found in its callbacks list in this class."""

    def __init__(self, schedule, verbose=0, monitor="val_loss", interval="epoch"):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose
        self.monitor = monitor
        self.is_scheduler = _is_lr_scheduler(schedule)
        if not self.is_scheduler and not callable(schedule):
            raise TypeError("LearningRateScheduler: schedule must be a function schedule(epoch, lr) or an "
                            f"lr_scheduler object, got {type(schedule).__name__}")
        if interval not in ("epoch", "step"):
            raise ValueError(f"LearningRateScheduler: interval must be 'epoch' or 'step', got {interval!r}")
        if interval == "step" and (not self.is_scheduler or _is_plateau_scheduler(schedule)):
            raise ValueError("LearningRateScheduler: interval='step' needs an lr_scheduler object other than "
                             "ReduceLROnPlateau")
        self.interval = interval
        self._batch_hooks = interval == "step"
        self._arity = None if self.is_scheduler else _schedule_arity(schedule)

    def on_train_batch_end(self, batch, logs=None):
        self.schedule.step()

    def _optimizer(self):
        opt = getattr(self.model, "optimizer", None)
        if opt is None or not hasattr(opt, "param_groups"):
            raise RuntimeError("LearningRateScheduler: the model has no optimizer with param_groups (compile first)")
        return opt

    def on_epoch_begin(self, epoch, logs=None):
        if self.is_scheduler:
            return
        opt = self._optimizer()
        new = []
        for group in opt.param_groups:
            lr = self.schedule(epoch, float(group["lr"])) if self._arity == 2 else self.schedule(epoch)
            if isinstance(lr, Tensor):
                lr = lr.item()
            try:
                lr = float(lr)
            except (TypeError, ValueError):
                raise ValueError(f"LearningRateScheduler: the schedule returned {lr!r} for epoch {epoch}; "
                                 "it must return a float") from None
            if not math.isfinite(lr) or lr < 0:
                raise ValueError(f"LearningRateScheduler: the schedule returned lr={lr} for epoch {epoch}; "
                                 "it must be a finite number >= 0")
            new.append(lr)
        _set_lr(opt, new)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {new[0]}.")

    def on_epoch_end(self, epoch, logs=None):
        if not self.is_scheduler or self.interval == "step":
            return
        if _is_plateau_scheduler(self.schedule):
            logs = logs or {}
            monitor = self.monitor
            if monitor not in logs and monitor == "val_loss" and "loss" in logs:
                monitor = "loss"
            value = _monitored(logs, monitor, "LearningRateScheduler(ReduceLROnPlateau)")
            if value is not None:
                self.schedule.step(value)
        else:
            self.schedule.step()
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: learning rate is now {current_lr(self.schedule.optimizer)}.")


class ReduceLROnPlateau(Callback):
    """Keras's callback: multiplies the learning rate by `factor` when `monitor` has not improved
    by more than `min_delta` for `patience` epochs, then waits `cooldown` epochs; never below min_lr."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, got {factor}")
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = int(patience)
        self.verbose = verbose
        self.mode = _resolve_mode(monitor, mode, "ReduceLROnPlateau")
        self.min_delta = abs(float(min_delta))
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.cooldown_counter = 0
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        current = _monitored(logs, self.monitor, "ReduceLROnPlateau")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if _improved(self.mode, current, self.best, self.min_delta):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                opt = self.model.optimizer
                for group in opt.param_groups:
                    old = float(group["lr"])
                    if old > self.min_lr:
                        group["lr"] = max(old * self.factor, self.min_lr)
                        if self.verbose > 0:
                            print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {group['lr']}.")
                self.cooldown_counter = self.cooldown
                self.wait = 0


class CSVLogger(Callback):
    """Writes one row per epoch: 'epoch' (counted from 0, like Keras) then the log keys in sorted
    order; 'NA' for a key an epoch lacks. append=True continues an existing file without a second
    header. Rows are flushed as they are written."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self._file = None
        self._writer = None

    def on_train_begin(self, logs=None):
        write_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as f:
                write_header = not f.readline()
        self._write_header = write_header
        self._file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self._writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys, delimiter=self.sep,
                                          extrasaction="ignore")
            if self._write_header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        for k in self.keys:
            v = logs.get(k, "NA")
            row[k] = v.item() if isinstance(v, (Tensor, np.generic)) else v
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch's loss (the running 'loss' in the batch logs) is NaN or
    infinite. fit(terminate_on_nan=True) does the same check before the update and raises instead."""

    def __init__(self):
        super().__init__()
        self.terminated_at = None  # (epoch, batch) where it stopped

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.terminated_at = (getattr(self, "_epoch", None), batch)
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: on_epoch_begin(epoch, logs), on_epoch_end(epoch, logs),
    on_train_begin(logs), on_train_end(logs), on_batch_begin(batch, logs), on_batch_end(batch, logs)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None, on_batch_end=None,
                 on_train_begin=None, on_train_end=None):
        super().__init__()
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_batch_begin", on_batch_begin), ("on_batch_end", on_batch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end)):
            if fn is not None:
                setattr(self, name, fn)


__all__ = ["Callback", "CallbackList", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler",
           "ReduceLROnPlateau", "CSVLogger", "TerminateOnNaN", "LambdaCallback"]
