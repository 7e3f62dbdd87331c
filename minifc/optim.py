"""Update rules, one per function, with the classic signature ``rule(w, dw, config=None) -> (next_w, config)``.

``config`` holds the hyper-parameters and the per-parameter state; a missing hyper-parameter takes
the classic default. State tensors are created like ``w`` (same device and dtype). Every rule updates
``w`` in place and returns it as ``next_w`` (as the classic sgd does), so a training step allocates
nothing it does not need.

Each rule carries ``rule.defaults`` (hyper-parameters) and ``rule.state_keys`` so that callers can
validate a config before the first step. The built-in rules also carry ``rule.foreach(ws, dws, configs)``,
the same update of many parameters at once, and sgd and sgd_momentum carry ``rule.sink(w, config)``, the
update formed inside a Linear layer's weight-gradient product (see the end of this file).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .functional import no_grad

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
        # sqrt(v / c2) + eps = (sqrt(v) + eps sqrt(c2)) / sqrt(c2): the bias correction moves into the
        # scalars, which saves a pass over v
        c2 = math.sqrt(1 - b2**t)
        denom = v.sqrt().add_(config["epsilon"] * c2)
        w.addcdiv_(m, denom, value=-config["learning_rate"] * c2 / (1 - b1**t))
    config.update(m=m, v=v, t=t)
    return w, config


# -- many parameters at once ------------------------------------------------------------------------
# ``rule.foreach(ws, dws, configs) -> bool`` does to every (w, dw, config) what ``rule(w, dw, config)``
# does, with the same arithmetic in the same order: each line of the rule becomes one
# ``torch._foreach_*`` call over all parameters (no Python loop; on CUDA one kernel launch per line
# instead of one per parameter). It needs every config to hold the same hyper-parameters (and step
# count); otherwise it changes nothing and returns False, and the caller calls the rule per parameter.


def _shared_config(rule: UpdateRule, configs: list[dict], extra: tuple[str, ...] = ()) -> dict | None:
    """The hyper-parameters (defaults filled in) when every config has the same ones, else None."""
    for config in configs:
        _setup(rule, config)
    keys = (*rule.defaults, *extra)  # type: ignore[attr-defined]
    first = configs[0]
    if any(config.get(k) != first.get(k) for config in configs[1:] for k in keys):
        return None
    return first


def _states(configs: list[dict], key: str, ws: list[torch.Tensor]) -> list[torch.Tensor]:
    return [torch.zeros_like(w) if c.get(key) is None else c[key] for c, w in zip(configs, ws, strict=True)]


@no_grad
def _sgd_foreach(ws: list[torch.Tensor], dws: list[torch.Tensor], configs: list[dict]) -> bool:
    c = _shared_config(sgd, configs)
    if c is None:
        return False
    torch._foreach_add_(ws, dws, alpha=-c["learning_rate"])
    return True


@no_grad
def _sgd_momentum_foreach(ws: list[torch.Tensor], dws: list[torch.Tensor], configs: list[dict]) -> bool:
    c = _shared_config(sgd_momentum, configs)
    if c is None:
        return False
    vs = _states(configs, "velocity", ws)
    torch._foreach_mul_(vs, c["momentum"])
    torch._foreach_add_(vs, dws, alpha=-c["learning_rate"])
    torch._foreach_add_(ws, vs)
    for config, v in zip(configs, vs, strict=True):
        config["velocity"] = v
    return True


@no_grad
def _rmsprop_foreach(ws: list[torch.Tensor], dws: list[torch.Tensor], configs: list[dict]) -> bool:
    c = _shared_config(rmsprop, configs)
    if c is None:
        return False
    caches = _states(configs, "cache", ws)
    decay = c["decay_rate"]
    torch._foreach_mul_(caches, decay)
    torch._foreach_addcmul_(caches, dws, dws, value=1 - decay)
    denom = torch._foreach_sqrt(caches)
    torch._foreach_add_(denom, c["epsilon"])
    torch._foreach_addcdiv_(ws, dws, denom, value=-c["learning_rate"])
    for config, cache in zip(configs, caches, strict=True):
        config["cache"] = cache
    return True


@no_grad
def _adam_foreach(ws: list[torch.Tensor], dws: list[torch.Tensor], configs: list[dict]) -> bool:
    c = _shared_config(adam, configs, ("t",))
    if c is None:
        return False
    ms, vs = _states(configs, "m", ws), _states(configs, "v", ws)
    t = int(c.get("t", 0)) + 1
    b1, b2 = c["beta1"], c["beta2"]
    torch._foreach_lerp_(ms, dws, 1 - b1)
    torch._foreach_mul_(vs, b2)
    torch._foreach_addcmul_(vs, dws, dws, value=1 - b2)
    c2 = math.sqrt(1 - b2**t)  # as in adam(): the bias correction folded into the scalars
    denom = torch._foreach_sqrt(vs)
    torch._foreach_add_(denom, c["epsilon"] * c2)
    torch._foreach_addcdiv_(ws, ms, denom, value=-c["learning_rate"] * c2 / (1 - b1**t))
    for config, m, v in zip(configs, ms, vs, strict=True):
        config.update(m=m, v=v, t=t)
    return True


sgd.foreach = _sgd_foreach  # type: ignore[attr-defined]
sgd_momentum.foreach = _sgd_momentum_foreach  # type: ignore[attr-defined]
rmsprop.foreach = _rmsprop_foreach  # type: ignore[attr-defined]
adam.foreach = _adam_foreach  # type: ignore[attr-defined]


# -- inside the weight-gradient product -----------------------------------------------------------
# ``rule.sink(w, config) -> (target, beta, alpha, finish)`` for rules that are affine in the gradient:
# the update is ``target = beta * target + alpha * dw`` and then ``finish()`` (None: nothing). A trainer
# hands (target, beta, alpha) to the weight's :attr:`minifc.nn.Parameter.sink`, and a Linear layer forms
# it in its dw product (``addmm_``), so no dw tensor is written and read back. Same math as the rule
# (rounding aside: dw is never rounded on its own).


def _sgd_sink(w: torch.Tensor, config: dict) -> tuple[torch.Tensor, float, float, None]:
    c = _setup(sgd, config)
    return w, 1.0, -c["learning_rate"], None  # w = w - lr dw


def _sgd_momentum_sink(w: torch.Tensor, config: dict) -> tuple[torch.Tensor, float, float, Callable[[], object]]:
    c = _setup(sgd_momentum, config)
    v = c.get("velocity")
    if v is None:
        v = c["velocity"] = torch.zeros_like(w)
    return v, c["momentum"], -c["learning_rate"], lambda: w.add_(v)  # v = mu v - lr dw; then w += v


sgd.sink = _sgd_sink  # type: ignore[attr-defined]
sgd_momentum.sink = _sgd_momentum_sink  # type: ignore[attr-defined]
