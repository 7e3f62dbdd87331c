"""Why a component name is not registered here, when a known plugin package provides it.

``plugin_index.json`` (shipped with minifc) lists the components of the plugin packages published
beside minifc, in the repository's ``plugins/`` folder (no package index serves them). A lookup of a
name that is not registered consults it, so that the error can say "provided by the plugin package
X, which is not installed (pip install ./plugins/X)" instead of only suggesting a similar built-in
name. A name that an installed plugin registered before it failed
is named with that plugin and its failure.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from .components import PluginInfo

__all__ = ["failed_plugin_message", "install_command", "provider_hint"]

_INDEX = Path(__file__).with_name("plugin_index.json")


@cache
def _load() -> dict[str, Any]:
    try:
        data = json.loads(_INDEX.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _index() -> dict[str, dict[str, list[str]]]:
    packages = _load().get("packages", {})
    return packages if isinstance(packages, dict) else {}


def install_command(dist: str, source_root: Path | None = None, cwd: Path | None = None) -> str:
    """``pip install <folder>`` for the plugin package ``dist``.

    The folder is the real one when the repository's ``plugins/`` lies beside the minifc package
    (a source checkout; ``source_root`` defaults to the folder above the package): relative to
    ``cwd`` (default: the current folder) when inside it, else absolute. Otherwise it is the
    folder relative to a clone of the minifc repository.
    """
    folder = str(_load().get("folder", "plugins"))
    root = Path(__file__).resolve().parent.parent if source_root is None else source_root
    real = root / folder / dist
    if (real / "setup.cfg").is_file() or (real / "pyproject.toml").is_file():
        here = Path.cwd() if cwd is None else cwd
        try:
            shown = "./" + real.resolve().relative_to(here.resolve()).as_posix()
        except ValueError:
            shown = os.fspath(real.resolve())
        return f"pip install {shown}"
    return f"pip install ./{folder}/{dist} in a clone of the minifc repository"


def provider_hint(kind: str, name: str, plugins: dict[str, PluginInfo]) -> str:
    """'' or a sentence naming the package that provides ``name`` and why it is not available."""
    for dist, kinds in _index().items():
        if name not in kinds.get(kind, []):
            continue
        state = next((p for p in plugins.values() if (p.distribution or "").replace("_", "-") == dist), None)
        provided = f" It is provided by the plugin package {dist}, which is installed but"
        if state is not None and state.status == "blocked":  # its error says by what: "blocked by MINIFC_..."
            return f"{provided} {state.error or 'blocked'}."
        if state is not None and state.status == "failed":
            return f"{provided} failed to load: {state.error}."
        try:
            md.distribution(dist)
        except md.PackageNotFoundError:
            return f" It is provided by the plugin package {dist}, which is not installed ({install_command(dist)})."
        return f" It is provided by the plugin package {dist}, which is installed but not loaded here."
    return ""


def failed_plugin_message(kind: str, name: str, plugins: dict[str, PluginInfo]) -> str:
    """'' or why ``name`` is missing: a plugin that registered it failed (named, with its reason)."""
    for info in plugins.values():
        if info.status == "failed" and name in info.skipped.get(kind, []):
            where = f"{info.distribution} {info.version or ''}".strip() if info.distribution else "in-process"
            return (
                f"{kind.replace('_', ' ')} {name!r} is not available: the plugin {info.name!r} ({where}) that "
                f"registers it failed to load: {info.error}"
            )
    return ""
