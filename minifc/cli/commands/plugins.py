"""``minifc plugins``: every plugin seen (loaded, blocked, failed) and the components it provides."""

from __future__ import annotations

import click

from ...registry.components import KINDS
from ...registry.core import default_registry
from .common import json_text

_PLURAL = {
    "layer": "layers",
    "loss": "losses",
    "update_rule": "update rules",
    "regularizer": "regularizers",
    "schedule": "schedules",
    "callback": "callbacks",
    "example": "examples",
    "gradient_transform": "gradient transforms",
    "sweep_preset": "sweep presets",
    "compare_preset": "compare presets",
}
_STATUS_COLOR = {"loaded": "green", "blocked": "yellow", "failed": "red"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def plugins(as_json: bool) -> None:
    """List plugins: name, version, status, module and the components per kind."""
    registry = default_registry()
    infos = registry.plugin_list()
    if as_json:
        payload = {
            "plugins": [info.as_dict() for info in infos],
            "components": {
                kind: {
                    c.name: {"plugin": c.plugin, "provider": c.provider, "description": c.description}
                    for c in registry.all_components()
                    if c.kind == kind
                }
                for kind in KINDS
            },
        }
        click.echo(json_text(payload))
        return
    for info in infos:
        dist = f"{info.distribution} {info.version or ''}".strip() if info.distribution else "in-process"
        status = click.style(info.status, fg=_STATUS_COLOR.get(info.status))
        click.echo(f"{info.name}  [{dist}]  {status}")
        click.echo(f"    module: {info.module or '?'}" + (f"  ({info.path})" if info.path else ""))
        if info.error:
            click.echo(f"    reason: {info.error}")
        for kind in KINDS:
            names = info.components.get(kind)
            if names:
                click.echo(f"    {_PLURAL.get(kind, kind)}: {', '.join(sorted(names))}")
        for kind in KINDS:
            names = info.skipped.get(kind)
            if names:
                click.echo(f"    not available ({_PLURAL.get(kind, kind)}): {', '.join(sorted(names))}")
        if info.commands:
            click.echo(f"    commands: {', '.join(info.commands)}")
