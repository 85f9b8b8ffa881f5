"""ProgressBar: the progress display of fit().

verbose=1 draws one tqdm bar per epoch on stdout with the running loss and metrics in its postfix
(refreshed at most every `refresh_s` seconds, so the per-batch cost is one counter update);
verbose=2 prints one line per epoch; verbose=0 prints nothing. fit(verbose='auto') picks 1 when
stdout is a terminal (or a Jupyter kernel) and 2 otherwise. Without tqdm installed, 1 falls back to 2.
"""
import sys
import time

from .callbacks import Callback


def stdout_is_tty():
    """True on a terminal, and in a Jupyter kernel (whose output renders tqdm's redraws)."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def resolve_verbose(verbose):
    if verbose == "auto":
        return 1 if stdout_is_tty() else 2
    if verbose in (0, 1, 2) and not isinstance(verbose, float):
        return int(verbose)
    raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")


def format_logs(logs, skip=("lr",)):
    parts = []
    for k, v in logs.items():
        if k in skip or not isinstance(v, (int, float)):
            continue
        parts.append(f"{k}: {format_value(v)}")
    return " - ".join(parts)


def format_value(v):
    v = float(v)
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.3e}"
    return f"{v:.4f}"


class ProgressBar(Callback):
    def __init__(self, verbose=1, refresh_s=0.1, file=None):
        super().__init__()
        self.verbose = resolve_verbose(verbose)
        self.refresh_s = refresh_s
        self.file = file
        self._tqdm = None
        if self.verbose == 1:
            try:
                from tqdm import tqdm
            except ImportError:
                self.verbose = 2
            else:
                self._tqdm = tqdm
        self._batch_hooks = self.verbose == 1
        self.bar = None

    def _out(self):
        return self.file if self.file is not None else sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        if self.verbose == 1:
            epochs = self.params.get("epochs")
            self.bar = self._tqdm(total=self.params.get("steps"), desc=f"Epoch {epoch + 1}/{epochs}",
                                  unit="batch", file=self._out(), leave=True, dynamic_ncols=True)
            self._last = 0.0

    def on_train_batch_end(self, batch, logs=None):
        bar = self.bar
        if bar is None:
            return
        bar.update(1)
        now = time.perf_counter()
        if now - self._last >= self.refresh_s and logs:
            self._last = now
            bar.set_postfix_str(format_logs(logs), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs), refresh=False)
            self.bar.close()
            self.bar = None
        elif self.verbose == 2:
            seconds = time.perf_counter() - self._start
            body = format_logs(logs)
            print(f"Epoch {epoch + 1}/{self.params.get('epochs')} - {seconds:.2f}s" + (f" - {body}" if body else ""),
                  file=self._out(), flush=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:  # training stopped mid-epoch
            self.bar.close()
            self.bar = None


__all__ = ["ProgressBar"]
