"""How the registry checks and calls a plugin's hook functions: which ``minifc_*`` functions are
acceptable, the arguments a hook asks for, and naming the plugin when Ctrl-C interrupts it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pluggy

from . import hookspecs

__all__ = ["hook_problem", "args_for", "naming_interrupts"]


def hook_problem(pm: pluggy.PluginManager, plugin: Any) -> str | None:
    """Why ``plugin``'s hook functions cannot be registered (unmarked or unknown ``minifc_*`` hooks), or None."""
    functions = [attr for attr in dir(plugin) if attr.startswith("minifc_") and callable(getattr(plugin, attr, None))]
    unmarked = [attr for attr in hookspecs.HOOKS if attr in functions and pm.parse_hookimpl_opts(plugin, attr) is None]
    if unmarked:
        return f"{', '.join(unmarked)} not marked with @minifc.hookimpl"
    unknown = [attr for attr in functions if attr not in hookspecs.HOOKS]
    if unknown:
        return f"unknown hook(s) {unknown}; known: {sorted(hookspecs.HOOKS)}"
    return None


def args_for(impl: Any, **available: Any) -> dict[str, Any]:
    """The subset of ``available`` that the hook implementation asks for."""
    return {name: available[name] for name in impl.argnames if name in available}


@contextmanager
def naming_interrupts(name: str, where: str | None, doing: str) -> Iterator[None]:
    """Ctrl-C still aborts, but first says on stderr which plugin was being imported or loaded."""
    try:
        yield
    except KeyboardInterrupt:
        print(f"minifc: interrupted while {doing} the plugin {name!r} ({where or 'in-process'})", file=sys.stderr)
        raise
