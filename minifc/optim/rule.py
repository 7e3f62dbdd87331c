"""Declaring an update rule: its defaults, state keys, valid ranges, and its other forms.

An update rule has the classic signature ``rule(w, dw, config=None) -> (next_w, config)``. Declared
with :func:`update_rule`, it also carries

- ``rule.defaults``: hyper-parameters and their classic defaults (a missing one takes its default);
- ``rule.state_keys``: the per-parameter state it keeps in ``config`` (e.g. ``m``, ``v``, ``t``);
- ``rule.bounds``: ``{key: (low, high)}``, each value must satisfy ``low <= value < high``;
- ``rule.foreach``: None, or ``foreach(ws, dws, configs) -> bool``, the same update of many
  parameters at once (returns False, changing nothing, when the configs differ);
- ``rule.fused``: None, or ``fused(ws, dws, configs) -> bool`` like ``foreach`` but in one kernel
  (torch's fused optimizer kernels): the same update rounded differently, so a Trainer uses it only
  when allowed to (``fuse_updates``);
- ``rule.sink``: None, or ``sink(w, config) -> (target, beta, alpha, finish)`` for rules affine in the
  gradient: the update is ``target = beta * target + alpha * dw`` then ``finish()`` (None: nothing),
  which a Linear layer can form inside its weight-gradient product (see :mod:`minifc.training.update`).

Trainers read these attributes; a plain function without them works too (unchecked, per parameter).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["UpdateRule", "update_rule", "setup", "state", "check_config", "shared_config"]

UpdateRule = Callable[..., tuple[torch.Tensor, dict]]


def update_rule(
    defaults: dict[str, float],
    state_keys: tuple[str, ...] = (),
    bounds: dict[str, tuple[float, float]] | None = None,
) -> Callable[[UpdateRule], UpdateRule]:
    """Decorator declaring a rule's defaults, state keys and bounds (default: every number >= 0)."""

    def declare(rule: UpdateRule) -> UpdateRule:
        rule.defaults = dict(defaults)  # type: ignore[attr-defined]
        rule.state_keys = tuple(state_keys)  # type: ignore[attr-defined]
        rule.known_keys = frozenset(defaults) | frozenset(state_keys)  # type: ignore[attr-defined]
        rule.bounds = dict(bounds or {})  # type: ignore[attr-defined]
        rule.foreach = None  # type: ignore[attr-defined]
        rule.fused = None  # type: ignore[attr-defined]
        rule.sink = None  # type: ignore[attr-defined]
        return rule

    return declare


_NUMBER_TYPES = (float, int)


def setup(rule: UpdateRule, config: dict | None) -> dict:
    """``config`` (a new dict when None) with the rule's missing hyper-parameters set to their defaults.

    Called by every rule at every step, so it checks cheaply: a config that is not a dict (TypeError),
    and, for a rule declared with :func:`update_rule`, a key the rule does not know or a learning rate
    that is not a number >= 0 (ValueError from :func:`check_config`, naming the rule and the key); the
    other values are checked in full when a default had to be filled in (a config's first use)."""
    if config is None:
        config = {}
    elif not isinstance(config, dict):
        name = getattr(rule, "__name__", "update rule")
        raise TypeError(f"{name}: config must be a dict of hyper-parameters (or None), got {type(config).__name__}")
    filled = False
    for key, value in rule.defaults.items():  # type: ignore[attr-defined]
        if key not in config:
            config[key] = value
            filled = True
    known = getattr(rule, "known_keys", None)
    if known is None:  # defaults set by hand: nothing declared to check against
        return config
    lr = config.get("learning_rate", 0.0)
    if (
        filled
        or (len(config) != len(known) and not config.keys() <= known)  # equal: every key known, the usual case
        or type(lr) not in _NUMBER_TYPES
        or not 0.0 <= lr < math.inf
    ):
        check_config(rule, config)
    return config


def state(config: dict, key: str, like: torch.Tensor) -> torch.Tensor:
    """The state tensor ``config[key]``, or zeros shaped like ``like`` (its dtype and device) at the first step."""
    value = config.get(key)
    return torch.zeros_like(like, memory_format=torch.contiguous_format) if value is None else value


def check_config(rule: UpdateRule, config: dict, who: str = "") -> None:
    """Raise ValueError naming the key for a key the rule does not know, a value that is not a finite
    number, or one outside the rule's bounds. Rules without ``defaults`` are not checked."""
    name = who or getattr(rule, "__name__", "update rule")
    defaults = getattr(rule, "defaults", None)
    if defaults is None:
        return
    known = set(defaults) | set(getattr(rule, "state_keys", ()))
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"{name}: unknown optim_config key(s) {unknown}; it takes {sorted(known)}")
    bounds: dict[str, tuple[float, float]] = getattr(rule, "bounds", {})
    for key, value in config.items():
        if key not in defaults:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name}: {key} must be a finite number, got {value!r}")
        low, high = bounds.get(key, (0.0, math.inf))
        if not low <= value < high:
            where = f">= {low}" if high == math.inf else f"in [{low}, {high})"
            raise ValueError(f"{name}: {key} must be {where}, got {value}")


def shared_config(rule: UpdateRule, configs: list[dict], extra: tuple[str, ...] = ()) -> dict | None:
    """For a foreach form: the hyper-parameters (defaults filled in) when every config has the same
    ones (and the same ``extra`` entries, e.g. the step count), else None."""
    for config in configs:
        setup(rule, config)
    keys = (*rule.defaults, *extra)  # type: ignore[attr-defined]
    first = configs[0]
    if any(config.get(k) != first.get(k) for config in configs[1:] for k in keys):
        return None
    return first


def refuse_half(rule_name: str, w: torch.Tensor) -> None:
    """Adaptive rules keep squared gradients and a 1e-8 epsilon, which float16 cannot hold."""
    if w.dtype in (torch.float16, torch.bfloat16):
        raise TypeError(
            f"{rule_name}: {w.dtype} parameters are not supported (epsilon and squared gradients underflow); "
            "train in float32"
        )


