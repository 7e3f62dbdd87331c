"""A learning-rate schedule whose warm-up is a number of steps, so that it does not move when the
total number of steps changes during training (as when a time budget shortens the run)."""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["warmup_cosine_steps"]


def warmup_cosine_steps(warmup_steps: int, final_factor: float = 0.0) -> Callable[[int, int], float]:
    """``schedule(step, total_steps) -> factor``: linear warm-up from ``1 / warmup_steps`` to 1 over
    ``warmup_steps`` steps, then a cosine from 1 down to ``final_factor`` at ``total_steps``."""
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_cosine_steps: warmup_steps must be an integer >= 0, got {warmup_steps!r}")
    if not 0.0 <= final_factor <= 1.0:
        raise ValueError(f"warmup_cosine_steps: final_factor must be in [0, 1], got {final_factor!r}")

    def schedule(step: int, total_steps: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return schedule
