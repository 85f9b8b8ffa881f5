"""tensorforge.training: the Keras-style loop (Model.compile / fit / evaluate / predict),
callbacks, History, metrics, the progress bar and training-curve plots."""
from . import callbacks, metrics
from .callbacks import (Callback, CallbackList, CSVLogger, EarlyStopping, LambdaCallback, LearningRateScheduler,
                        ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN)
from .history import History
from .metrics import Metric
from .model import Model
from .plotting import plot_history
from .progress import ProgressBar

__all__ = ["Model", "Callback", "CallbackList", "CSVLogger", "EarlyStopping", "History", "LambdaCallback",
           "LearningRateScheduler", "Metric", "ModelCheckpoint", "ProgressBar", "ReduceLROnPlateau",
           "TerminateOnNaN", "callbacks", "metrics", "plot_history"]
