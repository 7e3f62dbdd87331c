"""Update rules as typed values: the per-parameter function, its defaults, state keys, bounds and forms.

An update rule has the classic signature ``rule(w, dw, config=None) -> (next_w, config)``. Declared
with :func:`update_rule`, it is an :class:`UpdateRule`, still called that way, which also carries

- ``rule.defaults``: hyper-parameters and their classic defaults (a missing one takes its default);
- ``rule.state_keys``: the per-parameter state it keeps in ``config`` (e.g. ``m``, ``v``, ``t``);
- ``rule.bounds``: ``{key: (low, high)}`` or ``{key: Interval(...)}`` in the convention of
  :mod:`minifc.validate` (a pair is closed, an open end is declared: ``below(1.0)`` is ``[0, 1)``);
  an undeclared number must be ``>= 0``;
- ``rule.foreach``: None, or ``foreach(ws, dws, configs) -> bool``, the same update of many
  parameters at once (returns False, changing nothing, when the configs differ);
- ``rule.fused``: None, or ``fused(ws, dws, configs) -> bool`` like ``foreach`` but in one kernel
  (torch's fused optimizer kernels): the same update rounded differently, so a Trainer uses it only
  when allowed to (``fused=True``);
- ``rule.sink``: None, or ``sink(w, config) -> (target, beta, alpha, finish)`` for rules affine in the
  gradient: the update is ``target = beta * target + alpha * dw`` then ``finish()`` (None: nothing),
  which a Linear layer can form inside its weight-gradient product (a Trainer's
  ``update_in_product=True``, see :mod:`minifc.training.update`).

A form is attached by assignment after the rule (``sgd.foreach = _sgd_foreach``). Trainers read these
fields; a plain function without them works too (unchecked, per parameter).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from ..validate import NON_NEGATIVE, Bound, check_bounds, check_in

__all__ = [
    "UpdateRule",
    "RuleFunction",
    "ForeachForm",
    "SinkForm",
    "update_rule",
    "setup",
    "state",
    "check_config",
    "shared_config",
]

#: the classic per-parameter form ``rule(w, dw, config=None) -> (next_w, config)``
RuleFunction = Callable[..., tuple[torch.Tensor, dict]]
#: ``foreach(ws, dws, configs) -> bool`` (also the one-kernel ``fused`` form)
ForeachForm = Callable[[list[torch.Tensor], list[torch.Tensor], list[dict]], bool]
#: ``sink(w, config) -> (target, beta, alpha, finish)``
SinkForm = Callable[[torch.Tensor, dict], tuple[torch.Tensor, float, float, Callable[[], object] | None]]


@dataclass(eq=False, repr=False)
class UpdateRule:
    """A declared update rule, called as ``rule(w, dw, config=None) -> (next_w, config)``.

    ``fn`` is the per-parameter function; ``defaults``, ``state_keys`` and ``bounds`` what
    :func:`update_rule` declares; ``foreach``, ``fused`` and ``sink`` its optional other forms (see the
    module's docstring). ``__name__`` and ``__doc__`` are ``fn``'s.
    """

    fn: RuleFunction
    defaults: dict[str, float]
    state_keys: tuple[str, ...] = ()
    bounds: dict[str, Bound] = field(default_factory=dict)
    foreach: ForeachForm | None = None
    fused: ForeachForm | None = None
    sink: SinkForm | None = None
    known_keys: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        functools.update_wrapper(self, self.fn)
        self.defaults = dict(self.defaults)
        self.state_keys = tuple(self.state_keys)
        self.bounds = dict(self.bounds)
        self.known_keys = frozenset(self.defaults) | frozenset(self.state_keys)
        check_bounds(self.bounds, getattr(self.fn, "__name__", "update rule"))  # a malformed bound: refused here

    def __call__(self, w: torch.Tensor, dw: torch.Tensor, config: dict | None = None) -> tuple[torch.Tensor, dict]:
        return self.fn(w, dw, config)

    def __repr__(self) -> str:
        forms = [f for f in ("foreach", "fused", "sink") if getattr(self, f) is not None]
        return f"<update rule {getattr(self, '__name__', '?')} defaults={self.defaults} forms={forms}>"


def update_rule(
    defaults: dict[str, float],
    state_keys: tuple[str, ...] = (),
    bounds: Mapping[str, Bound] | None = None,
) -> Callable[[RuleFunction], UpdateRule]:
    """Decorator declaring a rule's defaults, state keys and bounds (default: every number >= 0); it
    returns the :class:`UpdateRule`, called like the function."""

    def declare(fn: RuleFunction) -> UpdateRule:
        return UpdateRule(fn, dict(defaults), tuple(state_keys), dict(bounds or {}))

    return declare


_NUMBER_TYPES = (float, int)


def setup(rule: UpdateRule | RuleFunction, config: dict | None) -> dict:
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
    for key, value in getattr(rule, "defaults", {}).items():
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


def check_config(rule: UpdateRule | RuleFunction, config: dict, who: str = "") -> None:
    """Raise ValueError naming the key for a key the rule does not know, a value that is not a finite
    number, or one outside the rule's bounds (:mod:`minifc.validate`'s convention). Rules without
    ``defaults`` are not checked."""
    name = who or getattr(rule, "__name__", "update rule")
    defaults = getattr(rule, "defaults", None)
    if defaults is None:
        return
    known = set(defaults) | set(getattr(rule, "state_keys", ()))
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"{name}: unknown optim_config key(s) {unknown}; it takes {sorted(known)}")
    intervals = check_bounds(getattr(rule, "bounds", None), name)
    for key, value in config.items():
        if key in defaults:
            check_in(value, f"{name}: {key}", intervals.get(key, NON_NEGATIVE))


def shared_config(rule: UpdateRule, configs: list[dict], extra: tuple[str, ...] = ()) -> dict | None:
    """For a foreach form: the hyper-parameters (defaults filled in) when every config has the same
    ones (and the same ``extra`` entries, e.g. the step count), else None."""
    for config in configs:
        setup(rule, config)
    keys = (*rule.defaults, *extra)
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


