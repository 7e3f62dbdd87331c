"""The Trainer's evaluation: train and validation accuracy, the histories and the best parameters.

Callbacks with ``on_evaluate_begin(trainer)`` / ``on_evaluate_end(trainer)`` run around it, e.g.
:class:`minifc.ema.EMA`, which puts its averaged weights in the model while they are measured.
"""

from __future__ import annotations

from typing import Any

from .loop import call_callbacks
from .snapshot import snapshot

__all__ = ["evaluate"]


def evaluate(trainer: Any) -> tuple[float, float]:
    """Measure train (``num_train_samples``) and validation (``num_val_samples``) accuracy, append them to
    the trainer's histories and snapshot the parameters and buffers when validation accuracy is the best so
    far; returns (train accuracy, validation accuracy)."""
    d = trainer.data
    if trainer.parallel is not None:
        trainer.parallel.sync_buffers(trainer.model)
    call_callbacks(trainer, "on_evaluate_begin")
    try:
        train_acc = trainer.check_accuracy(d["X_train"], d["y_train"], trainer.num_train_samples)
        val_acc = trainer.check_accuracy(d["X_val"], d["y_val"], trainer.num_val_samples)
        trainer.train_acc_history.append(train_acc)
        trainer.val_acc_history.append(val_acc)
        if val_acc > trainer.best_val_acc or not trainer.best_params:
            trainer.best_val_acc = max(val_acc, trainer.best_val_acc)
            trainer.best_params, trainer.best_buffers = snapshot(trainer.model)
    finally:
        call_callbacks(trainer, "on_evaluate_end")
    return train_acc, val_acc
