"""The checks of a run configuration that need the plugin registry or several keys at once (run by
:func:`minifc.config.train_config.resolve` on the complete configuration, in order): update rule and its
options, regularizers, gradient transforms, norm layer, callbacks, schedule, the learning rate within the
dtype's range, and precision with dtype. Each takes the configuration dict (JSON types) and may fill in
``lr``; it raises ConfigError, ValueError or KeyError with a message that names the key where needed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import optim
from ..errors import closest
from ..registry.core import default_registry
from ..registry.options import checked_options
from ..training.grad_transforms import build_transform
from ..validate import check_lr_range
from .config_checks import ConfigError, build_schedule

__all__ = ["CROSS_CHECKS"]


def _check_update_rule(config: dict[str, Any]) -> None:
    default_registry().component("update_rule", config["update_rule"])


def _check_rule_options(config: dict[str, Any]) -> None:
    """The options must be the rule's (when it declares them); sets lr to the rule's default when unset."""
    name, options = config["update_rule"], config["update_rule_options"]
    rule = default_registry().component("update_rule", name).obj
    declared = getattr(rule, "defaults", None)
    if config["lr"] is None:
        default = (declared or {}).get("learning_rate")
        config["lr"] = float(default) if isinstance(default, (int, float)) and not isinstance(default, bool) else None
    if "learning_rate" in options:
        raise ConfigError("give the learning rate as lr (--lr), not as an option of the update rule")
    if declared is not None:  # rules without declared defaults take any option (and check it themselves)
        known = sorted(set(declared) - {"learning_rate"})
        for key in options:
            if key not in known:
                guess = closest(key, known)
                hint = f"; did you mean {guess!r}?" if guess else ""
                raise ConfigError(
                    f"update rule {name!r} has no option {key!r}{hint} It takes {', '.join(known) or 'none'} (and lr)"
                )
    optim.check_config(rule, dict(options), f"update rule {name!r}")


def _check_regularizers(config: dict[str, Any]) -> None:
    for spec in config["regularizers"]:
        default_registry().component("regularizer", spec["name"])


def _check_callbacks(config: dict[str, Any]) -> None:
    for spec in config["callbacks"]:
        component = default_registry().component("callback", spec["name"])
        checked_options(component, {k: v for k, v in spec.items() if k != "name"})


def _check_transforms(config: dict[str, Any]) -> None:
    for spec in config["gradient_transforms"]:
        build_transform(dict(spec), default_registry().component)


def _check_norm(config: dict[str, Any]) -> None:
    if config["norm"] is not None:
        default_registry().component("layer", config["norm"])


def _check_lr_in_dtype(config: dict[str, Any]) -> None:
    if config["lr"] is not None:
        check_lr_range(config["lr"], 1.0, 0, getattr(torch, config["dtype"]), "the learning rate", "lr_decay")


def _check_decay_in_dtype(config: dict[str, Any]) -> None:
    if config["lr"] is not None:
        dtype = getattr(torch, config["dtype"])
        check_lr_range(config["lr"], config["lr_decay"], config["epochs"], dtype, "the learning rate", "lr_decay")


def _check_precision_with_dtype(config: dict[str, Any]) -> None:
    precision, dtype = config.get("precision"), config["dtype"]
    if precision is not None and (precision == "64") != (dtype == "float64"):
        raise ValueError(f"precision {precision!r} does not go with dtype {dtype!r} (--dtype float64 trains in 64)")


#: checks that need the plugin registry or several keys, each with the key its messages name
CROSS_CHECKS: tuple[tuple[str, Callable[[dict[str, Any]], object]], ...] = (
    ("update_rule", _check_update_rule),
    ("update_rule_options", _check_rule_options),
    ("regularizers", _check_regularizers),
    ("gradient_transforms", _check_transforms),
    ("norm", _check_norm),
    ("callbacks", _check_callbacks),
    ("schedule", build_schedule),
    ("lr", _check_lr_in_dtype),
    ("lr_decay", _check_decay_in_dtype),
    ("precision", _check_precision_with_dtype),
)
