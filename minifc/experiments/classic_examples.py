"""The classic CIFAR-10 experiments as a plugin: the one table of their names and descriptions, and
the hook that registers them. The registry loads this module by name, among its default plugins."""

from __future__ import annotations

from ..registry.hookspecs import Register, hookimpl
from . import examples
from .examples import Example

__all__ = ["CLASSIC_EXAMPLES", "minifc_register_examples"]

#: name -> (function, description); the classic experiments take no --set settings
CLASSIC_EXAMPLES: dict[str, tuple[Example, str]] = {
    "two-layer": (examples.two_layer, "TwoLayerNet + Solver, 20 epochs: above 50% validation"),
    "overfit": (examples.overfit, "3- and 5-layer nets reach 100% training accuracy on 50 images"),
    "sgd-momentum": (examples.sgd_momentum, "six-layer net, sgd vs sgd_momentum"),
    "update-rules": (examples.update_rules, "six-layer net, sgd, sgd_momentum, rmsprop and adam"),
    "dropout": (examples.dropout, "one hidden layer with and without dropout 0.5, adam"),
}


@hookimpl
def minifc_register_examples(register: Register) -> None:
    for name, (fn, description) in CLASSIC_EXAMPLES.items():
        register(name, fn, description=description, settings=())
