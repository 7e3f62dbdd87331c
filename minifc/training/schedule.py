"""Learning-rate schedules as the Trainer uses them: checked when given, checked at every step."""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = [
    "check_schedule",
    "schedule_factor",
    "rate_at",
    "apply_schedule",
    "check_learning_rates",
    "lr_limit",
]


def _name(schedule: Any) -> str:
    return getattr(schedule, "__name__", repr(schedule))


def check_schedule(schedule: Any) -> Any:
    """A schedule is called as ``schedule(step, total_steps)`` and returns a factor; refused (with the
    hint to call a factory such as ``warmup_cosine(0.05)``) when it cannot be called that way."""
    if schedule is None:
        return None
    if not callable(schedule):
        raise TypeError(f"schedule must be a function schedule(step, total_steps) -> factor, got {schedule!r}")
    try:
        factor = schedule(0, 100)
    except TypeError as e:
        raise TypeError(
            f"schedule {_name(schedule)!r} cannot be called as schedule(step, total_steps) ({e}); a schedule "
            "factory such as warmup_cosine must be called first: warmup_cosine(0.05)"
        ) from None
    if callable(factor):
        raise TypeError(
            f"schedule {_name(schedule)!r} returned a function for step 0: it is a schedule factory, which must "
            f"be called first: {_name(schedule)}(0.05)"
        )
    if isinstance(factor, bool) or not isinstance(factor, (int, float)):
        raise TypeError(f"schedule {_name(schedule)!r} returned {type(factor).__name__} for step 0, not a number")
    return schedule


def schedule_factor(schedule: Any, step: int, total: int) -> float:
    """``schedule(step, total)``, which must be a finite number >= 0 (a negative factor would turn the
    update into gradient ascent)."""
    factor = schedule(step, total)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor < 0:
        raise ValueError(
            f"schedule {_name(schedule)!r} returned {factor!r} at step {step}: a learning-rate factor must be "
            "a finite number >= 0"
        )
    return float(factor)


def rate_at(base: float, lr_decay: float, epoch: int, factor: float = 1.0) -> float:
    """The learning rate of a step of epoch ``epoch`` (0-based): the base rate times the schedule's ``factor``
    for that step (1 without a schedule) times ``lr_decay ** epoch``. The one place this formula lives."""
    return base * (factor * lr_decay**epoch)


def apply_schedule(trainer: Any) -> None:
    """Set every parameter's learning rate for the trainer's next step: its base rate times the
    schedule's factor times ``lr_decay ** epoch``."""
    total = trainer.num_epochs * trainer.iterations_per_epoch
    factor = schedule_factor(trainer.schedule, trainer.step_count, total)
    limit = lr_limit(trainer)
    for name, config in trainer.optim_configs.items():
        lr = rate_at(trainer.base_lr[name], trainer.lr_decay, trainer.epoch, factor)
        if lr > limit:
            raise ValueError(
                f"schedule {_name(trainer.schedule)!r}: the learning rate of {name} at step {trainer.step_count} "
                f"({trainer.base_lr[name]!r} * {factor!r} * lr_decay**{trainer.epoch}) is beyond the largest value "
                f"of the parameters' dtype ({limit:.3g})"
            )
        config["learning_rate"] = lr


def lr_limit(trainer: Any) -> float:
    """The largest learning rate the trainer's parameters' dtype can hold (update kernels cast it)."""
    return float(torch.finfo(next(iter(trainer.model.params.values())).dtype).max)


def check_learning_rates(trainer: Any, who: Any) -> None:
    """ValueError naming ``who`` (a string, or the ``on_step_end`` method just called) when a
    parameter's learning rate is not a number in [0, the dtype's largest value]: Python comparisons
    only, cheap enough for every step."""
    limit = lr_limit(trainer)
    tables = ((trainer.optim_configs, "optim_configs[{!r}]['learning_rate']"), (trainer.base_lr, "base_lr[{!r}]"))
    for table, where in tables:
        for name, entry in table.items():
            lr = entry.get("learning_rate", 0.0) if isinstance(entry, dict) else entry
            if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0.0 <= lr <= limit:
                if not isinstance(who, str):
                    who = f"callback {type(getattr(who, '__self__', who)).__name__}.on_step_end"
                raise ValueError(
                    f"{who} set trainer.{where.format(name)} to {lr!r}: a learning rate must be a finite number "
                    f">= 0 (and at most {limit:.3g} for the parameters' dtype)"
                )
