"""Vanilla stochastic gradient descent: ``w -= learning_rate * dw``, in its three forms."""

from __future__ import annotations

import torch

from ..grad_mode import no_grad
from .rule import setup, shared_config, update_rule

__all__ = ["sgd"]


@update_rule({"learning_rate": 1e-2})
@no_grad
def sgd(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Vanilla stochastic gradient descent: ``w -= learning_rate * dw`` (w updated in place and returned)."""
    config = setup(sgd, config)
    w.add_(dw, alpha=-config["learning_rate"])
    return w, config


@no_grad
def _sgd_foreach(ws: list[torch.Tensor], dws: list[torch.Tensor], configs: list[dict]) -> bool:
    c = shared_config(sgd, configs)
    if c is None:
        return False
    torch._foreach_add_(ws, dws, alpha=-c["learning_rate"])
    return True


def _sgd_sink(w: torch.Tensor, config: dict) -> tuple[torch.Tensor, float, float, None]:
    return w, 1.0, -setup(sgd, config)["learning_rate"], None  # w = w - lr dw


sgd.foreach = _sgd_foreach
sgd.sink = _sgd_sink
