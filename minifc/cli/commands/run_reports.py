"""What ``minifc train`` writes about a run besides its checkpoint: ``history.json``, ``history.csv`` and
``history.png``."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import click

from ...io import plots
from ...io.run_folder import HISTORY_CSV, HISTORY_JSON, HISTORY_PLOT
from ...training.metrics import epoch_losses
from .common import os_error_message, write_json, write_text

__all__ = ["RUN_PANELS", "plot_run", "write_history"]

#: history.png: the loss (raw and smoothed), both accuracies, the learning rate
RUN_PANELS = ("loss_history", "accuracy", "lr_history")


def write_history(trainer: Any, out: Path) -> None:
    """history.json (every history, the loss per step and per epoch) and history.csv (one row per epoch:
    its mean training loss, the accuracies, the learning rate it ran with and, when a gradient transform
    measures it, the mean pre-clip gradient norm of its steps)."""
    epochs = len(trainer.val_acc_history)
    losses = epoch_losses(trainer.loss_history, trainer.iterations_per_epoch, epochs)
    history = {
        "loss_history": trainer.loss_history,
        "epoch_loss_history": losses,
        "train_acc_history": trainer.train_acc_history,
        "val_acc_history": trainer.val_acc_history,
        "lr_history": trainer.lr_history,
    }
    norms = list(getattr(trainer, "grad_norm_history", []))
    if norms:  # NaN: a step whose update a transform skipped before the norm was measured
        history["grad_norm_history"] = [v if math.isfinite(v) else None for v in norms]
    epoch_norms = _epoch_means(norms, trainer.iterations_per_epoch, epochs)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["epoch", "loss", "train_acc", "val_acc", "learning_rate", *(["grad_norm"] if norms else [])])
    for i, (tr, va) in enumerate(zip(trainer.train_acc_history, trainer.val_acc_history, strict=True)):
        lr = trainer.lr_history[i] if i < len(trainer.lr_history) else ""
        loss = losses[i] if i < len(losses) else ""
        writer.writerow([i + 1, loss, tr, va, lr, *([epoch_norms[i] if i < len(epoch_norms) else ""] if norms else [])])
    try:
        write_json(out / HISTORY_JSON, history)
        write_text(out / HISTORY_CSV, buf.getvalue())
    except OSError as e:  # the checkpoint holds the histories too; do not hide the error that ended training
        click.echo(f"warning: {os_error_message(e, 'could not write the history')}", err=True)


def _epoch_means(values: list[float], per_epoch: int, epochs: int) -> list[float | str]:
    """The mean of each whole epoch's finite values ('' for an epoch without any)."""
    out: list[float | str] = []
    for e in range(min(epochs, len(values) // per_epoch) if per_epoch > 0 else 0):
        seen = [v for v in values[e * per_epoch : (e + 1) * per_epoch] if math.isfinite(v)]
        out.append(math.fsum(seen) / len(seen) if seen else "")
    return out


def plot_run(trainer: Any, out: Path, config: dict[str, Any]) -> None:
    if not plots.have_matplotlib():
        click.echo("(matplotlib is not installed: no plots; pip install 'minifc[plots]')")
        return
    hist = {
        "loss_history": trainer.loss_history,
        "train_acc_history": trainer.train_acc_history,
        "val_acc_history": trainer.val_acc_history,
        "lr_history": trainer.lr_history,
    }
    lr = "" if config["lr"] is None else f" lr {config['lr']:g}"
    title = (
        f"{out.name}: hidden {','.join(map(str, config['hidden']))}, {config['update_rule']}{lr}, "
        f"batch {config['batch_size']}, best val acc {trainer.best_val_acc:.4f}"
    )
    path = plots.plot_histories({out.name: hist}, out / HISTORY_PLOT, RUN_PANELS, title=title, first_epoch=1)
    click.echo(f"plot: {path}")
