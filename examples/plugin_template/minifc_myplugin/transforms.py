"""A gradient transform: ``clip_spikes`` clips the global gradient norm to ``factor`` times its running
average, so a rare spike is cut while the usual scale passes unchanged.

A transform is made by a factory declared with ``@gradient_transform(defaults, bounds)`` (its options,
checked by name and range), and has ``init(params) -> state`` and
``update(grads, state, params) -> (grads, state)``: grads and params map parameter names to tensors; state
holds tensors and numbers (saved in checkpoints, so a resumed run continues exactly).
"""

from __future__ import annotations

import math

import torch

from minifc.optim import gradient_transform
from minifc.validate import Interval, below

__all__ = ["clip_spikes", "ClipSpikes"]


class ClipSpikes:
    """norm = ||all grads||; after the first step, grads *= min(1, factor * avg / norm); avg is then the
    exponential average (``decay``) of the norms seen (clipped ones count as ``factor * avg``)."""

    def __init__(self, factor: float, decay: float) -> None:
        self.factor, self.decay = factor, decay

    def init(self, params):
        first = next(iter(params.values()))
        return {"avg": torch.zeros((), dtype=first.dtype, device=first.device), "steps": 0}

    def update(self, grads, state, params):
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads.values()]))
        avg, steps = state["avg"], state["steps"]
        if steps:
            limit = self.factor * avg
            scale = torch.clamp(limit / (norm + 1e-12), max=1.0)
            grads = {n: g * scale for n, g in grads.items()}
            norm = torch.minimum(norm, limit)
        avg = norm if not steps else self.decay * avg + (1 - self.decay) * norm
        return grads, {"avg": avg, "steps": steps + 1}


@gradient_transform({"factor": 2.0, "decay": 0.9}, {"factor": Interval(1.0, math.inf), "decay": below(1.0)})
def clip_spikes(factor: float = 2.0, decay: float = 0.9) -> ClipSpikes:
    """``clip_spikes:factor=2,decay=0.9``."""
    return ClipSpikes(factor, decay)
