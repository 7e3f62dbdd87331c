"""Learning-rate schedules as the Trainer uses them: checked when given, checked at every step."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from .run_state import TrainingState

__all__ = [
    "check_schedule",
    "schedule_factor",
    "rate_at",
    "rate_scale",
    "set_base_rate",
    "changed_rate",
    "changed_rate_note",
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


def rate_scale(lr_decay: float, epoch: int, factor: float = 1.0) -> float:
    """What the base rate is multiplied by in a step of epoch ``epoch`` (0-based): the schedule's ``factor``
    for that step (1 without a schedule) times ``lr_decay ** epoch``. The one place this formula lives."""
    return factor * lr_decay**epoch


def rate_at(base: float, lr_decay: float, epoch: int, factor: float = 1.0) -> float:
    """The learning rate of a step of epoch ``epoch``: ``base`` times :func:`rate_scale`."""
    return base * rate_scale(lr_decay, epoch, factor)


def set_base_rate(state: TrainingState, lr: float, lr_decay: float) -> None:
    """Make ``lr`` every parameter's base rate, and ``lr * lr_decay ** epoch`` its rate for the next step (a
    schedule multiplies in its factor at the step)."""
    for name, config in state.optim_configs.items():
        state.base_lr[name] = lr
        config["learning_rate"] = rate_at(lr, lr_decay, state.epoch)


def changed_rate(given: object, base_lr: Mapping[str, float]) -> float | None:
    """``given`` (the learning rate a resuming Trainer was configured with) when it is a number other than the
    run's base rates ``base_lr``; None when it is not given or the same."""
    if isinstance(given, bool) or not isinstance(given, (int, float)) or not base_lr:
        return None
    if all(math.isclose(lr, given, rel_tol=1e-12, abs_tol=0.0) for lr in base_lr.values()):
        return None
    return float(given)


def changed_rate_note(path: object, new: float, base_lr: Mapping[str, float], schedule: object) -> str:
    """The warning of a resume from ``path`` that continues with the learning rate ``new``."""
    factor = " * the schedule's factor" if schedule is not None else ""
    return (
        f"resuming {path} with learning_rate {new!r} (the run used {next(iter(base_lr.values()))!r}): it applies "
        f"from now on, as if the run had used it from the start ({new!r} * lr_decay**epoch{factor})"
    )


def apply_schedule(
    state: TrainingState, schedule: Callable[[int, int], float], total_steps: int, lr_decay: float, limit: float
) -> None:
    """Set every parameter's learning rate for the next step (``state.step_count``) of ``total_steps``: its
    base rate times the schedule's factor times ``lr_decay ** epoch``; ValueError beyond ``limit``."""
    step, epoch = state.step_count, state.epoch
    factor = schedule_factor(schedule, step, total_steps)
    scale = rate_scale(lr_decay, epoch, factor)  # once per step, not per parameter
    for name, config in state.optim_configs.items():
        lr = state.base_lr[name] * scale
        if lr > limit:
            raise ValueError(
                f"schedule {_name(schedule)!r}: the learning rate of {name} at step {step} "
                f"({state.base_lr[name]!r} * {factor!r} * lr_decay**{epoch}) is beyond the largest value "
                f"of the parameters' dtype ({limit:.3g})"
            )
        config["learning_rate"] = lr


def lr_limit(params: Mapping[str, torch.Tensor]) -> float:
    """The largest learning rate the parameters' dtype can hold (update kernels cast it)."""
    return float(torch.finfo(next(iter(params.values())).dtype).max)


def check_learning_rates(state: TrainingState, limit: float, who: str | Callable[..., Any]) -> None:
    """ValueError naming ``who`` (a string, or the ``on_step_end`` method just called) when a
    parameter's learning rate is not a number in [0, ``limit``]: Python comparisons
    only, cheap enough for every step."""
    tables = ((state.optim_configs, "optim_configs[{!r}]['learning_rate']"), (state.base_lr, "base_lr[{!r}]"))
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
