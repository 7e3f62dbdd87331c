"""Skip a step whose gradients hold NaN or Inf instead of stopping the run, up to a limit."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from minifc.errors import DivergenceError
from minifc.optim import gradient_transform

__all__ = ["skip_nonfinite", "SkipNonfinite"]


class SkipNonfinite:
    """Returns None (the Trainer skips the update) for gradients with NaN or Inf, and counts it in its state
    (``skipped``); the step after ``max_skips`` skipped ones stops the run with a :class:`DivergenceError`.
    A non-finite loss still stops the run at once; put it first in a chain (before clipping)."""

    def __init__(self, max_skips: int) -> None:
        self.max_skips = int(max_skips)

    def init(self, params: Mapping[str, torch.Tensor]) -> dict:
        return {"skipped": 0}

    def update(self, grads: dict[str, torch.Tensor], state: dict, params: Mapping[str, torch.Tensor]):
        if all(bool(torch.isfinite(g).all()) for g in grads.values()):
            return grads, state
        skipped = state["skipped"] + 1
        if skipped > self.max_skips:
            raise DivergenceError(
                f"gradient transform 'skip_nonfinite': {skipped} steps had NaN/Inf gradients, more than "
                f"max_skips={self.max_skips}: stopping (lower the learning rate, or clip the gradients)"
            )
        return None, {"skipped": skipped}


@gradient_transform({"max_skips": 10})
def skip_nonfinite(max_skips: int = 10) -> SkipNonfinite:
    """``skip_nonfinite:max_skips=10``."""
    return SkipNonfinite(max_skips)
