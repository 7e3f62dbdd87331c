"""RMSProp, in its per-parameter and foreach forms."""

from __future__ import annotations

import math

import torch

from ..grad_mode import no_grad
from ..validate import below
from .rule import refuse_half, setup, shared_config, state, update_rule

__all__ = ["rmsprop"]


@update_rule(
    {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    ("cache",),
    bounds={"decay_rate": below(1.0), "epsilon": (0.0, math.inf)},
)
@no_grad
def rmsprop(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """RMSProp: ``cache = decay_rate * cache + (1 - decay_rate) * dw**2``;
    ``w -= learning_rate * dw / (sqrt(cache) + epsilon)``."""
    config = setup(rmsprop, config)
    refuse_half("rmsprop", w)
    cache = state(config, "cache", w)
    decay = config["decay_rate"]
    cache.mul_(decay).addcmul_(dw, dw, value=1 - decay)
    w.addcdiv_(dw, cache.sqrt().add_(config["epsilon"]), value=-config["learning_rate"])
    config["cache"] = cache
    return w, config


@no_grad
def _rmsprop_foreach(ws: list[torch.Tensor], dws: list[torch.Tensor], configs: list[dict]) -> bool:
    c = shared_config(rmsprop, configs)
    if c is None:
        return False
    caches = [state(config, "cache", w) for config, w in zip(configs, ws, strict=True)]
    decay = c["decay_rate"]
    torch._foreach_mul_(caches, decay)
    torch._foreach_addcmul_(caches, dws, dws, value=1 - decay)
    denom = torch._foreach_sqrt(caches)
    torch._foreach_add_(denom, c["epsilon"])
    torch._foreach_addcdiv_(ws, dws, denom, value=-c["learning_rate"])
    for config, cache in zip(configs, caches, strict=True):
        config["cache"] = cache
    return True


rmsprop.foreach = _rmsprop_foreach
