"""The Trainer's evaluation: train and validation accuracy, the histories and the best parameters.

:meth:`minifc.Trainer.evaluate` calls :func:`evaluate` between the callbacks' ``on_evaluate_begin(trainer)``
and ``on_evaluate_end(trainer)``, e.g. :class:`minifc.training.ema.EMA`, which puts its averaged weights in the model
while they are measured.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from .run_state import TrainingState
from .snapshot import snapshot

__all__ = ["Measure", "evaluate"]

#: ``measure(X (N, ...), y (N,), num_samples)`` -> the fraction of correct predictions
Measure = Callable[[torch.Tensor, torch.Tensor, int | None], float]


def evaluate(
    state: TrainingState,
    model: Any,
    data: Mapping[str, torch.Tensor],
    measure: Measure,
    num_train_samples: int | None,
    num_val_samples: int | None,
) -> tuple[float, float]:
    """Measure train (``num_train_samples`` of ``X_train``) and validation (``num_val_samples`` of ``X_val``)
    accuracy, append them to the state's histories and snapshot ``model``'s parameters and buffers when
    validation accuracy is the best so far; returns (train accuracy, validation accuracy)."""
    train_acc = measure(data["X_train"], data["y_train"], num_train_samples)
    val_acc = measure(data["X_val"], data["y_val"], num_val_samples)
    state.train_acc_history.append(train_acc)
    state.val_acc_history.append(val_acc)
    if val_acc > state.best_val_acc or not state.best_params:
        state.best_val_acc = max(val_acc, state.best_val_acc)
        state.best_params, state.best_buffers = snapshot(model)
    return train_acc, val_acc
