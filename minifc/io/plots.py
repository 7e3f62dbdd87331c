"""PNG plots of training histories (matplotlib is an extra: ``pip install 'minifc[plots]'``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .safe_files import write_atomic

__all__ = [
    "have_matplotlib",
    "pyplot",
    "confusion_figure",
    "history_figure",
    "plot_histories",
    "plot_bars",
    "save_figure",
    "smoothed",
]


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
    """One panel per history key (or ``accuracy``: training and validation together), one line per run;
    ``runs`` maps a label to a dict of histories (``loss_history`` per iteration, accuracies per epoch).
    Writes a PNG and returns its path.

    ``first_epoch``: the epoch of each accuracy history's first value: 0 for the classic Solver (it
    measures after the first iteration, then after each epoch), 1 for the Trainer (after each epoch)."""
    return save_figure(history_figure(runs, panels, title, first_epoch), path)


def history_figure(
    runs: Mapping[str, Mapping[str, Sequence[float]]],
    panels: Sequence[str] = ("loss_history", "train_acc_history", "val_acc_history"),
    title: str = "",
    first_epoch: int = 0,
) -> Any:
    """The matplotlib figure :func:`plot_histories` writes: accuracies are drawn at epochs
    ``first_epoch``, ``first_epoch + 1``, ..., losses at iterations 1, 2, ...; a legend names the runs
    when there are several (give one run's name in the title).

    Panels: ``loss_history`` (the raw loss in a light colour under its running mean, see
    :func:`smoothed`), ``accuracy`` (training and validation accuracy on one panel, as the course plots
    them), or any other key of a per-epoch history (``train_acc_history``, ``val_acc_history``,
    ``lr_history``: the learning rate of each epoch's last step, ...)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        draw = _PANELS.get(key, _draw_epoch_series)
        draw(ax, runs, key, first_epoch)
        ax.set_title(_NAMES.get(key, key))
        ax.grid(alpha=0.3)
        if len(runs) > 1 or key == "accuracy":
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def smoothed(values: Sequence[float], window: int | None = None) -> list[float]:
    """The running mean of ``values`` over ``window`` neighbours centred on each value (fewer at the
    ends), so the curve does not lag behind the raw one; ``window`` defaults to a twentieth of the
    values (1, no smoothing, below 40 values)."""
    n = len(values)
    w = max(n // 20, 1) if window is None else window
    if w < 1:
        raise ValueError(f"window must be >= 1, got {w}")
    prefix = [0.0]
    for v in values:
        prefix.append(prefix[-1] + float(v))
    half = w // 2
    out = []
    for i in range(n):
        lo, hi = max(0, i - half), min(n, i - half + w)
        out.append((prefix[hi] - prefix[lo]) / (hi - lo))
    return out


_NAMES = {
    "loss_history": "training loss",
    "accuracy": "accuracy",
    "train_acc_history": "training accuracy",
    "val_acc_history": "validation accuracy",
    "lr_history": "learning rate (each epoch's last step)",
}


def _draw_loss(ax: Any, runs: Mapping[str, Mapping[str, Sequence[float]]], key: str, first_epoch: int) -> None:
    for label, hist in runs.items():
        values = list(hist.get(key, []))
        steps = range(1, len(values) + 1)
        smooth = smoothed(values)
        if smooth == values:  # too few values to smooth: the raw curve is the curve
            ax.plot(steps, values, "-", label=label, linewidth=0.8, alpha=0.8)
            continue
        (raw,) = ax.plot(steps, values, "-", label="_nolegend_", linewidth=0.6, alpha=0.25)
        ax.plot(steps, smooth, "-", color=raw.get_color(), label=label, linewidth=1.5)
    ax.set_xlabel("iteration")


def _draw_accuracy(ax: Any, runs: Mapping[str, Mapping[str, Sequence[float]]], key: str, first_epoch: int) -> None:
    for label, hist in runs.items():
        prefix = f"{label} " if len(runs) > 1 else ""
        (train,) = ax.plot(*_at_epochs(hist, "train_acc_history", first_epoch), "-o", markersize=3,
                           label=f"{prefix}train")  # fmt: skip
        # one run: two colours, as the course draws it; several: each run's colour, validation dashed
        style = {"linestyle": "--", "color": train.get_color()} if len(runs) > 1 else {"linestyle": "-"}
        ax.plot(*_at_epochs(hist, "val_acc_history", first_epoch), marker="o", markersize=3, label=f"{prefix}val",
                **style)  # fmt: skip
    _epoch_axis(ax)


def _draw_epoch_series(ax: Any, runs: Mapping[str, Mapping[str, Sequence[float]]], key: str, first_epoch: int) -> None:
    for label, hist in runs.items():
        ax.plot(*_at_epochs(hist, key, first_epoch), "-o", label=label, markersize=3)
    _epoch_axis(ax)
    if key == "lr_history":
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))


def _at_epochs(hist: Mapping[str, Sequence[float]], key: str, first_epoch: int) -> tuple[range, list[float]]:
    values = list(hist.get(key, []))
    return range(first_epoch, first_epoch + len(values)), values


def _epoch_axis(ax: Any) -> None:
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)


_PANELS = {"loss_history": _draw_loss, "accuracy": _draw_accuracy}


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


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str = "") -> Any:
    """A confusion matrix (C, C) as a figure: rows the true classes, columns the predicted ones, each cell
    its count, shaded by the fraction of its row (how often that class is predicted as the column's)."""
    plt = pyplot()
    counts = [list(map(int, row)) for row in matrix]
    n = len(counts)
    if n != len(class_names) or any(len(row) != n for row in counts):
        raise ValueError(f"confusion_figure: a {n} x {n} matrix needs {n} class names, got {len(class_names)}")
    fractions = [[c / max(sum(row), 1) for c in row] for row in counts]
    size = max(4.0, 0.6 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    for i, row in enumerate(counts):
        for j, count in enumerate(row):
            colour = "white" if fractions[i][j] > 0.5 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return fig


def save_figure(fig: Any, path: str | os.PathLike) -> Path:
    """Write the matplotlib figure ``fig`` at ``path`` (creating its folder) and close it: a PNG, or the
    format the suffix names. Written beside ``path`` and renamed over it, never through a link (a link
    at ``path`` is refused, naming it: :mod:`minifc.io.safe_files`)."""
    plt = pyplot()
    path = Path(path)
    try:
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fmt = path.suffix[1:].lower() or "png"
        write_atomic(path, lambda f: fig.savefig(f, dpi=100, format=fmt), what="plot")
    finally:
        plt.close(fig)
    return path
