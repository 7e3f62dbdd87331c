"""Writes docs/cli-reference.md: every built-in ``minifc`` command's ``--help``, from the click app itself.

    python docs/cli_reference.py          # rewrite the page (run it after changing a command or an option)
    python docs/cli_reference.py --check  # exit 1 if the page is not current (tests/unit/test_docs.py checks it too)

The help is rendered with a fixed width and a registry of the built-ins only, so the page does not depend on
the terminal or on the plugins installed (``minifc example --help`` lists the registered examples).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from minifc.cli import COMMANDS, main
from minifc.registry.core import Registry
from minifc.testing import use_registry

PAGE = Path(__file__).resolve().parent / "cli-reference.md"
WIDTH = 100

HEADER = """# CLI reference

Every built-in command's `--help`, as `minifc COMMAND --help` prints it (plugins add commands of their
own: `minifc --help` lists them). This page is generated from the command line itself by
`python docs/cli_reference.py`; `tests/unit/test_docs.py` fails when it is not current. The
[Command line and configuration](command-line.md) page explains the commands and their files.
"""


def _context(command: click.Command, name: str, parent: click.Context | None = None) -> click.Context:
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    return click.Context(command, info_name=name, parent=parent, **settings)


def _group_help(ctx: click.Context) -> str:
    """``minifc --help`` with the built-in commands only (a plugin's commands depend on the installation)."""
    formatter = ctx.make_formatter()
    main.format_usage(ctx, formatter)
    main.format_help_text(ctx, formatter)
    click.Command.format_options(main, ctx, formatter)  # the group's options, without its command list
    rows = [(name, main.get_command(ctx, name).get_short_help_str(WIDTH)) for name in sorted(COMMANDS)]
    with formatter.section("Commands"):
        formatter.write_dl(rows)
    return formatter.getvalue().rstrip()


def render() -> str:
    """The page's Markdown: ``minifc --help``, then each built-in command's help, in name order."""
    with use_registry(Registry(entry_points=False)):
        ctx = _context(main, "minifc")
        parts = [HEADER, "## minifc\n", "```text\n" + _group_help(ctx) + "\n```\n"]
        for name in sorted(COMMANDS):
            command = main.get_command(ctx, name)
            help_text = command.get_help(_context(command, name, ctx)).rstrip()
            parts += [f"## minifc {name}\n", "```text\n" + help_text + "\n```\n"]
    return "\n".join(parts)


def main_(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if PAGE.read_text() != text:
            print(f"{PAGE} is not current: run python docs/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main_(sys.argv[1:]))
