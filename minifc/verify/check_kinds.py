"""``minifc check`` for the factory kinds, schedules and callbacks (built with their defaults or the
``check_config`` metadata):

- a schedule: every factor of a 10-epoch, 1,000-step run is a finite number > 0, and asking for a
  step again gives the same factor (a resumed run asks again from where it stopped);
- a callback: every ``on_*`` hook it has is callable with the trainer. A callback that needs an
  optional package that is not installed (:class:`~minifc.errors.MissingExtraError`) passes with the
  note of what to install.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from ..errors import MissingExtraError
from ..registry.components import Component
from ..registry.options import build_component

__all__ = ["CHECK_EPOCHS", "CHECK_STEPS", "CALLBACK_HOOKS", "check_schedule_rows", "check_callback_rows"]

CHECK_EPOCHS, CHECK_STEPS = 10, 1000
CALLBACK_HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_step_end",
    "on_epoch_end",
    "on_train_end",
    "on_evaluate_begin",
    "on_evaluate_end",
)
#: one check row: (check, error, passed, detail)
Row = tuple[str, float | None, bool, str]


def _config(c: Component) -> dict[str, Any]:
    return dict(c.metadata.get("check_config") or {})


def check_schedule_rows(c: Component) -> list[Row]:
    """The rows of the schedule ``c``."""
    schedule = build_component(c, _config(c), num_epochs=CHECK_EPOCHS)
    factors = [schedule(step, CHECK_STEPS) for step in range(CHECK_STEPS)]
    bad = next(
        ((step, f) for step, f in enumerate(factors)
         if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) or f <= 0),
        None,
    )  # fmt: skip
    detail = f"step {bad[0]}: factor {bad[1]!r}" if bad is not None else ""
    rows: list[Row] = [(f"factor finite and > 0 over {CHECK_STEPS} steps", None, bad is None, detail)]
    again = [(step, schedule(step, CHECK_STEPS)) for step in (CHECK_STEPS - 1, 0, CHECK_STEPS // 2)]
    moved = [(step, f) for step, f in again if f != factors[step]]
    detail = f"step {moved[0][0]}: {factors[moved[0][0]]!r} then {moved[0][1]!r}" if moved else ""
    rows.append(("same factor when asked again (resume)", None, not moved, detail))
    return rows


def check_callback_rows(c: Component) -> list[Row]:
    """The rows of the callback ``c``."""
    try:
        callback = build_component(c, _config(c))
    except MissingExtraError as e:
        return [("built (needs an optional package: not checked)", None, True, str(e))]
    problems = []
    for hook in CALLBACK_HOOKS:
        method = getattr(callback, hook, None)
        if method is None:
            continue
        if not callable(method):
            problems.append(f"{hook} is a {type(method).__name__}, not a method")
        elif not _takes_one(method):
            problems.append(f"{hook}{_signature(method)} cannot be called as {hook}(trainer)")
    found = [hook for hook in CALLBACK_HOOKS if getattr(callback, hook, None) is not None]
    if not found:
        problems.append(f"it has none of the hooks {', '.join(CALLBACK_HOOKS)}")
    return [("on_* hooks callable with the trainer", None, not problems, "; ".join(problems))]


def _takes_one(method: Any) -> bool:
    try:
        inspect.signature(method).bind(None)
    except (TypeError, ValueError):
        return False
    return True


def _signature(method: Any) -> str:
    try:
        return str(inspect.signature(method))
    except (TypeError, ValueError):
        return "(?)"
