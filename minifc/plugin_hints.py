"""Why a component name is not registered here, when a known plugin package provides it.

``plugin_index.json`` (shipped with minifc) lists the components of the plugin packages published
beside minifc. A lookup of a name that is not registered consults it, so that the error can say
"provided by the plugin package X, which is not installed / blocked / failed to load" instead of
only suggesting a similar built-in name. A name that an installed plugin registered before it failed
is named with that plugin and its failure.
"""

from __future__ import annotations

import importlib.metadata as md
import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["provider_hint", "failed_plugin_message"]


@cache
def _index() -> dict[str, dict[str, list[str]]]:
    try:
        return json.loads((Path(__file__).with_name("plugin_index.json")).read_text())["packages"]
    except (OSError, ValueError, KeyError):
        return {}


def provider_hint(kind: str, name: str, plugins: dict[str, Any]) -> str:
    """'' or a sentence naming the package that provides ``name`` and why it is not available."""
    for dist, kinds in _index().items():
        if name not in kinds.get(kind, []):
            continue
        state = next((p for p in plugins.values() if (p.distribution or "").replace("_", "-") == dist), None)
        if state is not None and state.status in ("blocked", "failed"):
            why = f"{state.status} ({state.reason})"
            return f" It is provided by the plugin package {dist}, which is installed but {why}."
        try:
            md.distribution(dist)
        except md.PackageNotFoundError:
            return f" It is provided by the plugin package {dist}, which is not installed (pip install {dist})."
        return f" It is provided by the plugin package {dist}, which is installed but not loaded here."
    return ""


def failed_plugin_message(kind: str, name: str, plugins: dict[str, Any]) -> str:
    """'' or why ``name`` is missing: a plugin that registered it failed (named, with its reason)."""
    for info in plugins.values():
        if info.status == "failed" and name in info.skipped.get(kind, []):
            where = f"{info.distribution} {info.version or ''}".strip() if info.distribution else "in-process"
            return (
                f"{kind.replace('_', ' ')} {name!r} is not available: the plugin {info.name!r} ({where}) that "
                f"registers it failed to load: {info.error}"
            )
    return ""
