"""PNG plots of training histories (matplotlib is an extra: ``pip install 'minifc[plots]'``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["have_matplotlib", "pyplot", "history_figure", "plot_histories", "plot_bars", "save_figure"]


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (ImportError naming the extra without it)."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'minifc[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_histories(
    runs: Mapping[str, Mapping[str, Sequence[float]]],
    path: str | os.PathLike,
    panels: Sequence[str] = ("loss_history", "train_acc_history", "val_acc_history"),
    title: str = "",
    first_epoch: int = 0,
) -> Path:
    """One panel per history key, one line per run; ``runs`` maps a label to a dict of histories
    (``loss_history`` per iteration, accuracies per epoch). Writes a PNG and returns its path.

    ``first_epoch``: the epoch of each accuracy history's first value: 0 for the classic Solver (it
    measures after the first iteration, then after each epoch), 1 for the Trainer (after each epoch)."""
    return save_figure(history_figure(runs, panels, title, first_epoch), path)


def history_figure(
    runs: Mapping[str, Mapping[str, Sequence[float]]],
    panels: Sequence[str] = ("loss_history", "train_acc_history", "val_acc_history"),
    title: str = "",
    first_epoch: int = 0,
) -> Any:
    """The matplotlib figure :func:`plot_histories` writes: accuracies (and ``lr_history``, the learning
    rate of each epoch's last step) are drawn at epochs ``first_epoch``, ``first_epoch + 1``, ..., losses
    at iterations 1, 2, ...; a legend names the runs when there are several (give one run's name in the
    title)."""
    plt = pyplot()
    names = {
        "loss_history": "training loss",
        "train_acc_history": "training accuracy",
        "val_acc_history": "validation accuracy",
        "lr_history": "learning rate (each epoch's last step)",
    }
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        for label, hist in runs.items():
            values = list(hist.get(key, []))
            if key == "loss_history":
                ax.plot(range(1, len(values) + 1), values, "-", label=label, linewidth=0.8, alpha=0.8)
                ax.set_xlabel("iteration")
            else:
                epochs = range(first_epoch, first_epoch + len(values))
                ax.plot(epochs, values, "-o", label=label, markersize=3)
                ax.set_xlabel("epoch")
                ax.xaxis.get_major_locator().set_params(integer=True)
            if key == "lr_history":
                ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        ax.set_title(names.get(key, key))
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_bars(values: Mapping[str, Mapping[str, float]], path: str | os.PathLike, title: str = "") -> Path:
    """Grouped bars: ``values[group][label]`` (e.g. final train/val accuracy per model)."""
    plt = pyplot()
    groups = list(values)
    labels = sorted({label for g in groups for label in values[g]})
    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.8 / max(len(labels), 1)
    for i, label in enumerate(labels):
        xs = [g_i + i * width for g_i in range(len(groups))]
        ax.bar(xs, [values[g].get(label, 0.0) for g in groups], width, label=label)
    ax.set_xticks([g_i + width * (len(labels) - 1) / 2 for g_i in range(len(groups))], groups)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def save_figure(fig: Any, path: str | os.PathLike) -> Path:
    """Write the matplotlib figure ``fig`` as a PNG at ``path`` (creating its folder) and close it."""
    plt = pyplot()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
