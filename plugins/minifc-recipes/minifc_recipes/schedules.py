"""Learning-rate schedules: one whose warm-up is a number of steps, so that it does not move when the
total number of steps changes during training (as when a time budget shortens the run), and the
one-cycle policy, registered as the schedule ``one_cycle``."""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["warmup_cosine_steps", "one_cycle"]


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


def one_cycle(
    pct_start: float = 0.3, div_factor: float = 25.0, final_div_factor: float = 1e4
) -> Callable[[int, int], float]:
    """The one-cycle policy (Smith & Topin 2018; torch's ``OneCycleLR`` with cosine annealing) as a factor
    of the base rate, which is the peak: from ``1 / div_factor`` up to 1 over the first ``pct_start`` of
    the steps, then down to ``1 / (div_factor * final_div_factor)`` at the last step, both along a cosine.
    Registered as the schedule ``one_cycle`` (``minifc train --schedule one_cycle:pct_start=0.25``)."""
    if not 0.0 < pct_start < 1.0:
        raise ValueError(f"one_cycle: pct_start must be in (0, 1), got {pct_start!r}")
    if div_factor < 1.0 or final_div_factor < 1.0:
        raise ValueError(
            f"one_cycle: div_factor and final_div_factor must be >= 1, got {div_factor!r}, {final_div_factor!r}"
        )
    start, end = 1.0 / div_factor, 1.0 / (div_factor * final_div_factor)

    def cosine(a: float, b: float, t: float) -> float:
        return b + (a - b) * 0.5 * (1.0 + math.cos(math.pi * t))

    def schedule(step: int, total_steps: int) -> float:
        last = max(1, total_steps - 1)
        peak = min(max(1.0, pct_start * total_steps - 1), last - 0.5)  # torch's phase boundary
        if step <= peak:
            return cosine(start, 1.0, step / peak)
        return cosine(1.0, end, min(1.0, (step - peak) / max(1.0, last - peak)))

    return schedule
