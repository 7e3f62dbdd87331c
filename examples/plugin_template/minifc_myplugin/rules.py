"""The update rule ``adamax`` in minifc's classic form ``rule(w, dw, config=None) -> (next_w, config)``."""

from __future__ import annotations

import torch


def adamax(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Adamax (Kingma & Ba, section 7.1): Adam with the infinity norm of the gradients.

    ``m = beta1 m + (1 - beta1) dw``; ``u = max(beta2 u, |dw| + epsilon)``;
    ``w -= learning_rate / (1 - beta1^t) * m / u``. w and dw have any shape, the same one; ``w`` is
    updated in place and returned; the state (``m``, ``u``, ``t``) lives in ``config``, created like w.
    """
    config = {} if config is None else config
    for key, value in adamax.defaults.items():
        config.setdefault(key, value)
    lr, b1, b2 = config["learning_rate"], config["beta1"], config["beta2"]
    with torch.no_grad():
        m = config.get("m")
        u = config.get("u")
        m = torch.zeros_like(w) if m is None else m
        u = torch.zeros_like(w) if u is None else u
        t = int(config.get("t", 0)) + 1
        m.lerp_(dw, 1 - b1)
        torch.maximum(u.mul_(b2), dw.abs().add_(config["epsilon"]), out=u)
        w.addcdiv_(m, u, value=-lr / (1 - b1**t))
    config.update(m=m, u=u, t=t)
    return w, config


adamax.defaults = {"learning_rate": 2e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}  # type: ignore[attr-defined]
adamax.state_keys = ("m", "u", "t")  # type: ignore[attr-defined]
