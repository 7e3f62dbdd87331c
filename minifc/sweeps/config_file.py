"""A sweep's configuration file: a ``minifc train`` configuration (TOML) with a ``[search]`` table of rules."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..config.train_config import ConfigError, check_values, load_config_file
from .errors import SweepError

__all__ = ["read_sweep_config"]


def read_sweep_config(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(train values, search rules)`` of ``path``: a TOML file whose ``[search]`` table holds the rules and whose
    other keys are train keys (checked as ``minifc train --config`` checks them; a relative ``data`` folder is
    relative to the file), or a JSON train configuration (a trial's ``config.json``: no rules)."""
    path = Path(path)
    if path.suffix.lower() != ".toml":
        return load_config_file(path), {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise SweepError(f"{path}: reading TOML needs Python 3.11 or the tomli package") from None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as e:
        raise SweepError(f"cannot read configuration file {path}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SweepError(f"{path} is not valid TOML: {e}") from None
    search = raw.pop("search", {})
    if not isinstance(search, dict):
        raise SweepError(f"{path}: 'search' must be a table: [search] then KEY = \"DIST(ARGS)\" lines")
    try:
        values = check_values(raw, str(path), file=True)
    except ConfigError as e:
        raise SweepError(str(e)) from None
    if values.get("data") and not os.path.isabs(values["data"]):
        values["data"] = os.path.normpath(os.path.join(os.path.abspath(path.parent), values["data"]))
    return values, search
