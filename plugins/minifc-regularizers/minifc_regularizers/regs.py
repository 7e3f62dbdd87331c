"""The regularizers, in minifc's plugin forms (no autograd: each computes its own gradient).

- stage "loss": ``reg(w, config) -> (penalty, dpenalty)``: penalty a 0-dim tensor, dpenalty like w;
  w is not modified.
- stage "update": ``reg(w, config) -> next_w``, applied after the update rule; w is updated in place
  and returned. ``config["learning_rate"]`` is the current learning rate.

Missing hyper-parameters take the function's ``defaults``.
"""

from __future__ import annotations

import torch


def _get(config: dict | None, defaults: dict, key: str) -> float:
    return (config or {}).get(key, defaults[key])


def l1(w: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """L1 (lasso): penalty ``reg * sum(|w|)``, gradient ``reg * sign(w)`` (0 at w = 0)."""
    reg = _get(config, l1.defaults, "reg")
    with torch.no_grad():
        return w.abs().sum().mul_(reg), torch.sign(w).mul_(reg)


l1.defaults = {"reg": 1e-4}  # type: ignore[attr-defined]


def elastic_net(w: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Elastic net: ``reg * (l1_ratio * sum(|w|) + (1 - l1_ratio) * sum(w**2))`` (the L2 part without
    a 1/2, like minifc's l2); gradient ``reg * (l1_ratio * sign(w) + 2 (1 - l1_ratio) w)``."""
    reg = _get(config, elastic_net.defaults, "reg")
    ratio = _get(config, elastic_net.defaults, "l1_ratio")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"elastic_net: l1_ratio must be in [0, 1], got {ratio}")
    with torch.no_grad():
        penalty = (w.abs().sum() * ratio + (w * w).sum() * (1 - ratio)) * reg
        grad = torch.sign(w).mul_(ratio).add_(w, alpha=2 * (1 - ratio)).mul_(reg)
    return penalty, grad


elastic_net.defaults = {"reg": 1e-4, "l1_ratio": 0.5}  # type: ignore[attr-defined]


def max_norm(w: torch.Tensor, config: dict | None = None) -> torch.Tensor:
    """Max-norm constraint: rescale each unit's incoming weights to an L2 norm of at most ``max_norm``.

    minifc's weights are (D, M) (``x @ W``), so a unit is a column: the norm runs over every
    dimension but the last. A 1-D w (a bias, with ``applies_to="all"``) is capped element-wise.
    """
    limit = _get(config, max_norm.defaults, "max_norm")
    if limit <= 0:
        raise ValueError(f"max_norm: max_norm must be > 0, got {limit}")
    with torch.no_grad():
        if w.dim() < 2:
            return w.clamp_(-limit, limit)
        dims = tuple(range(w.dim() - 1))
        norms = w.square().sum(dim=dims, keepdim=True).sqrt_()
        scale = (limit / norms.clamp_min(limit)).to(w.dtype)
        return w.mul_(scale)


max_norm.defaults = {"max_norm": 3.0}  # type: ignore[attr-defined]


def weight_decay(w: torch.Tensor, config: dict | None = None) -> torch.Tensor:
    """Decoupled weight decay, after the update: ``w *= 1 - learning_rate * weight_decay``.

    ``config["learning_rate"]`` (the current one, after any decay schedule) is required.
    """
    config = config or {}
    if "learning_rate" not in config:
        raise KeyError("weight_decay: config must hold the current learning_rate (stage 'update')")
    decay = _get(config, weight_decay.defaults, "weight_decay")
    with torch.no_grad():
        return w.mul_(1 - config["learning_rate"] * decay)


weight_decay.defaults = {"weight_decay": 1e-2}  # type: ignore[attr-defined]
