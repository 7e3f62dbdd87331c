"""The Trainer callback of a trial: it records the validation accuracy after every evaluation, reports it to
the Optuna trial and stops the run cleanly (``stop_training``) when the pruner says so, or, for the objective
``time_to_val_acc``, once the target accuracy is reached."""

from __future__ import annotations

import math
from typing import Any

from ..training.callbacks import Callback, Trainer

__all__ = ["TrialRecorder"]


class TrialRecorder(Callback):
    """Reports ``val_acc_history[-1]`` (``train_acc``: ``train_acc_history[-1]``; negated when the study
    minimizes) at step ``epoch`` after each epoch's
    evaluation; ``prune``: ask the trial's pruner; ``target``: stop when the accuracy reaches it and record the
    training seconds it took (``reached_s``)."""

    def __init__(self, trial: Any, *, prune: bool, target: float | None = None, minimize: bool = False,
                 train_acc: bool = False) -> None:
        self.trial, self.prune, self.target, self.sign = trial, prune, target, -1.0 if minimize else 1.0
        self.train_acc = train_acc  # report the training accuracy instead (the objective best_train_acc)
        self.best_val_acc = -math.inf
        self.best_train_acc = -math.inf
        self.epochs = 0
        self.seconds = 0.0
        self.reached_s: float | None = None
        self.pruned = False
        self.curve: list[list[float]] = []  # [epoch, step, seconds, val acc] per evaluation: time/steps to a target

    def on_epoch_end(self, trainer: Trainer) -> None:
        acc = float(trainer.val_acc_history[-1])
        self.best_val_acc = max(self.best_val_acc, acc)
        self.best_train_acc = max(self.best_train_acc, float(trainer.train_acc_history[-1]))
        self.epochs, self.seconds = trainer.epoch, float(trainer.elapsed)
        self.curve.append([trainer.epoch, trainer.step_count, round(self.seconds, 4), acc])
        if self.target is not None and self.reached_s is None and acc >= self.target:
            self.reached_s = self.seconds
            trainer.stop_training = True
            return
        if self.prune:
            reported = float(trainer.train_acc_history[-1]) if self.train_acc else acc
            self.trial.report(self.sign * reported, trainer.epoch)
            if self.trial.should_prune():
                self.pruned = True
                trainer.stop_training = True
