"""Update rules, one per file, with the classic signature ``rule(w, dw, config=None) -> (next_w, config)``.

``config`` holds the hyper-parameters and the per-parameter state; a missing hyper-parameter takes
the classic default. State tensors are created like ``w`` (same device and dtype, contiguous). Every
rule updates ``w`` in place and returns it as ``next_w`` (as the classic sgd does). Rules are declared
with :func:`update_rule` (defaults, state keys, bounds), which makes them :class:`UpdateRule` values
still called the classic way; each file holds the rule's per-parameter form beside its foreach form
(many parameters at once), its one-kernel ``fused`` form where torch has one, and, for rules affine in
the gradient, its sink form (formed inside a Linear's weight-gradient product).
:func:`decoupled_weight_decay` composes weight decay with any rule. Gradient transforms (clipping and more,
run before the rule) are declared with :func:`gradient_transform` (:mod:`minifc.optim.transform`).
"""

from __future__ import annotations

from .adam import adam
from .rmsprop import rmsprop
from .rule import RuleFunction, UpdateRule, check_config, setup, shared_config, state, update_rule
from .sgd import sgd
from .sgd_momentum import sgd_momentum
from .transform import GradientTransform, TransformFactory, gradient_transform
from .weight_decay import decoupled_weight_decay

__all__ = [
    "sgd",
    "sgd_momentum",
    "rmsprop",
    "adam",
    "decoupled_weight_decay",
    "update_rule",
    "setup",
    "state",
    "shared_config",
    "check_config",
    "UpdateRule",
    "RuleFunction",
    "gradient_transform",
    "GradientTransform",
    "TransformFactory",
]
