"""``Solver``: the classic course trainer, as a thin face on :class:`minifc.trainer.Trainer`.

Same keyword arguments, defaults, attributes and printed lines as the EECS 498-007 Solver: each
minibatch is ``torch.randperm(num_train)[:batch_size]`` from torch's global RNG, accuracy on
``num_train_samples`` training samples after the first iteration and every epoch, learning-rate decay
after every epoch, ``checkpoint_name`` files per epoch; every ``train()`` call runs ``num_epochs``
more epochs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch

from . import optim
from .checkpoint import atomic_save
from .trainer import Trainer

__all__ = ["Solver"]

_CLASSIC_KWARGS = {
    "update_rule": optim.sgd,
    "optim_config": None,
    "lr_decay": 1.0,
    "batch_size": 100,
    "num_epochs": 10,
    "num_train_samples": 1000,
    "num_val_samples": None,
    "device": "cpu",
    "checkpoint_name": None,
    "print_every": 10,
    "print_acc_every": 1,
    "verbose": True,
}


class Solver(Trainer):
    """The classic Solver. ``Solver(model, data, **kwargs)`` then ``solver.train()``.

    data: dict with X_train, y_train, X_val, y_val. kwargs (defaults): update_rule (sgd),
    optim_config ({}), lr_decay (1.0), batch_size (100), num_epochs (10), num_train_samples (1000),
    num_val_samples (None: all), device ('cpu'), checkpoint_name (None), print_every (10),
    print_acc_every (1), verbose (True). An unknown keyword raises ValueError.
    """

    def __init__(self, model: Any, data: Mapping[str, torch.Tensor], **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(_CLASSIC_KWARGS))
        if unknown:
            raise ValueError(f"Unrecognized arguments {', '.join(unknown)}")
        opts = {**_CLASSIC_KWARGS, **kwargs}
        print_every = opts["print_every"]
        if isinstance(print_every, bool) or not isinstance(print_every, int) or print_every < 1:
            raise ValueError(f"print_every must be an integer >= 1, got {print_every!r}")
        self.checkpoint_name = opts["checkpoint_name"]
        self.print_every = opts["print_every"]
        self.print_acc_every = opts["print_acc_every"]
        self.start_time = time.time()
        super().__init__(
            model,
            data,
            update_rule=opts["update_rule"],
            optim_config=opts["optim_config"],
            lr_decay=opts["lr_decay"],
            batch_size=opts["batch_size"],
            num_epochs=opts["num_epochs"],
            device=opts["device"],
            sampling="subset",
            num_train_samples=opts["num_train_samples"],
            num_val_samples=opts["num_val_samples"],
            progress=False,
            verbose=opts["verbose"],
        )
        self.generator = torch.default_generator  # the classic Solver draws from torch's global RNG
        self._classic_epochs = self.num_epochs
        self._first_step = 0
        self.device = opts["device"]  # kept as passed, like the course's Solver
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

    def _reset(self) -> None:
        super()._reset()
        self.generator = torch.default_generator

    def train(self, time_limit: float | None = None, return_best_params: bool = True) -> Solver:  # type: ignore[override]
        """Run optimization; the model ends with the best parameters when ``return_best_params``."""
        self.start_time = time.time()
        self._num_iterations = self._classic_epochs * self.iterations_per_epoch
        self._first_step = self.step_count
        self.num_epochs = self.epoch + self._classic_epochs  # each call trains num_epochs more epochs
        try:
            super().train(time_limit=time_limit, return_best_params=return_best_params)
        finally:
            self.num_epochs = self._classic_epochs
        return self

    def check_accuracy(
        self, X: torch.Tensor, y: torch.Tensor, num_samples: int | None = None, batch_size: int = 100
    ) -> float:
        """Accuracy on X, y (moved to the solver's device; X cast to the model's dtype by its loss)."""
        return super().check_accuracy(X.to(self.device), y.to(self.device), num_samples, batch_size)

    def _after_step(self, loss: float, bar: Any, it: int) -> None:
        t = self.step_count - 1 - self._first_step
        if self.verbose and t % self.print_every == 0:
            print(
                f"(Time {time.time() - self.start_time:.2f} sec; Iteration {t + 1} / {self._num_iterations}) "
                f"loss: {loss:f}"
            )
        if t == 0 and self.iterations_per_epoch > 1:  # the classic Solver also measures after the first iteration
            train_acc, val_acc = self._measure()
            self._log_epoch(train_acc, val_acc)

    def _log_epoch(self, train_acc: float, val_acc: float) -> None:
        if self.verbose and self.epoch % self.print_acc_every == 0:
            print(f"(Epoch {self.epoch} / {self._classic_epochs}) train acc: {train_acc:f}; val_acc: {val_acc:f}")

    def _end_epoch(self) -> None:
        super()._end_epoch()
        if self.checkpoint_name is not None:
            self._save_checkpoint()

    def _log_time_limit(self, elapsed: float) -> None:
        print(
            f"(Time {elapsed:.2f} sec; Iteration {self.step_count} / {self._num_iterations}) "
            f"loss: {self.loss_history[-1]:f}"
        )
        print("End of training; next iteration will exceed the time limit.")

    def _save_checkpoint(self) -> None:
        filename = f"{self.checkpoint_name}_epoch_{self.epoch}.pkl"
        checkpoint = {
            "update_rule": self.update_rule_name,
            "lr_decay": self.lr_decay,
            "optim_config": {k: v for k, v in self.optim_config.items() if not isinstance(v, torch.Tensor)},
            "batch_size": self.batch_size,
            "num_train_samples": self.num_train_samples,
            "num_val_samples": self.num_val_samples,
            "epoch": self.epoch,
            "params": {k: v.detach().cpu() for k, v in self.model.params.items()},
            "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history,
            "val_acc_history": self.val_acc_history,
        }
        if self.verbose:
            print(f'Saving checkpoint to "{filename}"')
        atomic_save(checkpoint, filename)
