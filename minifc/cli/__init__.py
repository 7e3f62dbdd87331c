"""The ``minifc`` command: a click group whose subcommands live in :mod:`minifc.cli.commands`.

Plugins add their own subcommands through the ``minifc_register_commands`` hook. A plugin failure
that reaches the command line (strict mode) ends with one ``Error:`` line naming the plugin.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from .. import __version__
from ..registry.components import PluginError
from ..registry.core import default_registry

#: subcommand name -> "module:attribute" under minifc.cli.commands, imported only when used
COMMANDS: dict[str, str] = {
    "train": "train:train",
    "evaluate": "evaluate:evaluate",
    "example": "example:example",
    "plugins": "plugins:plugins",
    "check": "check:check",
    "export": "export:export",
    "sweep": "sweep:sweep",
    "compare": "compare:compare",
}


class LazyGroup(click.Group):
    """Imports a subcommand's module only when it runs (``minifc --help`` stays fast)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            return getattr(importlib.import_module(f"minifc.cli.commands.{module}"), attr)
        self._load_plugin_commands()
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PluginError as e:  # strict mode (MINIFC_STRICT_PLUGINS), or a value of it that cannot be read
            raise click.ClickException(str(e)) from None

    def _load_plugin_commands(self) -> None:
        if getattr(self, "_plugins_loaded", False):
            return
        self._plugins_loaded = True
        try:
            default_registry().call_commands_hook(self)
        except PluginError as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minifc")
def main() -> None:
    """minifc: fully-connected networks with explicit forward and backward passes."""


if __name__ == "__main__":  # pragma: no cover
    main()
