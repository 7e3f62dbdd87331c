"""Training callbacks: plain objects whose ``on_*`` methods the Trainer calls, in list order.

A callback implements any of ``on_train_begin(trainer)``, ``on_epoch_begin(trainer)``,
``on_step_end(trainer)``, ``on_epoch_end(trainer)`` and ``on_train_end(trainer)``, and
``on_evaluate_begin(trainer)`` / ``on_evaluate_end(trainer)`` around every :meth:`Trainer.evaluate`
(the end-of-epoch accuracies and the best-parameter snapshot; ``on_evaluate_end`` runs even when the
evaluation raises). The Trainer's
own progress bar (:class:`ProgressBar`) and epoch lines (:class:`EpochLog`) are callbacks too.
Setting ``trainer.stop_training = True`` ends training after the current step or epoch. The Trainer
looks up ``on_step_end`` once, when
``train()`` starts: a callback added to ``trainer.callbacks`` during training takes part in the next
``train()`` call.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Protocol

from tqdm.auto import tqdm


class Trainer(Protocol):
    """What a callback reads and writes on the :class:`minifc.training.trainer.Trainer` that calls it (a
    Protocol here, so this module does not import the Trainer that imports it)."""

    model: Any  # the trained model: ``params`` and ``loss(X, y=None)``, a Classifier or the like
    epoch: int
    num_epochs: int
    step_count: int
    loss_history: list[float]
    train_acc_history: list[float]
    val_acc_history: list[float]
    elapsed: float
    stop_training: bool
    stopped_by_time_limit: bool

    @property
    def iterations_per_epoch(self) -> int: ...

__all__ = ["Callback", "EarlyStopping", "ProgressBar", "EpochLog", "standard_callbacks"]


class Callback:
    """Base class with every hook as a no-op (subclassing it is optional)."""

    def on_train_begin(self, trainer: Trainer) -> None: ...

    def on_epoch_begin(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer) -> None: ...

    def on_epoch_end(self, trainer: Trainer) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...

    def on_evaluate_begin(self, trainer: Trainer) -> None: ...

    def on_evaluate_end(self, trainer: Trainer) -> None: ...


class EarlyStopping(Callback):
    """Stop when validation accuracy has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, patience: int = 5, min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be >= 1, got {patience}")
        self.patience, self.min_delta = patience, min_delta
        self.best = -math.inf
        self.bad_epochs = 0
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, trainer: Trainer) -> None:
        acc = trainer.val_acc_history[-1]
        if acc > self.best + self.min_delta:
            self.best, self.bad_epochs = acc, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs >= self.patience:
            self.stopped_epoch = trainer.epoch
            trainer.stop_training = True


class ProgressBar(Callback):
    """A tqdm bar per epoch with the loss and the last validation accuracy, updated at most ~10 times
    a second (a tqdm call after every step of a millisecond-sized model costs a measurable part of
    the epoch)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self._shown = -math.inf

    def on_epoch_begin(self, trainer: Trainer) -> None:
        self.bar = tqdm(
            total=trainer.iterations_per_epoch,
            desc=f"epoch {trainer.epoch + 1}/{trainer.num_epochs}",
            leave=False,
            unit="it",
            dynamic_ncols=True,
            mininterval=0.25,
        )
        self._shown = -math.inf

    def on_step_end(self, trainer: Trainer) -> None:
        bar = self.bar
        if bar is None:
            return
        done = trainer.step_count - trainer.epoch * trainer.iterations_per_epoch
        now = time.monotonic()
        if now - self._shown < 0.1 and done < bar.total:
            return
        self._shown = now
        postfix = {"loss": f"{trainer.loss_history[-1]:.3f}"}
        if trainer.val_acc_history:
            postfix["val_acc"] = f"{trainer.val_acc_history[-1]:.3f}"
        bar.set_postfix(refresh=False, **postfix)
        bar.update(done - bar.n)

    def on_epoch_end(self, trainer: Trainer) -> None:
        self.on_train_end(trainer)

    def on_train_end(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class EpochLog(Callback):
    """One line per epoch (mean loss, accuracies, elapsed time), and why training stopped early."""

    def on_epoch_end(self, trainer: Trainer) -> None:
        recent = trainer.loss_history[-trainer.iterations_per_epoch :]
        mean_loss = sum(recent) / max(len(recent), 1)
        tqdm.write(
            f"epoch {trainer.epoch}/{trainer.num_epochs}  loss {mean_loss:.4f}  "
            f"train acc {trainer.train_acc_history[-1]:.4f}  val acc {trainer.val_acc_history[-1]:.4f}  "
            f"({trainer.elapsed:.1f} s)"
        )

    def on_train_end(self, trainer: Trainer) -> None:
        if trainer.stopped_by_time_limit:
            tqdm.write(f"stopping at {trainer.elapsed:.1f} s: the next iteration would exceed the time limit")


def standard_callbacks(verbose: bool, progress: bool | None) -> list[Callback]:
    """The Trainer's own callbacks: a :class:`ProgressBar` when ``verbose`` and ``progress`` (None: when
    stderr is a terminal), then an :class:`EpochLog` when ``verbose``."""
    show_bar = verbose and (progress if progress is not None else sys.stderr.isatty())
    return [*([ProgressBar()] if show_bar else []), *([EpochLog()] if verbose else [])]
