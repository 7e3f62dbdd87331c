"""The schedule ``polynomial``: a factory ``polynomial(power=1.0, end_factor=0.0)`` whose result is called
as ``schedule(step, total_steps) -> factor`` on the base learning rate, like every minifc schedule.
Registered with ``bounds`` so that a Trainer refuses ``power=-1`` naming the option."""

from __future__ import annotations

from collections.abc import Callable


def polynomial(power: float = 1.0, end_factor: float = 0.0) -> Callable[[int, int], float]:
    """``end_factor + (1 - end_factor) * (1 - step / total_steps) ** power``: from 1 at the first step
    towards ``end_factor`` at the end (torch's ``PolynomialLR`` with ``end_factor=0``); a pure function of
    the step, so a resumed run continues it exactly."""

    def schedule(step: int, total_steps: int) -> float:
        left = 1.0 - min(step, total_steps) / max(1, total_steps)
        return end_factor + (1.0 - end_factor) * left**power

    return schedule
