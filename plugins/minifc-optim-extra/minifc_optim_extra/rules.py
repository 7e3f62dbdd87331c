"""Update rules in minifc's classic form ``rule(w, dw, config=None) -> (next_w, config)``.

Each is declared with :func:`minifc.optim.update_rule` (defaults, state keys, bounds); missing
hyper-parameters take their defaults, ``w`` is updated in place under ``torch.no_grad()`` and
returned as ``next_w``, and state lives in ``config`` (created like ``w``: its dtype and device).
Weight decay is composed with :func:`minifc.optim.decoupled_weight_decay`, not written again.
"""

from __future__ import annotations

import torch

from minifc.grad_mode import no_grad
from minifc.optim import adam, decoupled_weight_decay, setup, state, update_rule
from minifc.validate import below  # bounds: a pair is closed, below(1.0) is [0, 1)

__all__ = ["nesterov", "adamw", "lion", "adagrad"]


@update_rule({"learning_rate": 1e-2, "momentum": 0.9}, ("velocity",), bounds={"momentum": below(1.0)})
@no_grad
def nesterov(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Nesterov momentum, the classic (CS231n) form:

    ``v_prev = v``; ``v = momentum * v - learning_rate * dw``; ``w += -momentum * v_prev + (1 + momentum) * v``.
    """
    config = setup(nesterov, config)
    mu, lr = config["momentum"], config["learning_rate"]
    v = state(config, "velocity", w)
    w.add_(v, alpha=-mu)
    v.mul_(mu).add_(dw, alpha=-lr)
    w.add_(v, alpha=1 + mu)
    config["velocity"] = v
    return w, config


adamw = decoupled_weight_decay(adam, weight_decay=1e-2, name="adamw")


@update_rule(
    {"learning_rate": 1e-4, "beta1": 0.9, "beta2": 0.99}, ("m",), bounds={"beta1": below(1.0), "beta2": below(1.0)}
)
@no_grad
def lion_step(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Lion without weight decay (Chen et al. 2023): ``c = beta1 m + (1 - beta1) dw``;
    ``w -= learning_rate * sign(c)``; ``m = beta2 m + (1 - beta2) dw``."""
    config = setup(lion_step, config)
    lr, b1, b2 = config["learning_rate"], config["beta1"], config["beta2"]
    m = state(config, "m", w)
    w.add_((m * b1).add_(dw, alpha=1 - b1).sign_(), alpha=-lr)
    m.mul_(b2).add_(dw, alpha=1 - b2)
    config["m"] = m
    return w, config


lion = decoupled_weight_decay(lion_step, weight_decay=0.0, name="lion")


@update_rule({"learning_rate": 1e-2, "epsilon": 1e-8}, ("cache",), bounds={"epsilon": (0.0, float("inf"))})
@no_grad
def adagrad(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """AdaGrad: ``cache += dw**2``; ``w -= learning_rate * dw / (sqrt(cache) + epsilon)``."""
    config = setup(adagrad, config)
    cache = state(config, "cache", w)
    cache.addcmul_(dw, dw)
    w.addcdiv_(dw, cache.sqrt().add_(config["epsilon"]), value=-config["learning_rate"])
    config["cache"] = cache
    return w, config
