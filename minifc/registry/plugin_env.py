"""The environment variables that steer plugin loading: ``MINIFC_STRICT_PLUGINS`` (a boolean),
``MINIFC_DISABLE_PLUGINS`` and ``MINIFC_PLUGINS`` (comma-separated names)."""

from __future__ import annotations

import os

from .components import PluginError

__all__ = ["STRICT_VAR", "env_list", "strict_plugins"]

STRICT_VAR = "MINIFC_STRICT_PLUGINS"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def env_list(var: str) -> set[str] | None:
    """The comma-separated names in ``var`` (blanks dropped), or None when it is unset."""
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {item.strip() for item in raw.split(",") if item.strip()}


def strict_plugins() -> bool:
    """Whether ``MINIFC_STRICT_PLUGINS`` asks for strict mode: 1/true/yes/on (any case) or 0/false/no/off/''
    (or unset); any other value is refused (:class:`PluginError` naming the variable)."""
    raw = os.environ.get(STRICT_VAR, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise PluginError(
        f"the environment variable {STRICT_VAR} is {raw!r}: give 1, true, yes or on for strict mode, "
        f"or 0, false, no, off or nothing for the default"
    )
