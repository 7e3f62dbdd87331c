"""Training callbacks: plain objects whose ``on_*`` methods the Trainer calls, in list order.

A callback implements any of ``on_train_begin(trainer)``, ``on_epoch_end(trainer)``,
``on_step_end(trainer)`` and ``on_train_end(trainer)``. Setting ``trainer.stop_training = True``
ends training after the current step or epoch. The Trainer looks up ``on_step_end`` once, when
``train()`` starts: a callback added to ``trainer.callbacks`` during training takes part in the next
``train()`` call.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["Callback", "EarlyStopping", "History"]


class Callback:
    """Base class with every hook as a no-op (subclassing it is optional)."""

    def on_train_begin(self, trainer: Any) -> None: ...

    def on_step_end(self, trainer: Any) -> None: ...

    def on_epoch_end(self, trainer: Any) -> None: ...

    def on_train_end(self, trainer: Any) -> None: ...


class EarlyStopping(Callback):
    """Stop when validation accuracy has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, patience: int = 5, min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be >= 1, got {patience}")
        self.patience, self.min_delta = patience, min_delta
        self.best = -math.inf
        self.bad_epochs = 0
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, trainer: Any) -> None:
        acc = trainer.val_acc_history[-1]
        if acc > self.best + self.min_delta:
            self.best, self.bad_epochs = acc, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs >= self.patience:
            self.stopped_epoch = trainer.epoch
            trainer.stop_training = True


class History(Callback):
    """Records (epoch, elapsed seconds, train acc, val acc) after every epoch."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float, float, float]] = []

    def on_epoch_end(self, trainer: Any) -> None:
        self.rows.append((trainer.epoch, trainer.elapsed, trainer.train_acc_history[-1], trainer.val_acc_history[-1]))
