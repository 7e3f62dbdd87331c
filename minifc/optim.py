"""Update rules, one per function, with the classic signature ``rule(w, dw, config=None) -> (next_w, config)``.

``config`` holds the hyper-parameters and the per-parameter state; a missing hyper-parameter takes
the classic default. State tensors are created like ``w`` (same device and dtype). Every rule updates
``w`` in place and returns it as ``next_w`` (as the classic sgd does), so a training step allocates
nothing it does not need.

Each rule carries ``rule.defaults`` (hyper-parameters) and ``rule.state_keys`` so that callers can
validate a config before the first step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam", "check_config", "UpdateRule"]

UpdateRule = Callable[..., tuple[torch.Tensor, dict]]


def _declare(defaults: dict[str, float], state_keys: tuple[str, ...] = ()) -> Callable[[UpdateRule], UpdateRule]:
    def mark(rule: UpdateRule) -> UpdateRule:
        rule.defaults = defaults  # type: ignore[attr-defined]
        rule.state_keys = state_keys  # type: ignore[attr-defined]
        return rule

    return mark


def _setup(rule: UpdateRule, config: dict | None) -> dict:
    config = {} if config is None else config
    for key, value in rule.defaults.items():  # type: ignore[attr-defined]
        config.setdefault(key, value)
    return config


def check_config(rule: UpdateRule, config: dict, who: str = "") -> None:
    """Raise ValueError for a config key the rule does not know or a learning rate that is not a
    finite number >= 0. Rules without ``defaults`` are not checked."""
    name = who or getattr(rule, "__name__", "update rule")
    defaults = getattr(rule, "defaults", None)
    if defaults is None:
        return
    known = set(defaults) | set(getattr(rule, "state_keys", ()))
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"{name}: unknown optim_config key(s) {unknown}; it takes {sorted(known)}")
    for key, value in config.items():
        if key in defaults:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name}: {key} must be a number, got {value!r}")
            if math.isnan(value) or math.isinf(value) or value < 0:
                raise ValueError(f"{name}: {key} must be a finite number >= 0, got {value}")


@_declare({"learning_rate": 1e-2})
def sgd(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Vanilla stochastic gradient descent: ``w -= learning_rate * dw``."""
    config = _setup(sgd, config)
    with torch.no_grad():
        w.add_(dw, alpha=-config["learning_rate"])
    return w, config


@_declare({"learning_rate": 1e-2, "momentum": 0.9}, ("velocity",))
def sgd_momentum(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """SGD with momentum: ``v = momentum * v - learning_rate * dw``; ``w += v``.

    (The classic convention; torch.optim.SGD scales the learning rate after the momentum instead.)
    """
    config = _setup(sgd_momentum, config)
    with torch.no_grad():
        v = config.get("velocity")
        if v is None:
            v = torch.zeros_like(w)
        v.mul_(config["momentum"]).add_(dw, alpha=-config["learning_rate"])
        w.add_(v)
    config["velocity"] = v
    return w, config


@_declare({"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8}, ("cache",))
def rmsprop(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """RMSProp: ``cache = decay_rate * cache + (1 - decay_rate) * dw**2``;
    ``w -= learning_rate * dw / (sqrt(cache) + epsilon)``."""
    config = _setup(rmsprop, config)
    with torch.no_grad():
        cache = config.get("cache")
        if cache is None:
            cache = torch.zeros_like(w)
        decay = config["decay_rate"]
        cache.mul_(decay).addcmul_(dw, dw, value=1 - decay)
        w.addcdiv_(dw, cache.sqrt().add_(config["epsilon"]), value=-config["learning_rate"])
    config["cache"] = cache
    return w, config


@_declare({"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, ("m", "v", "t"))
def adam(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Adam with bias correction; ``t`` is incremented before it is used:

    ``m = beta1 m + (1 - beta1) dw``; ``v = beta2 v + (1 - beta2) dw**2``;
    ``w -= learning_rate * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + epsilon)``.
    """
    config = _setup(adam, config)
    with torch.no_grad():
        m, v = config.get("m"), config.get("v")
        if m is None:
            m = torch.zeros_like(w)
        if v is None:
            v = torch.zeros_like(w)
        t = int(config.get("t", 0)) + 1
        b1, b2 = config["beta1"], config["beta2"]
        m.lerp_(dw, 1 - b1)
        v.mul_(b2).addcmul_(dw, dw, value=1 - b2)
        denom = (v / (1 - b2**t)).sqrt_().add_(config["epsilon"])
        w.addcdiv_(m, denom, value=-config["learning_rate"] / (1 - b1**t))
    config.update(m=m, v=v, t=t)
    return w, config
