"""The epoch loop around :meth:`minifc.Trainer.step`: time limit, callbacks, the end of an epoch.

Callbacks are objects with optional ``on_train_begin``, ``on_epoch_begin``, ``on_step_end``,
``on_epoch_end`` and ``on_train_end`` methods, each called with the trainer (see
:mod:`minifc.callbacks`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..callbacks import Callback
from ..checkpoint import non_finite
from .divergence import raise_divergence
from .schedule import check_learning_rates

__all__ = ["call_callbacks", "run_epochs", "end_epoch", "step_hooks"]


def call_callbacks(trainer: Any, hook: str) -> None:
    """Call ``hook`` (e.g. ``"on_epoch_end"``) on every callback that has it."""
    for cb in trainer.callbacks:
        method = getattr(cb, hook, None)
        if method is not None:
            method(trainer)
            check_learning_rates(trainer, f"callback {type(cb).__name__}.{hook}")


def step_hooks(callbacks: list[Any]) -> list[Callable[[Any], Any]]:
    """The callbacks' ``on_step_end`` methods, looked up once per run because the step loop is the
    Trainer's overhead; :class:`~minifc.callbacks.Callback`'s inherited no-op is left out."""
    hooks = []
    for cb in callbacks:
        hook = getattr(cb, "on_step_end", None)
        if hook is not None and getattr(type(cb), "on_step_end", None) is not Callback.on_step_end:
            hooks.append(hook)
    return hooks


def run_epochs(trainer: Any, time_limit: float | None) -> None:
    """Step through the epochs left (``trainer.epoch`` up to ``num_epochs``) until a callback sets
    ``stop_training`` or the next step would end after ``time_limit`` seconds of training (the
    ``elapsed`` time of a resumed run counts)."""
    start = time.time() - trainer.elapsed
    prev = time.time()
    ipe = trainer.iterations_per_epoch
    hooks = step_hooks(trainer.callbacks)
    parallel = trainer.parallel
    try:
        while trainer.epoch < trainer.num_epochs and not trainer.stop_training:
            if parallel is not None:  # each rank's own stream, reproducible from any epoch
                parallel.seed_rank(trainer.seed + trainer.epoch)
            call_callbacks(trainer, "on_epoch_begin")
            for _ in range(ipe):
                if time_limit is not None:
                    now = time.time()
                    if trainer.step_count > 0 and now - start + (now - prev) > time_limit:
                        trainer.stopped_by_time_limit = trainer.stop_training = True
                        break
                    prev = now
                trainer.step()
                for hook in hooks:
                    hook(trainer)
                    check_learning_rates(trainer, hook)
                if trainer.stop_training:
                    break
            if trainer.step_count < (trainer.epoch + 1) * ipe:  # stopped within the epoch
                break
            trainer.elapsed = time.time() - start
            end_epoch(trainer)
    finally:
        trainer.elapsed = time.time() - start


def end_epoch(trainer: Any) -> None:
    """Check the parameters, count the epoch, decay the learning rate, evaluate, checkpoint (rank 0
    only in a data-parallel run), then ``on_epoch_end``."""
    bad = non_finite(dict(trainer.model.params))
    if bad:  # the loss was still finite, but the last updates overflowed
        raise_divergence(trainer, bad_params=bad)
    trainer.epoch += 1
    configs = trainer.optim_configs
    trainer.lr_history.append(float(next(iter(configs.values())).get("learning_rate", float("nan"))))
    for config in configs.values():
        if "learning_rate" in config:
            config["learning_rate"] *= trainer.lr_decay
    check_learning_rates(trainer, f"lr_decay {trainer.lr_decay!r} after epoch {trainer.epoch}")
    parallel = trainer.parallel
    if parallel is not None:
        parallel.check_in_sync(trainer.model, trainer.step_count)
    trainer.evaluate()
    if trainer.checkpoint_path is not None:
        if parallel is None:
            trainer.save_checkpoint(trainer.checkpoint_path)
        else:  # rank 0 writes, the others wait
            parallel.on_main(trainer.save_checkpoint, trainer.checkpoint_path)
            trainer._owns_checkpoint = True
    call_callbacks(trainer, "on_epoch_end")
