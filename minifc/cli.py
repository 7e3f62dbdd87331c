"""The ``minifc`` command: a click group whose subcommands live in :mod:`minifc.commands`.

Plugins add their own subcommands through the ``minifc_register_commands`` hook.
"""

from __future__ import annotations

import importlib

import click

from . import __version__

#: subcommand name -> "module:attribute" under minifc.commands, imported only when used
COMMANDS: dict[str, str] = {
    "train": "train:train",
    "evaluate": "evaluate:evaluate",
    "example": "example:example",
    "plugins": "plugins:plugins",
    "check": "check:check",
}


class LazyGroup(click.Group):
    """Imports a subcommand's module only when it runs (``minifc --help`` stays fast)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            return getattr(importlib.import_module(f"minifc.commands.{module}"), attr)
        self._load_plugin_commands()
        return super().get_command(ctx, name)

    def _load_plugin_commands(self) -> None:
        if getattr(self, "_plugins_loaded", False):
            return
        self._plugins_loaded = True
        from .registry import default_registry

        default_registry().call_commands_hook(self)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="minifc")
def main() -> None:
    """minifc: fully-connected networks with explicit forward and backward passes."""


if __name__ == "__main__":  # pragma: no cover
    main()
