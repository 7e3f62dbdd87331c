"""Every extension point of minifc, documented in one place: the page a plugin author reads.

A plugin is a module (or any object) with functions named like the hooks below, marked with
``@minifc.hookimpl``. Installed packages declare it in the ``minifc.plugins`` entry-point group::

    [options.entry_points]
    minifc.plugins =
        myplugin = minifc_myplugin.plugin

Each ``minifc_register_*`` hook is called once, lazily, on the first lookup of a component, with a
``register(name, obj, **metadata)`` callback. minifc records which plugin (and which distribution and
version) registered each name. Metadata every kind understands:

- ``override=True``: replace a component already registered under that name (e.g. a built-in),
  on purpose. Without it, two different objects under one name is an error naming both providers.
- ``description="..."``: one line shown by ``minifc plugins``.

The built-in components (linear, relu, dropout, svm, softmax, sgd, sgd_momentum, rmsprop, adam,
l2) are registered through these same hooks by ``minifc.builtins``. An implementation may take
fewer arguments than its spec, so hooks can gain arguments without breaking plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "minifc"
ENTRY_POINT_GROUP = "minifc.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@hookspec
def minifc_register_layers(register: Register) -> None:
    """Register layer factories: ``register("batchnorm1d", BatchNorm1d)``.

    ``obj`` is called with keyword arguments and returns a :class:`minifc.nn.Module` with
    ``forward(x)``, ``backward(dout) -> dx`` (adding into each ``Parameter.grad``), ``parameters()``,
    ``train()``/``eval()``. Model builders pass ``in_features=<width of the input>`` when the factory
    accepts it; a layer that changes the width exposes ``out_features``.
    """


@hookspec
def minifc_register_losses(register: Register) -> None:
    """Register losses: ``obj(scores, y) -> (loss, dscores)``.

    scores (N, C) floating point, y (N,) integer labels; loss a 0-dim tensor averaged over N, dscores
    (N, C) its gradient.
    """


@hookspec
def minifc_register_update_rules(register: Register) -> None:
    """Register update rules: ``obj(w, dw, config=None) -> (next_w, config)``, the classic form.

    ``config`` holds hyper-parameters (missing ones take the rule's defaults) and per-parameter
    state; state tensors must be created like ``w``. Optional attributes ``obj.defaults`` (dict of
    hyper-parameters) and ``obj.state_keys`` let minifc reject unknown ``optim_config`` keys and bad
    values before training. The learning rate must be under the key ``learning_rate``.
    """


@hookspec
def minifc_register_regularizers(register: Register) -> None:
    """Register regularizers. Two forms, chosen by the ``stage`` metadata:

    - ``stage="loss"`` (default): ``obj(w, config) -> (penalty, dpenalty)``; the scalar penalty is
      added to the loss and dpenalty (w's shape) to dw before the update.
    - ``stage="update"``: ``obj(w, config) -> next_w``, applied after the update rule (max-norm
      constraints, decoupled weight decay). ``config`` also holds the current ``learning_rate``.

    ``applies_to="weights"`` (default: parameters with two or more dimensions) or ``"all"``.
    ``defaults={...}`` declares the hyper-parameters (so unknown keys are rejected).
    """


@hookspec
def minifc_register_commands(cli: Any) -> None:
    """Add subcommands to the ``minifc`` click group: ``@cli.command() def mycmd(): ...``."""


def _public() -> dict[str, Any]:
    return {k: v for k, v in globals().items() if k.startswith("minifc_register_")}


HOOKS = _public()
