"""Built-in regularizers, in the plugin form ``reg(w, config) -> (penalty, dpenalty)``."""

from __future__ import annotations

import torch


def l2(w: torch.Tensor, config: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Classic L2: penalty ``reg * sum(w**2)`` (no 1/2 factor), gradient ``2 * reg * w``."""
    reg = config.get("reg", 0.0)
    with torch.no_grad():
        return reg * (w * w).sum(), w.mul(2 * reg)


#: l2's hyper-parameters and their defaults
L2_DEFAULTS = {"reg": 0.0}
