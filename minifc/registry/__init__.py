"""The component registry: the tables (:mod:`.core`, :mod:`.components`), layer specs, hook specs, plugin
loading (:mod:`.plugin_env`, :mod:`.plugin_hooks`, :mod:`.plugin_commands`), hints and the built-ins.

``from minifc.registry import default_registry`` (the path before 0.3) still works and warns: the names
live in :mod:`minifc.registry.core`."""

from __future__ import annotations

import importlib
import warnings


def __getattr__(name: str) -> object:
    if name.startswith("__"):
        raise AttributeError(name)
    core = importlib.import_module("minifc.registry.core")
    if not hasattr(core, name):
        raise AttributeError(f"module 'minifc.registry' has no attribute {name!r}")
    warnings.warn(
        f"minifc.registry.{name} moved to minifc.registry.core.{name}", DeprecationWarning, stacklevel=2
    )
    return getattr(core, name)
