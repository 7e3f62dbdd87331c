"""The built-in gradient transforms: clipping by global norm and by value (:mod:`minifc.optim.transform`)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from ..validate import Interval
from .transform import Grads, TransformState, gradient_transform

__all__ = ["clip_norm", "clip_value", "ClipNorm", "ClipValue", "global_norm"]

_POSITIVE = Interval(0.0, math.inf, low_open=True)


def global_norm(grads: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all gradients together (a 0-dim tensor): ``torch.nn.utils.clip_grad_norm_``'s total norm."""
    norms = [torch.linalg.vector_norm(g, 2) for g in grads.values()]
    return torch.linalg.vector_norm(torch.stack(norms), 2)


class ClipNorm:
    """Scale every gradient by ``min(1, max_norm / (norm + 1e-6))``, ``norm`` being the global L2 norm over
    all parameters (as ``torch.nn.utils.clip_grad_norm_``); the state keeps that pre-clip norm (``grad_norm``)."""

    def __init__(self, max_norm: float) -> None:
        self.max_norm = float(max_norm)

    def init(self, params: Mapping[str, torch.Tensor]) -> TransformState:
        first = next(iter(params.values()))
        return {"grad_norm": torch.zeros((), dtype=first.dtype, device=first.device)}

    def update(
        self, grads: Grads, state: TransformState, params: Mapping[str, torch.Tensor]
    ) -> tuple[Grads, TransformState]:
        norm = global_norm(grads)
        factor = torch.clamp(self.max_norm / (norm + 1e-6), max=1.0)
        names = list(grads)
        scaled = torch._foreach_mul([grads[n] for n in names], factor)
        return dict(zip(names, scaled, strict=True)), {"grad_norm": norm}


class ClipValue:
    """Clamp every gradient element to ``[-value, value]``."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def init(self, params: Mapping[str, torch.Tensor]) -> TransformState:
        return {}

    def update(
        self, grads: Grads, state: TransformState, params: Mapping[str, torch.Tensor]
    ) -> tuple[Grads, TransformState]:
        v = self.value
        return {n: g.clamp(-v, v) for n, g in grads.items()}, state


@gradient_transform({"max_norm": 1.0}, {"max_norm": _POSITIVE})
def clip_norm(max_norm: float = 1.0) -> ClipNorm:
    """Clip by global norm: ``clip_norm:max_norm=1.0``."""
    return ClipNorm(max_norm)


@gradient_transform({"value": 1.0}, {"value": _POSITIVE})
def clip_value(value: float = 1.0) -> ClipValue:
    """Clip every element: ``clip_value:value=0.5``."""
    return ClipValue(value)
