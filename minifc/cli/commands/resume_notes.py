"""The note ``minifc train --resume --epochs N`` prints when the number of epochs changes.

A schedule that depends on the total number of steps (``warmup_cosine``) is refitted to the new total,
as if the run had been planned with N epochs from the start: a finished cosine restarts from the
factor the new plan has at this step. The note says so with the learning rate before and after, so
that a jump in the learning rate is never silent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...registry.core import default_registry
from ...training.named_kinds import resolve_schedule
from ...training.schedule import rate_at, schedule_factor

__all__ = ["epochs_note"]


def epochs_note(trainer: Any, old_epochs: int, schedule: Mapping[str, Any] | None, source: str = "--epochs") -> str:
    """'note: --epochs changes from A to B ...' for a Trainer that has loaded its checkpoint (``source``:
    where the new number comes from); names the learning rate of the last step and of the next one when
    the schedule is refitted."""
    new_epochs = trainer.num_epochs
    note = f"note: {source} changes from {old_epochs} to {new_epochs} for the rest of this run"
    if trainer.schedule is None or not trainer.base_lr:
        return note
    ipe, step = trainer.iterations_per_epoch, trainer.step_count
    # the run's plan: a named schedule built for the old number of epochs (an epoch-based one, such as
    # step, reads its epoch from it and is not refitted)
    old = resolve_schedule(schedule, default_registry().component, old_epochs) if schedule else trainer.schedule
    kept = schedule_factor(old, step, old_epochs * ipe)
    refitted = schedule_factor(trainer.schedule, step, new_epochs * ipe)
    if kept == refitted:
        return note
    name = next(iter(trainer.base_lr))
    base, decay, epoch = trainer.base_lr[name], trainer.lr_decay, trainer.epoch
    before = trainer.lr_history[-1] if trainer.lr_history else rate_at(base, decay, epoch, kept)
    after = rate_at(base, decay, epoch, refitted)
    what = f"the {schedule['name']} schedule" if schedule else "the schedule"
    return (
        f"{note}; {what} depends on the total number of steps and is refitted to {new_epochs} epochs: the "
        f"learning rate goes from {before:.1e} (the last step's) to {after:.1e} at the next step"
    )
