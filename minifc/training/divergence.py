"""What happens when training diverges: the best parameters come back, and the error says why."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NoReturn

from ..errors import DivergenceError
from .run_state import TrainingState
from .snapshot import restore_snapshot

__all__ = ["raise_divergence", "finite_loss"]


def raise_divergence(
    state: TrainingState,
    model: Any,
    checkpoint_path: Path | None,
    loss_value: float | None = None,
    bad_params: list[str] | None = None,
) -> NoReturn:
    """Restore the best parameters so far into ``model`` (when an epoch has finished) and raise
    DivergenceError naming the iteration, what became non-finite, what was kept, and what to try."""
    lr = next(iter(state.optim_configs.values())).get("learning_rate")
    if bad_params:
        what = f"parameter(s) {', '.join(bad_params)} became NaN/Inf by iteration {state.step_count}"
    else:
        what = f"the loss became {loss_value} at iteration {state.step_count + 1}"
    if state.best_params:
        restore_snapshot(model, state.best_params, state.best_buffers)
    kept = "the best parameters so far were restored in the model" if state.best_params else "no epoch had finished"
    if checkpoint_path is not None and checkpoint_path.is_file():
        kept += f"; the last checkpoint {checkpoint_path} was not touched"
    if state.step_count == 0 and not bad_params:
        hint = "No update had happened yet: check the data, the weight scale and the loss."
    else:
        hint = f"Try a smaller learning rate (it was {lr})."
    raise DivergenceError(f"training diverged: {what} (epoch {state.epoch + 1}); {kept}. {hint}")


def finite_loss(loss: Any, state: TrainingState, model: Any, checkpoint_path: Path | None) -> float:
    """The loss (a 0-dim tensor or a number) as a float; :func:`raise_divergence` when it is NaN or infinite."""
    value = float(loss)
    if not math.isfinite(value):
        raise_divergence(state, model, checkpoint_path, loss_value=value)
    return value
