"""Training inside a wall-clock budget: a schedule whose length the budget sets, and the callback that sets it.

:class:`FittedSchedule` is a warm-up (in steps) then a cosine to zero at ``total_steps``, a number of
steps that :class:`BudgetClock` refits every few steps from the measured seconds per step and per
epoch-end evaluation, so that the cosine reaches zero when the time left is what the final evaluation
needs. The last epoch may end part-way: the callback then measures the model (``trainer.evaluate()``,
which keeps the parameters when validation accuracy is the best so far) and stops the Trainer.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .schedules import warmup_cosine_steps

__all__ = ["FittedSchedule", "BudgetClock", "process_started_at"]


class FittedSchedule:
    """``schedule(step, total) -> factor``: linear warm-up over ``warmup_steps``, then a cosine to 0 at
    ``total_steps`` when set (by :class:`BudgetClock`), else at the Trainer's ``total``."""

    def __init__(self, warmup_steps: int) -> None:
        self._shape = warmup_cosine_steps(warmup_steps)
        self.total_steps: int | None = None
        self.__name__ = f"fitted_warmup_cosine({warmup_steps})"

    def __call__(self, step: int, total: int) -> float:
        return self._shape(step, self.total_steps if self.total_steps is not None else total)


class BudgetClock:
    """Trainer callback that fits training into ``deadline`` (a ``time.time()``) and records the curve.

    Args:
        started_at: when the budget started (the curve's time axis counts from it).
        deadline: when the final evaluation must be done.
        final_eval: the final evaluation's cost as a multiple of one epoch-end evaluation (measured
            after the first epoch; until then a guess of ``first_eval_steps`` steps per evaluation).
        probe: optional; ``probe()`` measures a slice of the final evaluation and returns the whole
            one's estimated seconds. When given it replaces ``final_eval`` from the first re-plan on
            (called then, and at the end of every ``probe_every``-th epoch after that one): an epoch-end
            evaluation is a poor yardstick when the final one uses other batches and views, and a short
            budget may end before the first epoch does.
        schedule: the :class:`FittedSchedule` to refit, or None (``adapt`` False: fixed epochs).
        max_steps: at most this many steps in all.
        margin_s: seconds kept free after the final evaluation (writing the results).

    Every ``replan_every`` steps and at every epoch end it sets ``schedule.total_steps`` to the steps
    that fit before ``stop_at`` (the deadline minus the final evaluation and the margin) and
    ``trainer.num_epochs`` to the epochs they span; past ``stop_at`` or past the fitted steps it stops.
    ``points`` holds (seconds since ``started_at``, train accuracy, validation accuracy) per evaluation.
    """

    def __init__(
        self,
        started_at: float,
        deadline: float,
        final_eval: float,
        schedule: FittedSchedule | None,
        max_steps: int,
        margin_s: float = 0.5,
        first_eval_steps: float = 20.0,
        replan_every: int = 16,
        probe: Callable[[], float] | None = None,
        probe_every: int = 5,
    ) -> None:
        self.started_at, self.deadline, self.final_eval = started_at, deadline, final_eval
        self.schedule, self.max_steps, self.margin_s = schedule, max_steps, margin_s
        self.first_eval_steps, self.replan_every = first_eval_steps, max(1, replan_every)
        self.points: list[tuple[float, float, float]] = []
        self.step_seconds: deque[float] = deque(maxlen=200)
        self.eval_seconds: float | None = None
        self.probe, self.probe_every = probe, max(1, probe_every)
        self.final_seconds: float | None = None  # the probe's latest estimate
        self.probed_epoch: int | None = None  # trainer.epoch at the latest probe
        self.stop_at = deadline - margin_s
        self._last = time.time()

    def on_train_begin(self, trainer: Any) -> None:
        self._last = time.time()

    def on_step_end(self, trainer: Any) -> None:
        now = time.time()
        if trainer.step_count > 2:  # the first steps check every component: not typical
            self.step_seconds.append(now - self._last)
        self._last = now
        if trainer.step_count % self.replan_every == 0 and self.step_seconds:
            if self.probe is not None and self.probed_epoch is None:
                now = self._run_probe(trainer)
            self._plan(trainer, now)
        done = self.schedule is not None and trainer.step_count >= (self.schedule.total_steps or math.inf)
        if now >= self.stop_at or done:
            if trainer.verbose and not done:
                print("budget: stopping now, to leave time for the final evaluation")
            self._finish(trainer)

    def on_epoch_end(self, trainer: Any) -> None:
        now = time.time()
        self.eval_seconds = now - self._last  # the epoch-end evaluation (and checkpoint, if any)
        self.points.append((now - self.started_at, trainer.train_acc_history[-1], trainer.val_acc_history[-1]))
        if self.probe is not None and (
            self.probed_epoch is None or trainer.epoch - self.probed_epoch >= self.probe_every
        ):
            now = self._run_probe(trainer)
        self._last = now
        if self.step_seconds:
            self._plan(trainer, now, report=trainer.verbose)

    def _run_probe(self, trainer: Any) -> float:
        """Estimate the final evaluation's seconds; returns the time after it (the probe's own time counts as
        neither a step's nor an evaluation's)."""
        assert self.probe is not None
        self.final_seconds = self.probe()
        self.probed_epoch = trainer.epoch
        self._last = time.time()
        return self._last

    def _plan(self, trainer: Any, now: float, report: bool = False) -> None:
        """Move ``stop_at`` to leave the final evaluation its time, and (adapting) refit the schedule."""
        per_step = sum(self.step_seconds) / len(self.step_seconds)
        one_eval = self.eval_seconds if self.eval_seconds is not None else self.first_eval_steps * per_step
        final = self.final_seconds if self.final_seconds is not None else self.final_eval * one_eval
        self.stop_at = self.deadline - self.margin_s - final
        if self.schedule is None:
            return
        ipe = trainer.iterations_per_epoch
        fits = max(0, math.floor((self.stop_at - now) / (per_step + one_eval / ipe)))
        total = min(self.max_steps, trainer.step_count + fits)
        if report:
            print(
                f"budget: {per_step * 1e3:.1f} ms per step, {one_eval:.1f} s per evaluation, {final:.1f} s for the "
                "final one, "
                f"{self.stop_at - now:.0f} s left -> {total} steps ({total / ipe:.1f} epochs) in all"
            )
        self.schedule.total_steps = total
        trainer.num_epochs = max(trainer.epoch, math.ceil(total / ipe))

    def _finish(self, trainer: Any) -> None:
        """Stop; a part-way epoch is measured first (a whole one is, by the Trainer, after this step)."""
        trainer.stop_training = True
        if trainer.step_count % trainer.iterations_per_epoch and trainer.step_count > 0:
            trainer.evaluate()
            now = time.time()
            self.points.append((now - self.started_at, trainer.train_acc_history[-1], trainer.val_acc_history[-1]))


def process_started_at() -> float:
    """When this process started (Linux /proc), else now: a budget then counts Python's start-up and the
    data loading."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line[:5] == "btime"
        )
        started = boot + start_ticks / ticks
        return started if 0 <= time.time() - started < 24 * 3600 else time.time()
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()
