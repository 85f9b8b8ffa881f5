"""Training curves as a PNG (matplotlib, an optional extra: pip install 'tensorforge[plot]').

Draws on a standalone Agg canvas (no pyplot, no change to the user's matplotlib backend).
"""

_MISSING = ("plotting training curves needs matplotlib, an optional extra of tensorforge: "
            "pip install 'tensorforge[plot]' (or pip install matplotlib)")


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:
        raise ImportError(_MISSING) from e
    return Figure, FigureCanvasAgg, MaxNLocator


def plot_history(history, path=None, metrics=None, title=None):
    """One panel per quantity (loss, then each metric) with the training curve and, where
    recorded, the validation curve; a log-scale learning-rate panel when the rate changed.
    `history` is a History or its dict; `metrics` picks the panels (default: all).
    Saves a PNG at `path` when given and returns the matplotlib Figure."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError("plot_history: the history is empty (was fit() run?)")
    epochs = getattr(history, "epoch", None)
    n = max(len(v) for v in logs.values())
    xs = [e + 1 for e in epochs] if epochs and len(epochs) == n else list(range(1, n + 1))
    if metrics is None:
        names = [k for k in logs if not k.startswith("val_") and k != "lr"]
        names += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in logs]
        lr = logs.get("lr")
        if lr and len(set(lr)) > 1:
            names.append("lr")
    else:
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in names if m not in logs and "val_" + m not in logs]
        if unknown:
            raise ValueError(f"plot_history: no values recorded for {unknown}; recorded: {sorted(logs)}")
    Figure, FigureCanvasAgg, MaxNLocator = _matplotlib()
    fig = Figure(figsize=(4.2 * len(names), 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for key, label, style in ((name, "train", "-o"), ("val_" + name, "validation", "-s")):
            values = logs.get(key)
            if values:
                ax.plot(xs[:len(values)], values, style, markersize=3, label=label if name != "lr" else None)
        if name == "lr":
            ax.set_yscale("log")
        ax.set_title("learning rate" if name == "lr" else name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if name != "lr" and ("val_" + name) in logs and name in logs:
            ax.legend()
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, format="png", dpi=110)
    return fig


__all__ = ["plot_history"]
