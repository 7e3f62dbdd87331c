"""The update rule ``adamax`` in minifc's classic form ``rule(w, dw, config=None) -> (next_w, config)``,
declared with ``@minifc.optim.update_rule`` (defaults, state keys, bounds): a Trainer then refuses an
unknown key or a value out of bounds (``beta1=1.5``) naming it."""

from __future__ import annotations

import torch

from minifc.optim import setup, state, update_rule
from minifc.validate import below


@update_rule(
    {"learning_rate": 2e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    ("m", "u", "t"),
    bounds={"beta1": below(1.0), "beta2": below(1.0)},  # [0, 1); a pair (low, high) would be closed
)
def adamax(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Adamax (Kingma & Ba, section 7.1): Adam with the infinity norm of the gradients.

    ``m = beta1 m + (1 - beta1) dw``; ``u = max(beta2 u, |dw| + epsilon)``;
    ``w -= learning_rate / (1 - beta1^t) * m / u``. w and dw have any shape, the same one; ``w`` is
    updated in place and returned; the state (``m``, ``u``, ``t``) lives in ``config``, created like w.
    """
    config = setup(adamax, config)  # the defaults above for missing keys
    lr, b1, b2 = config["learning_rate"], config["beta1"], config["beta2"]
    with torch.no_grad():
        m, u = state(config, "m", w), state(config, "u", w)  # zeros like w at the first step
        t = int(config.get("t", 0)) + 1
        m.lerp_(dw, 1 - b1)
        torch.maximum(u.mul_(b2), dw.abs().add_(config["epsilon"]), out=u)
        w.addcdiv_(m, u, value=-lr / (1 - b1**t))
    config.update(m=m, u=u, t=t)
    return w, config
