"""Update rules in minifc's classic form ``rule(w, dw, config=None) -> (next_w, config)``.

Every rule fills missing hyper-parameters from ``rule.defaults``, updates ``w`` in place under
``torch.no_grad()``, returns it as ``next_w`` and keeps its state in ``config`` (tensors created
with ``torch.zeros_like(w)``: the dtype and device of w). w and dw have any shape, the same one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Rule = Callable[..., tuple[torch.Tensor, dict]]


def _declare(defaults: dict[str, float], state_keys: tuple[str, ...]) -> Callable[[Rule], Rule]:
    def mark(rule: Rule) -> Rule:
        rule.defaults = defaults  # type: ignore[attr-defined]
        rule.state_keys = state_keys  # type: ignore[attr-defined]
        return rule

    return mark


def _config(rule: Rule, config: dict | None) -> dict:
    config = {} if config is None else config
    for key, value in rule.defaults.items():  # type: ignore[attr-defined]
        config.setdefault(key, value)
    return config


def _state(config: dict, key: str, w: torch.Tensor) -> torch.Tensor:
    value = config.get(key)
    return torch.zeros_like(w) if value is None else value


@_declare({"learning_rate": 1e-2, "momentum": 0.9}, ("velocity",))
def nesterov(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Nesterov momentum, the classic (CS231n) form:

    ``v_prev = v``; ``v = momentum * v - learning_rate * dw``; ``w += -momentum * v_prev + (1 + momentum) * v``.
    """
    config = _config(nesterov, config)
    mu, lr = config["momentum"], config["learning_rate"]
    with torch.no_grad():
        v = _state(config, "velocity", w)
        w.add_(v, alpha=-mu)
        v.mul_(mu).add_(dw, alpha=-lr)
        w.add_(v, alpha=1 + mu)
    config["velocity"] = v
    return w, config


@_declare(
    {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 1e-2},
    ("m", "v", "t"),
)
def adamw(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Adam with decoupled weight decay (Loshchilov & Hutter): first ``w *= 1 - learning_rate *
    weight_decay``, then the Adam step with bias correction (``t`` incremented before use)."""
    config = _config(adamw, config)
    lr, b1, b2 = config["learning_rate"], config["beta1"], config["beta2"]
    with torch.no_grad():
        m, v = _state(config, "m", w), _state(config, "v", w)
        t = int(config.get("t", 0)) + 1
        w.mul_(1 - lr * config["weight_decay"])
        m.lerp_(dw, 1 - b1)  # = b1 m + (1 - b1) dw, one pass
        v.mul_(b2).addcmul_(dw, dw, value=1 - b2)
        # sqrt(v / c2) + eps = (sqrt(v) + eps sqrt(c2)) / sqrt(c2): the bias correction goes into the scalars
        c2 = math.sqrt(1 - b2**t)
        denom = v.sqrt().add_(config["epsilon"] * c2)
        w.addcdiv_(m, denom, value=-lr * c2 / (1 - b1**t))
    config.update(m=m, v=v, t=t)
    return w, config


@_declare({"learning_rate": 1e-4, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0}, ("m",))
def lion(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Lion (Chen et al. 2023): ``c = beta1 m + (1 - beta1) dw``;
    ``w -= learning_rate * (sign(c) + weight_decay * w)``; ``m = beta2 m + (1 - beta2) dw``."""
    config = _config(lion, config)
    lr, b1, b2 = config["learning_rate"], config["beta1"], config["beta2"]
    with torch.no_grad():
        m = _state(config, "m", w)
        step = (m * b1).add_(dw, alpha=1 - b1).sign_()
        w.mul_(1 - lr * config["weight_decay"]).add_(step, alpha=-lr)
        m.mul_(b2).add_(dw, alpha=1 - b2)
    config["m"] = m
    return w, config


@_declare({"learning_rate": 1e-2, "epsilon": 1e-8}, ("cache",))
def adagrad(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """AdaGrad: ``cache += dw**2``; ``w -= learning_rate * dw / (sqrt(cache) + epsilon)``."""
    config = _config(adagrad, config)
    with torch.no_grad():
        cache = _state(config, "cache", w)
        cache.addcmul_(dw, dw)
        w.addcdiv_(dw, cache.sqrt().add_(config["epsilon"]), value=-config["learning_rate"])
    config["cache"] = cache
    return w, config
