"""Learning-rate schedules: ``schedule(step, total_steps) -> factor`` multiplying the base rate."""

from __future__ import annotations

import math
from collections.abc import Callable

Schedule = Callable[[int, int], float]

__all__ = ["Schedule", "constant", "warmup_cosine"]


def constant(step: int, total_steps: int) -> float:
    """Factor 1 throughout."""
    return 1.0


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
