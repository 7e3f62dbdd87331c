"""An exponential moving average of the weights (Polyak averaging), measured in their place.

``Trainer(..., callbacks=[EMA(0.999)])``: after every ``every``-th step each parameter's average moves
towards it, ``avg <- d * avg + (1 - d) * w``; floating-point buffers (BatchNorm's running statistics)
are averaged the same way. While :meth:`minifc.Trainer.evaluate` runs, the model holds the averages,
so the accuracies, the best-validation snapshot and the parameters ``train()`` returns are the
averaged weights'. Training itself goes on from the raw weights.
"""

from __future__ import annotations

from typing import Any

import torch

from ..nn.modules import Module
from ..validate import check_int, check_number
from .callbacks import Callback, Trainer

__all__ = ["EMA"]


def _tensors(model: Any) -> dict[str, torch.Tensor]:
    """The model's parameters, then its net's floating-point buffers (keys ``buffer:<name>``)."""
    out = {f"param:{k}": v for k, v in model.params.items()}
    net = getattr(model, "net", None)
    if isinstance(net, Module):
        out |= {f"buffer:{k}": v for k, v in net.named_buffers() if v.is_floating_point()}
    return out


class EMA(Callback):
    """Keep ``average`` (name -> tensor, on each weight's device and dtype) and evaluate with it.

    Args:
        decay: the average's per-step decay d in [0, 1); 0.999 averages over about the last 1,000 steps.
        every: update the average after every ``every``-th step only, with decay ``d ** every``
            (each update reads and writes every weight: on a large net on a CPU, a few percent of a step).
        warmup: use ``min(decay, (1 + n) / (10 + n))`` per step, n being the steps averaged so far, so the
            average forgets the random initialisation within the first steps instead of over
            ``1 / (1 - decay)`` of them (until n reaches about ``9 / (1 - decay)``, the average spans about
            the last n / 9 steps).

    The average starts from the weights when ``train()`` begins (and again when it resumes from a
    checkpoint: the checkpoint holds the raw weights, not the average).
    """

    def __init__(self, decay: float = 0.999, every: int = 1, warmup: bool = True) -> None:
        self.decay = check_number(decay, "EMA decay", minimum=0.0)
        if self.decay >= 1.0:
            raise ValueError(f"EMA decay must be below 1 (an average that never moves), got {decay}")
        self.every = check_int(every, "EMA every", minimum=1)
        self.warmup = bool(warmup)
        self.updates = 0
        self.average: dict[str, torch.Tensor] | None = None
        self._raw: dict[str, torch.Tensor] | None = None

    def on_train_begin(self, trainer: Trainer) -> None:
        self.updates = 0
        self.average = {k: v.detach().clone() for k, v in _tensors(trainer.model).items()}

    def on_step_end(self, trainer: Trainer) -> None:
        if self.average is None or trainer.step_count % self.every:
            return
        steps = self.updates * self.every  # the warm-up counts steps, whatever ``every`` is
        d = min(self.decay, (1 + steps) / (10 + steps)) if self.warmup else self.decay
        current = _tensors(trainer.model)
        torch._foreach_lerp_(list(self.average.values()), [current[k] for k in self.average], 1.0 - d**self.every)
        self.updates += 1

    def on_evaluate_begin(self, trainer: Trainer) -> None:
        if self.average is None:
            return
        current = _tensors(trainer.model)
        self._raw = {k: current[k].clone() for k in self.average}
        self.copy_to(trainer.model)

    def on_evaluate_end(self, trainer: Trainer) -> None:
        if self._raw is None:
            return
        current = _tensors(trainer.model)
        for k, raw in self._raw.items():
            current[k].copy_(raw)
        self._raw = None

    def copy_to(self, model: Any) -> None:
        """Write the averages into ``model``'s parameters and buffers (in place)."""
        if self.average is None:
            raise RuntimeError("EMA: no average yet; it starts when train() begins")
        current = _tensors(model)
        missing = sorted(set(self.average) - set(current))
        if missing:
            raise KeyError(f"EMA: the model has no {', '.join(missing)}; the average was taken of another model")
        for k, avg in self.average.items():
            current[k].copy_(avg)
