"""Decoupled weight decay (Loshchilov & Hutter), composed with any declared update rule."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..functional import no_grad
from .rule import UpdateRule, setup, shared_config, update_rule

__all__ = ["decoupled_weight_decay"]


def decoupled_weight_decay(rule: UpdateRule, weight_decay: float = 1e-2, name: str | None = None) -> UpdateRule:
    """``rule`` preceded by ``w *= 1 - learning_rate * weight_decay`` (a new hyper-parameter
    ``weight_decay``, default ``weight_decay``). ``decoupled_weight_decay(adam)`` is AdamW. The
    composed rule has a foreach (fused) form when ``rule`` has one."""
    defaults = {**rule.defaults, "weight_decay": weight_decay}  # type: ignore[attr-defined]
    bounds = getattr(rule, "bounds", {})

    @update_rule(defaults, rule.state_keys, bounds)  # type: ignore[attr-defined]
    @no_grad
    def decayed(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
        config = setup(decayed, config)
        w.mul_(1 - config["learning_rate"] * config["weight_decay"])
        decay = config.pop("weight_decay")  # a key the inner rule does not know
        try:
            return rule(w, dw, config)
        finally:
            config["weight_decay"] = decay

    decayed.__name__ = decayed.__qualname__ = name or f"{rule.__name__}w"
    decayed.__doc__ = f"{rule.__name__} with decoupled weight decay: first ``w *= 1 - learning_rate * weight_decay``."
    decayed.foreach = _decay_first(decayed, rule.foreach)  # type: ignore[attr-defined]
    decayed.fused = _decay_first(decayed, getattr(rule, "fused", None))  # type: ignore[attr-defined]
    return decayed


def _decay_first(decayed: UpdateRule, inner: Callable[..., bool] | None) -> Callable[..., bool] | None:
    """The batched form (foreach or fused) of ``decayed`` built on ``inner``, the rule's own."""
    if inner is None:
        return None

    @no_grad
    def batched(ws: list[torch.Tensor], dws: list[torch.Tensor], configs: list[dict]) -> bool:
        c = shared_config(decayed, configs, ("t",))
        if c is None:
            return False
        torch._foreach_mul_(ws, 1 - c["learning_rate"] * c["weight_decay"])
        decays = [config.pop("weight_decay") for config in configs]  # a key the inner rule does not know
        try:
            return inner(ws, dws, configs)  # the same configs agreed on every key the rule reads
        finally:
            for config, decay in zip(configs, decays, strict=True):
                config["weight_decay"] = decay

    return batched
