"""History: the callback fit() always adds; it records every epoch's logs."""
from .callbacks import Callback


class History(Callback):
    """`history` maps each log key ('loss', metrics, 'val_*', 'lr') to a list with one value per
    epoch run; `epoch` lists the epoch numbers (from 0). fit() returns it and sets model.history."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self

    def plot(self, path=None, metrics=None, title=None):
        """Saves the training curves as a PNG at `path` (see plot_history); returns the Figure."""
        from .plotting import plot_history

        return plot_history(self, path, metrics=metrics, title=title)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


__all__ = ["History"]
