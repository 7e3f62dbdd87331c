"""SGD with momentum, the classic convention, in its three forms."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..grad_mode import no_grad
from ..validate import below
from .rule import setup, shared_config, state, update_rule

__all__ = ["sgd_momentum"]


@update_rule({"learning_rate": 1e-2, "momentum": 0.9}, ("velocity",), bounds={"momentum": below(1.0)})
@no_grad
def sgd_momentum(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """SGD with momentum: ``v = momentum * v - learning_rate * dw``; ``w += v``.

    (The classic convention; torch.optim.SGD scales the learning rate after the momentum instead.)
    """
    config = setup(sgd_momentum, config)
    v = state(config, "velocity", w)
    v.mul_(config["momentum"]).add_(dw, alpha=-config["learning_rate"])
    w.add_(v)
    config["velocity"] = v
    return w, config


@no_grad
def _sgd_momentum_foreach(ws: list[torch.Tensor], dws: list[torch.Tensor], configs: list[dict]) -> bool:
    c = shared_config(sgd_momentum, configs)
    if c is None:
        return False
    vs = [state(config, "velocity", w) for config, w in zip(configs, ws, strict=True)]
    torch._foreach_mul_(vs, c["momentum"])
    torch._foreach_add_(vs, dws, alpha=-c["learning_rate"])
    torch._foreach_add_(ws, vs)
    for config, v in zip(configs, vs, strict=True):
        config["velocity"] = v
    return True


def _sgd_momentum_sink(w: torch.Tensor, config: dict) -> tuple[torch.Tensor, float, float, Callable[[], object]]:
    c = setup(sgd_momentum, config)
    v = c["velocity"] = state(c, "velocity", w)
    return v, c["momentum"], -c["learning_rate"], lambda: w.add_(v)  # v = mu v - lr dw; then w += v


sgd_momentum.foreach = _sgd_momentum_foreach
sgd_momentum.sink = _sgd_momentum_sink
