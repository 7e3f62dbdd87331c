"""Decoupled weight decay (Loshchilov & Hutter), composed with any declared update rule."""

from __future__ import annotations

import torch

from ..grad_mode import no_grad
from .rule import ForeachForm, UpdateRule, setup, shared_config, update_rule

__all__ = ["decoupled_weight_decay"]


def decoupled_weight_decay(rule: UpdateRule, weight_decay: float = 1e-2, name: str | None = None) -> UpdateRule:
    """``rule`` preceded by ``w *= 1 - learning_rate * weight_decay`` (a new hyper-parameter
    ``weight_decay``, default ``weight_decay``). ``decoupled_weight_decay(adam)`` is AdamW. The
    composed rule has a foreach (fused) form when ``rule`` has one."""
    defaults = {**rule.defaults, "weight_decay": weight_decay}
    inner = rule.fn if isinstance(rule, UpdateRule) else rule  # the function itself: one call less per step

    @update_rule(defaults, rule.state_keys, getattr(rule, "bounds", None))
    @no_grad
    def decayed(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
        config = setup(decayed, config)
        w.mul_(1 - config["learning_rate"] * config["weight_decay"])
        decay = config.pop("weight_decay")  # a key the inner rule does not know
        try:
            return inner(w, dw, config)
        finally:
            config["weight_decay"] = decay

    rule_name = getattr(rule, "__name__", "rule")
    decayed.__name__ = decayed.__qualname__ = name or f"{rule_name}w"  # type: ignore[attr-defined]
    decayed.__doc__ = f"{rule_name} with decoupled weight decay: first ``w *= 1 - learning_rate * weight_decay``."
    decayed.foreach = _decay_first(decayed, getattr(rule, "foreach", None))
    decayed.fused = _decay_first(decayed, getattr(rule, "fused", None))
    return decayed


def _decay_first(decayed: UpdateRule, inner: ForeachForm | None) -> ForeachForm | None:
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
