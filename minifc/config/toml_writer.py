"""Writing a configuration as TOML (the standard library reads TOML but does not write it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def to_toml(config: Mapping[str, Any], keys: Mapping[str, Any]) -> str:
    """The configuration as TOML that :func:`load_config_file` reads back to the same values."""
    lines = ["# minifc train configuration: minifc train --config FILE (command-line options override it)"]
    section = None
    for key, spec in keys.items():
        if key not in config:
            continue
        if spec.section != section:
            section = spec.section
            lines += ["", f"# {section}"]
        value = config[key]
        if value is None:
            lines.append(f"# {key} is not set: {spec.unset}")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    """One value as TOML (a number, string, bool, list or inline table)."""
    return _toml_value(value)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # inf and nan never get here: every number is checked to be finite
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return f"{{ {items} }}" if items else "{}"
    if isinstance(value, Iterable):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else _toml_string(key)


def _toml_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}
    out = []
    for c in text:
        if c in escapes:
            out.append(escapes[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'
