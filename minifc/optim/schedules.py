"""Learning-rate schedules: ``schedule(step, total_steps) -> factor`` multiplying the base rate.

The factories here are the built-in schedules of the registry (``constant``, ``warmup_cosine``, ``step``,
``exponential``); the epoch-based ones take the run's ``num_epochs`` (the Trainer passes it when a
schedule is named) to know the epoch of a step."""

from __future__ import annotations

import math
from collections.abc import Callable

Schedule = Callable[[int, int], float]

__all__ = ["Schedule", "constant", "constant_schedule", "warmup_cosine", "step_decay", "exponential_decay"]


def constant(step: int, total_steps: int) -> float:
    """Factor 1 throughout."""
    return 1.0


def constant_schedule() -> Schedule:
    """The factory of :func:`constant` (the registry's ``constant``)."""
    return constant


def _epoch_length(total_steps: int, num_epochs: int) -> int:
    """Steps per epoch of a run of ``total_steps`` over ``num_epochs`` (at least 1)."""
    return max(1, total_steps // max(1, num_epochs))


def step_decay(step_size: int = 1, gamma: float = 0.1, *, num_epochs: int) -> Schedule:
    """``gamma ** (epoch // step_size)``: the rate multiplied by ``gamma`` every ``step_size`` epochs
    (torch's ``StepLR`` stepped once per epoch; ``step_size=1`` is the course's ``lr_decay``)."""
    if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
        raise ValueError(f"step_decay: step_size must be an integer >= 1, got {step_size!r}")
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"step_decay: gamma must be in (0, 1], got {gamma!r}")

    def step(step: int, total_steps: int) -> float:
        epoch = step // _epoch_length(total_steps, num_epochs)
        return float(gamma ** (epoch // step_size))

    return step


def exponential_decay(gamma: float = 0.95, *, num_epochs: int) -> Schedule:
    """``gamma ** (step / steps_per_epoch)``: a factor ``gamma`` per epoch, applied smoothly at every step."""
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"exponential_decay: gamma must be in (0, 1], got {gamma!r}")

    def exponential(step: int, total_steps: int) -> float:
        return float(gamma ** (step / _epoch_length(total_steps, num_epochs)))

    return exponential


def warmup_cosine(warmup_fraction: float = 0.05, final_factor: float = 0.0) -> Schedule:
    """Linear warm-up over the first ``warmup_fraction`` of the steps, then cosine decay to
    ``final_factor`` at the last step."""
    if not 0.0 <= warmup_fraction < 1.0:
        raise ValueError(f"warmup_cosine: warmup_fraction must be in [0, 1), got {warmup_fraction}")

    def schedule(step: int, total_steps: int) -> float:
        warmup = max(1, int(warmup_fraction * total_steps))
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return final_factor + (1 - final_factor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return schedule
