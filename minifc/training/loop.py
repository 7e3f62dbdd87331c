"""The epoch loop around :meth:`minifc.Trainer.step`: time limit, callbacks, the end of an epoch.

Callbacks are objects with optional ``on_train_begin``, ``on_epoch_begin``, ``on_step_end``,
``on_epoch_end`` and ``on_train_end`` methods, each called with the trainer (see
:mod:`minifc.training.callbacks`). The loop reads and writes the run's progress in its
:class:`~minifc.training.run_state.TrainingState`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..io.checkpoint import non_finite
from .callbacks import Callback
from .data_parallel import DataParallel
from .divergence import raise_divergence
from .named_kinds import callback_failure
from .run_state import TrainingState
from .schedule import check_learning_rates, lr_limit

__all__ = ["EpochLoop", "call_callbacks", "run_epochs", "end_epoch", "step_hooks"]


class EpochLoop(Protocol):
    """The Trainer as the epoch loop sees it: its state, its settings, and the three things it does."""

    training_state: TrainingState
    callbacks: list[Any]

    @property
    def model(self) -> Any: ...

    @property
    def parallel(self) -> DataParallel | None: ...

    @property
    def num_epochs(self) -> int: ...

    @property
    def seed(self) -> int | None: ...

    @property
    def lr_decay(self) -> float: ...

    @property
    def checkpoint_path(self) -> Path | None: ...

    @property
    def iterations_per_epoch(self) -> int: ...

    def step(self) -> float: ...

    def evaluate(self) -> tuple[float, float]: ...

    def save_checkpoint(self, path: Path) -> Path: ...


def call_callbacks(trainer: EpochLoop, hook: str) -> None:
    """Call ``hook`` (e.g. ``"on_epoch_end"``) on every callback that has it, with ``trainer``."""
    for cb in trainer.callbacks:
        method = getattr(cb, hook, None)
        if method is not None:
            try:
                method(trainer)
            except Exception as e:
                failure = callback_failure(cb, hook, trainer.training_state, trainer.checkpoint_path, e)
                if failure is None:
                    raise
                raise failure from e
            limit = lr_limit(trainer.model.params)
            check_learning_rates(trainer.training_state, limit, f"callback {type(cb).__name__}.{hook}")


def step_hooks(callbacks: list[Any]) -> list[Callable[[Any], Any]]:
    """The callbacks' ``on_step_end`` methods, looked up once per run because the step loop is the
    Trainer's overhead; :class:`~minifc.training.callbacks.Callback`'s inherited no-op is left out."""
    hooks = []
    for cb in callbacks:
        hook = getattr(cb, "on_step_end", None)
        if hook is not None and getattr(type(cb), "on_step_end", None) is not Callback.on_step_end:
            hooks.append(hook)
    return hooks


def run_epochs(trainer: EpochLoop, time_limit: float | None) -> None:
    """Step through the epochs left (``epoch`` up to ``num_epochs``) until a callback sets
    ``stop_training`` or the next step would end after ``time_limit`` seconds of training (the
    ``elapsed`` time of a resumed run counts)."""
    state = trainer.training_state
    start = time.time() - state.elapsed
    prev = time.time()
    ipe = trainer.iterations_per_epoch
    hooks = step_hooks(trainer.callbacks)
    limit = lr_limit(trainer.model.params) if hooks else 0.0
    parallel = trainer.parallel
    try:
        while state.epoch < trainer.num_epochs and not state.stop_training:
            if parallel is not None:  # each rank's own stream, reproducible from any epoch
                parallel.seed_rank(int(trainer.seed or 0) + state.epoch)
            call_callbacks(trainer, "on_epoch_begin")
            for _ in range(ipe):
                if time_limit is not None:
                    now = time.time()
                    if state.step_count > 0 and now - start + (now - prev) > time_limit:
                        state.stopped_by_time_limit = state.stop_training = True
                        break
                    prev = now
                trainer.step()
                for hook in hooks:
                    try:  # next to free unless it raises
                        hook(trainer)
                    except Exception as e:
                        failure = callback_failure(getattr(hook, "__self__", hook), "on_step_end", state,
                                                   trainer.checkpoint_path, e)  # fmt: skip
                        if failure is None:
                            raise
                        raise failure from e
                    check_learning_rates(state, limit, hook)
                if state.stop_training:
                    break
            if state.step_count < (state.epoch + 1) * ipe:  # stopped within the epoch
                break
            state.elapsed = time.time() - start
            end_epoch(trainer)
    finally:
        state.elapsed = time.time() - start


def end_epoch(trainer: EpochLoop) -> None:
    """Check the parameters, count the epoch, decay the learning rate, evaluate, checkpoint (rank 0
    only in a data-parallel run), then ``on_epoch_end``."""
    state, model = trainer.training_state, trainer.model
    bad = non_finite(dict(model.params))
    if bad:  # the loss was still finite, but the last updates overflowed
        raise_divergence(state, model, trainer.checkpoint_path, bad_params=bad)
    state.epoch += 1
    configs, lr_decay = state.optim_configs, trainer.lr_decay
    state.lr_history.append(float(next(iter(configs.values())).get("learning_rate", float("nan"))))
    for config in configs.values():
        if "learning_rate" in config:
            config["learning_rate"] *= lr_decay
    check_learning_rates(state, lr_limit(model.params), f"lr_decay {lr_decay!r} after epoch {state.epoch}")
    parallel = trainer.parallel
    if parallel is not None:
        parallel.check_in_sync(model, state.step_count)
    trainer.evaluate()
    path = trainer.checkpoint_path
    if path is not None:
        if parallel is None:
            trainer.save_checkpoint(path)
        else:  # rank 0 writes, the others wait
            parallel.on_main(trainer.save_checkpoint, path)
            trainer.training_state.owns_checkpoint = True
    call_callbacks(trainer, "on_epoch_end")
