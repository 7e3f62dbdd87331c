"""The Trainer's run progress: its :class:`~minifc.training.run_state.TrainingState` read through attributes,
saved to and restored from checkpoints, and the base learning rate a resume or the user sets."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from ..errors import CheckpointError
from ..validate import check_lr_range, check_number
from .run_state import StateField, TrainingState
from .sampler import Sampler
from .schedule import changed_rate, changed_rate_note, set_base_rate
from .snapshot import restore_snapshot
from .state import collect_state, load_trainer_checkpoint, save_trainer_checkpoint

if TYPE_CHECKING:
    from .run_state import Resumable

__all__ = ["TrainerProgress"]


class TrainerProgress:
    """The part of :class:`~minifc.training.trainer.Trainer` that keeps, saves and restores the run's progress."""

    training_state: TrainingState
    model: Any
    optim_config: dict[str, Any]
    lr_decay: float
    num_epochs: int
    schedule: Callable[[int, int], float] | None
    sampler: Sampler
    run_config: dict[str, Any] | None

    # the run's progress, kept in self.training_state (the attributes of the classic Solver and the README)
    epoch = StateField[int]()
    step_count = StateField[int]()
    best_val_acc = StateField[float]()
    best_params = StateField[dict[str, torch.Tensor]]()
    best_buffers = StateField[dict[str, torch.Tensor]]()
    loss_history = StateField[list[float]]()
    train_acc_history = StateField[list[float]]()
    val_acc_history = StateField[list[float]]()
    lr_history = StateField[list[float]]()
    optim_configs = StateField[dict[str, dict[str, Any]]]()
    base_lr = StateField[dict[str, float]]()
    elapsed = StateField[float]()
    stop_training = StateField[bool]()
    stopped_by_time_limit = StateField[bool]()
    grad_norm_history = StateField[list[float]]()

    def restore_best(self) -> None:
        """Put the best parameters (and buffers) measured so far back into the model."""
        state = self.training_state
        restore_snapshot(self.model, state.best_params, state.best_buffers)

    # -- checkpoints ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to resume, as tensors and plain values only."""
        return collect_state(cast("Resumable", self))

    def save_checkpoint(self, path: str | os.PathLike) -> Path:
        """Write :meth:`state` atomically to ``path``, keeping the file it replaces as ``.prev``
        (see :func:`minifc.training.state.save_trainer_checkpoint`)."""
        return save_trainer_checkpoint(cast("Resumable", self), Path(path))

    def load_checkpoint(self, path: str | os.PathLike | None) -> None:
        """Restore everything :meth:`state` saved; training continues where it stopped. The whole file is
        checked before anything changes (see :func:`minifc.training.state.load_trainer_checkpoint`)."""
        if path is None:
            raise CheckpointError("resume=True needs checkpoint_path (or pass the checkpoint file as resume=...)")
        state, run_config = load_trainer_checkpoint(cast("Resumable", self), Path(path))
        self.training_state = state  # replaced whole: nothing of the state before the resume is left
        if self.run_config is None:
            self.run_config = run_config
        self.sampler.reset()
        self._apply_given_learning_rate(Path(path))

    # -- the learning rate ---------------------------------------------------------------------
    def set_learning_rate(self, lr: float) -> None:
        """Make ``lr`` every parameter's base learning rate from now on, as if the run had used it from the
        start, and this Trainer's ``optim_config["learning_rate"]``: the next step's rate is
        ``lr * lr_decay ** epoch`` (times the schedule's factor when there is one,
        :func:`~minifc.training.schedule.rate_at`). ValueError for a rate that is negative, not finite, or
        beyond the parameters' dtype within ``num_epochs``."""
        lr = check_number(lr, "learning_rate", minimum=0.0)
        dtype = next(iter(self.model.params.values())).dtype
        check_lr_range(lr, self.lr_decay, self.num_epochs, dtype, "learning_rate", "lr_decay")
        set_base_rate(self.training_state, lr, self.lr_decay)
        self.optim_config["learning_rate"] = lr  # the rate this Trainer is configured with: a resume keeps it

    def _apply_given_learning_rate(self, path: Path) -> None:
        """A resume continues with the rate this Trainer was given in ``optim_config`` when it differs from
        the run's, saying so (as ``minifc train --resume --lr`` notes it)."""
        new = changed_rate(self.optim_config.get("learning_rate"), self.training_state.base_lr)
        if new is not None:
            warnings.warn(changed_rate_note(path, new, self.training_state.base_lr, self.schedule), stacklevel=3)
            self.set_learning_rate(new)
