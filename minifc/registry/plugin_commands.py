"""Plugin subcommands: the ``minifc_register_commands`` hook and the guard around each command it adds.

A plugin whose hook raises is failed (its commands and components removed); a command that raises
when it runs ends with one ``Error:`` line naming the command and its plugin, not a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

import click
import pluggy

from .components import PluginInfo
from .plugin_hooks import args_for, naming_interrupts


class Registry(Protocol):
    """What adding plugin commands needs of a :class:`minifc.registry.core.Registry` (a Protocol here, so
    this module does not import the registry that imports it)."""

    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo]

    def load(self) -> None: ...

    def fail_late(self, plugin: Any, name: str, reason: str, exc: BaseException | None) -> None: ...

__all__ = ["add_plugin_commands", "guard_command"]


GUARDED = "_minifc_guarded"  # marks a command callback already wrapped by _guarded

def add_plugin_commands(registry: Registry, cli: Any) -> None:
    """Let every loaded plugin of ``registry`` add click subcommands to ``cli``; a failure fails that plugin only."""
    registry.load()
    for impl in registry.pm.hook.minifc_register_commands.get_hookimpls():
        name = registry.pm.get_name(impl.plugin) or "?"
        info = registry.plugins.get(name)
        before = set(getattr(cli, "commands", {}))
        try:
            with naming_interrupts(name, info.distribution if info else None, "loading"):
                impl.function(**args_for(impl, cli=cli))
        except (Exception, SystemExit) as e:  # noqa: BLE001 - a hook that raises (or exits) fails its plugin only
            for added in set(getattr(cli, "commands", {})) - before:
                cli.commands.pop(added, None)
            registry.fail_late(impl.plugin, name, f"minifc_register_commands: {type(e).__name__}: {e}", e)
            continue
        added = sorted(set(getattr(cli, "commands", {})) - before)
        who = f"plugin {name!r}" + (f" ({info.distribution})" if info and info.distribution else "")
        for command in added:
            guard_command(cli.commands[command], who)
        if info is not None:
            info.commands = added


def guard_command(command: click.Command, who: str) -> None:
    """Make ``command`` (and a group's subcommands) end with one click error naming ``who`` when its
    callback raises anything but click's own exceptions (usage errors, exits, aborts) or Ctrl-C."""
    callback = command.callback
    if callback is not None and not getattr(callback, GUARDED, False):
        command.callback = _guarded(callback, command.name or "?", who)
    for sub in getattr(command, "commands", {}).values():
        guard_command(sub, who)


def _guarded(callback: Callable[..., Any], name: str, who: str) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as e:  # noqa: BLE001 - a plugin's bug, reported as one line
            raise click.ClickException(
                f"the command {name!r} of {who} failed: {type(e).__name__}: {e}"
            ) from None

    setattr(run, GUARDED, True)  # noqa: B010 - a marker on a function object
    return run
