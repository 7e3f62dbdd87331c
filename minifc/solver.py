"""``Solver``: the classic course trainer, the :class:`minifc.training.trainer.Trainer` configured the classic way.

Same keyword arguments, defaults, attributes and printed lines as the EECS 498-007 Solver: each
minibatch is ``torch.randperm(num_train)[:batch_size]`` from torch's global RNG (``sampling="subset"``),
accuracy on ``num_train_samples`` training samples after the first iteration and every epoch,
learning-rate decay after every epoch, ``checkpoint_name`` files per epoch; every ``train()`` call
runs ``num_epochs`` more epochs. The classic lines come from the :class:`ClassicLog` callback.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch

from . import optim
from .io.checkpoint import atomic_save
from .training.callbacks import Callback
from .training.trainer import Trainer
from .validate import check_int

__all__ = ["Solver", "ClassicLog", "ClassicCheckpoints"]

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
    "precision": None,
}


class ClassicLog(Callback):
    """The classic Solver's lines, and its accuracy check after the first iteration of each ``train()``."""

    def __init__(self, print_every: int = 10, print_acc_every: int = 1, verbose: bool = True) -> None:
        self.print_every = check_int(print_every, "print_every", minimum=1)
        self.print_acc_every = check_int(print_acc_every, "print_acc_every", minimum=1)
        self.verbose = verbose
        self.start_time = time.time()
        self.first_step = 0
        self.num_iterations = 0

    def on_train_begin(self, trainer: Any) -> None:
        self.start_time = time.time()
        self.first_step = trainer.step_count
        self.num_iterations = (trainer.num_epochs - trainer.epoch) * trainer.iterations_per_epoch

    def on_step_end(self, trainer: Any) -> None:
        t = trainer.step_count - 1 - self.first_step
        if self.verbose and t % self.print_every == 0:
            print(
                f"(Time {time.time() - self.start_time:.2f} sec; Iteration {t + 1} / {self.num_iterations}) "
                f"loss: {trainer.loss_history[-1]:f}"
            )
        if t == 0 and trainer.iterations_per_epoch > 1:  # an epoch's end measures anyway
            self._accuracy_line(trainer, *trainer.evaluate())

    def on_epoch_end(self, trainer: Any) -> None:
        self._accuracy_line(trainer, trainer.train_acc_history[-1], trainer.val_acc_history[-1])

    def _accuracy_line(self, trainer: Any, train_acc: float, val_acc: float) -> None:
        if self.verbose and trainer.epoch % self.print_acc_every == 0:
            epochs = getattr(trainer, "classic_num_epochs", trainer.num_epochs)
            print(f"(Epoch {trainer.epoch} / {epochs}) train acc: {train_acc:f}; val_acc: {val_acc:f}")

    def on_train_end(self, trainer: Any) -> None:
        if trainer.stopped_by_time_limit:
            t = trainer.step_count - self.first_step
            print(
                f"(Time {time.time() - self.start_time:.2f} sec; Iteration {t} / {self.num_iterations}) "
                f"loss: {trainer.loss_history[-1]:f}"
            )
            print("End of training; next iteration will exceed the time limit.")


class ClassicCheckpoints(Callback):
    """``<checkpoint_name>_epoch_<E>.pkl`` after every epoch: settings, params and histories."""

    def __init__(self, checkpoint_name: str, verbose: bool = True) -> None:
        self.checkpoint_name, self.verbose = checkpoint_name, verbose

    def on_epoch_end(self, trainer: Any) -> None:
        filename = f"{self.checkpoint_name}_epoch_{trainer.epoch}.pkl"
        checkpoint = {
            "update_rule": trainer.update_rule_name,
            "lr_decay": trainer.lr_decay,
            "optim_config": {k: v for k, v in trainer.optim_config.items() if not isinstance(v, torch.Tensor)},
            "batch_size": trainer.batch_size,
            "num_train_samples": trainer.num_train_samples,
            "num_val_samples": trainer.num_val_samples,
            "epoch": trainer.epoch,
            "params": {k: v.detach().cpu() for k, v in trainer.model.params.items()},
            "loss_history": trainer.loss_history,
            "train_acc_history": trainer.train_acc_history,
            "val_acc_history": trainer.val_acc_history,
        }
        if self.verbose:
            print(f'Saving checkpoint to "{filename}"')
        atomic_save(checkpoint, filename)


class Solver(Trainer):
    """The classic Solver. ``Solver(model, data, **kwargs)`` then ``solver.train()``.

    data: dict with X_train, y_train, X_val, y_val (kept as ``solver.X_train`` etc.). kwargs (defaults):
    update_rule (sgd), optim_config ({}), lr_decay (1.0), batch_size (100), num_epochs (10),
    num_train_samples (1000), num_val_samples (None: all), device ('cpu', kept as given),
    checkpoint_name (None), print_every (10), print_acc_every (1), verbose (True). An unknown keyword
    raises ValueError.
    """

    def __init__(self, model: Any, data: Mapping[str, torch.Tensor], **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(_CLASSIC_KWARGS))
        if unknown:
            raise ValueError(f"Unrecognized arguments {', '.join(unknown)}")
        opts = {**_CLASSIC_KWARGS, **kwargs}
        self.log = ClassicLog(opts["print_every"], opts["print_acc_every"], bool(opts["verbose"]))
        callbacks: list[Any] = [self.log]
        if opts["checkpoint_name"] is not None:
            callbacks.append(ClassicCheckpoints(opts["checkpoint_name"], bool(opts["verbose"])))
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
            precision=opts["precision"],
            num_train_samples=opts["num_train_samples"],
            num_val_samples=opts["num_val_samples"],
            callbacks=callbacks,
            progress=False,
            verbose=False,
        )
        self.generator = self.sampler.generator = torch.default_generator  # the classic global RNG
        self.verbose = opts["verbose"]
        self.checkpoint_name = opts["checkpoint_name"]
        self.print_every, self.print_acc_every = opts["print_every"], opts["print_acc_every"]
        self.classic_num_epochs = self.num_epochs
        self.device = opts["device"]  # kept as passed, like the course's Solver
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

    def train(self, time_limit: float | None = None, return_best_params: bool = True) -> Solver:  # type: ignore[override]
        """Run ``num_epochs`` more epochs; the model ends with the best parameters when
        ``return_best_params``."""
        self.num_epochs = self.epoch + self.classic_num_epochs
        try:
            super().train(time_limit=time_limit, return_best_params=return_best_params)
        finally:
            self.num_epochs = self.classic_num_epochs
        return self

    def check_accuracy(
        self, X: torch.Tensor, y: torch.Tensor, num_samples: int | None = None, batch_size: int = 100
    ) -> float:
        """Accuracy on X, y (moved to the solver's device; X cast to the model's dtype by its loss)."""
        if isinstance(X, torch.Tensor) and isinstance(y, torch.Tensor):
            X, y = X.to(self.device), y.to(self.device)
        return super().check_accuracy(X, y, num_samples, batch_size)
