"""Unit-wise transforms of weight gradients. A minifc weight is W (D, M), x @ W: a unit's incoming weights
are a column, so unit-wise norms and means run over dim 0; a bias b (M,) is unit-wise element by element."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from minifc.optim import gradient_transform
from minifc.validate import Interval

__all__ = ["adaptive_clip", "centralize", "AdaptiveClip", "Centralize", "unitwise_norm"]

_POSITIVE = Interval(0.0, math.inf, low_open=True)


def unitwise_norm(x: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each unit, broadcastable against x: |x| for a vector (M,), the column norms (1, M) of
    a weight (D, M) (more dimensions: over all but the last)."""
    if x.dim() <= 1:
        return x.abs()
    return torch.linalg.vector_norm(x, 2, dim=tuple(range(x.dim() - 1)), keepdim=True)


class AdaptiveClip:
    """AGC (Brock et al. 2021, "High-Performance Large-Scale Image Recognition Without Normalization"): a unit's
    gradient G_i is rescaled to ``clipping * max(||W_i||, eps) / ||G_i||`` times itself when its norm exceeds
    ``clipping * max(||W_i||, eps)``; other units are unchanged."""

    def __init__(self, clipping: float, eps: float) -> None:
        self.clipping, self.eps = float(clipping), float(eps)

    def init(self, params: Mapping[str, torch.Tensor]) -> dict:
        return {}

    def update(self, grads: dict[str, torch.Tensor], state: dict, params: Mapping[str, torch.Tensor]):
        out = {}
        for name, g in grads.items():
            limit = unitwise_norm(params[name]).clamp(min=self.eps) * self.clipping
            norm = unitwise_norm(g)
            clipped = g * (limit / norm.clamp(min=1e-6))
            out[name] = torch.where(norm > limit, clipped, g)
        return out, state


class Centralize:
    """Gradient centralization (Yong et al. 2020): every weight's gradient minus its mean over each unit's
    incoming weights (a column of dW (D, M)); vectors (biases) unchanged."""

    def init(self, params: Mapping[str, torch.Tensor]) -> dict:
        return {}

    def update(self, grads: dict[str, torch.Tensor], state: dict, params: Mapping[str, torch.Tensor]):
        dims = {n: tuple(range(g.dim() - 1)) for n, g in grads.items()}
        return {n: g - g.mean(dim=dims[n], keepdim=True) if g.dim() >= 2 else g for n, g in grads.items()}, state


@gradient_transform({"clipping": 0.01, "eps": 1e-3}, {"clipping": _POSITIVE, "eps": _POSITIVE})
def adaptive_clip(clipping: float = 0.01, eps: float = 1e-3) -> AdaptiveClip:
    """``adaptive_clip:clipping=0.01``: unit-wise adaptive gradient clipping."""
    return AdaptiveClip(clipping, eps)


@gradient_transform({})
def centralize() -> Centralize:
    """``centralize``: gradient centralization."""
    return Centralize()
