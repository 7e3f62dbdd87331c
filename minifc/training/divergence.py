"""What happens when training diverges: the best parameters come back, and the error says why."""

from __future__ import annotations

import math
from typing import Any, NoReturn

from ..errors import DivergenceError

__all__ = ["raise_divergence", "finite_loss"]


def raise_divergence(trainer: Any, loss_value: float | None = None, bad_params: list[str] | None = None) -> NoReturn:
    """Restore the best parameters so far (when an epoch has finished) and raise DivergenceError naming
    the iteration, what became non-finite, what was kept, and what to try."""
    lr = next(iter(trainer.optim_configs.values())).get("learning_rate")
    if bad_params:
        what = f"parameter(s) {', '.join(bad_params)} became NaN/Inf by iteration {trainer.step_count}"
    else:
        what = f"the loss became {loss_value} at iteration {trainer.step_count + 1}"
    if trainer.best_params:
        trainer.restore_best()
    kept = "the best parameters so far were restored in the model" if trainer.best_params else "no epoch had finished"
    if trainer.checkpoint_path is not None and trainer.checkpoint_path.is_file():
        kept += f"; the last checkpoint {trainer.checkpoint_path} was not touched"
    if trainer.step_count == 0 and not bad_params:
        hint = "No update had happened yet: check the data, the weight scale and the loss."
    else:
        hint = f"Try a smaller learning rate (it was {lr})."
    raise DivergenceError(f"training diverged: {what} (epoch {trainer.epoch + 1}); {kept}. {hint}")


def finite_loss(trainer: Any, loss: Any) -> float:
    """The loss as a float; :func:`raise_divergence` when it is NaN or infinite."""
    value = float(loss)
    if not math.isfinite(value):
        raise_divergence(trainer, loss_value=value)
    return value
