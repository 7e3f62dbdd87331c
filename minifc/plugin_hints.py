"""Why a component name is not registered here, when a known plugin package provides it.

``plugin_index.json`` (shipped with minifc) lists the components of the plugin packages published
beside minifc. A lookup of a name that is not registered consults it, so that the error can say
"provided by the plugin package X, which is not installed / blocked / failed to load" instead of
only suggesting a similar built-in name.
"""

from __future__ import annotations

import importlib.metadata as md
import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["provider_hint"]


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
