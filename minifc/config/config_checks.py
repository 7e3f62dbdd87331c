"""Checks for configuration values: each takes ``(value, where)`` and returns the normalized value or
raises :class:`ConfigError` saying where (file and key, or option), what was expected and what was found."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import MinifcError
from ..registry.core import default_registry
from ..registry.specs import parse_spec
from ..training.named_kinds import resolve_schedule
from ..validate import Interval


class ConfigError(MinifcError, ValueError):
    """A configuration file or value is unreadable, of the wrong type, out of range or unknown."""


def describe(value: Any) -> str:
    """``'half' (a string)``: a value and its type, for messages."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
    return f"{value!r} ({kinds.get(type(value), type(value).__name__)})"


def bad_value(where: str, expected: str, value: Any) -> ConfigError:
    """``<where> must be <expected>, got <value> (<type>)``."""
    return ConfigError(f"{where} must be {expected}, got {describe(value)}")


def number(
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> Callable[[Any, str], Any]:
    """A check for a finite number (not a bool) within the bounds (open or closed, as a
    :class:`minifc.validate.Interval`); ``optional``: None passes."""
    interval = Interval(
        -math.inf if low is None else low, math.inf if high is None else high, low_open, high_open
    )
    expected = "a finite number"
    if low is not None and high is not None:
        expected = f"a number {interval}"
    elif low is not None or high is not None:
        expected = f"a finite number {interval}"

    def parse(value: Any, where: str) -> float | None:
        if value is None and optional:
            return None
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value not in interval:
            raise bad_value(where, expected, value)
        return float(value)

    return parse


#: the largest seed torch.manual_seed takes
MAX_SEED = 2**64 - 1


def integer(low: int | None = None, optional: bool = False, high: int | None = None) -> Callable[[Any, str], Any]:
    """A check for an integer (not a bool) >= ``low`` and <= ``high``; ``optional``: None passes."""
    bounds = ([f">= {low}"] if low is not None else []) + ([f"<= {high}"] if high is not None else [])
    expected = " ".join(["an integer", " and ".join(bounds)]).strip()

    def parse(value: Any, where: str) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
            raise bad_value(where, expected, value)
        if high is not None and value > high:
            raise bad_value(where, expected, value)
        return value

    return parse


def text(optional: bool = False, choices: tuple[str, ...] = ()) -> Callable[[Any, str], Any]:
    """A check for a non-empty string, one of ``choices`` when given; ``optional``: None or "" gives None."""
    expected = f"one of {', '.join(map(repr, choices))}" if choices else "a non-empty string"

    def parse(value: Any, where: str) -> str | None:
        if optional and (value is None or value == ""):
            return None
        if not isinstance(value, str) or not value.strip() or (choices and value not in choices):
            raise bad_value(where, expected, value)
        return value.strip()

    return parse


def folder_path(value: Any, where: str) -> str | None:
    """A folder path as given, ``~`` expanded and normalized (``a/./b/`` is ``a/b``): a relative path stays
    relative (to the current folder on the command line; :func:`~minifc.config.train_config.load_config_file`
    makes a file's relative to the file's folder); None or "" gives None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad_value(where, "a folder path (a string)", value)
    return os.path.normpath(os.path.expanduser(value))


def hidden_widths(value: Any, where: str) -> list[int]:
    """Hidden widths: ``[512, 512]``, ``"512,512"`` or ``512`` -> ``[512, 512]`` / ``[512]``."""
    expected = 'a list of positive integers such as [512, 512] (or the string "512,512")'
    if isinstance(value, str):
        try:
            value = [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise bad_value(where, expected, value) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value or not all(_positive_int(v) for v in value):
        raise bad_value(where, expected, value)
    return list(value)


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool))


def option_table(value: Any, where: str) -> dict[str, Any]:
    """A table of option = scalar value (an update rule's options); None gives {}."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and _scalar(v) for k, v in value.items()):
        raise bad_value(where, "a table of option = value (numbers, strings or booleans)", value)
    return dict(value)


def component_spec(value: Any, where: str, what: str) -> dict[str, Any]:
    """``"name:k=v,..."`` or ``{name = "...", k = v}`` -> ``{"name": ..., k: v}``."""
    expected = f'{what} as "name:key=value,..." or a table {{ name = "...", key = value }}'
    if not isinstance(value, (str, dict)):
        raise bad_value(where, expected, value)
    try:
        name, config = parse_spec(value)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from None
    if not all(isinstance(k, str) and _scalar(v) for k, v in config.items()):
        raise bad_value(where, expected, value)
    return {"name": name, **config}


def schedule_spec(value: Any, where: str) -> dict[str, Any] | None:
    """A schedule by name (``"warmup_cosine:warmup_fraction=0.1"`` or a table) -> ``{"name": ..., **options}``
    (the name and options are checked against the registry by :func:`build_schedule`)."""
    if value is None or value == "":
        return None
    return component_spec(value, where, "a schedule")


def regularizer_list(value: Any, where: str) -> list[dict[str, Any]]:
    """Regularizers (specs or tables, one or a list) -> ``[{"name": ..., **options}, ...]``."""
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise bad_value(where, 'a list of regularizers ("name:key=value" strings or tables)', value)
    return [component_spec(v, f"{where}[{i}]", "a regularizer") for i, v in enumerate(value)]


def transform_list(value: Any, where: str) -> list[dict[str, Any]]:
    """Gradient transforms (specs or tables, one or a list, in the order they run) -> ``[{"name": ..., **options}]``."""
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise bad_value(where, 'a list of gradient transforms ("name:key=value" strings or tables)', value)
    return [component_spec(v, f"{where}[{i}]", "a gradient transform") for i, v in enumerate(value)]


def add_clip_norm(given: dict[str, Any], from_file: Mapping[str, Any], max_norm: float | None) -> None:
    """``--clip-grad-norm X``: ``clip_norm:max_norm=X`` after the other gradient transforms (the command line's,
    else the file's)."""
    if max_norm is None:
        return
    number(0.0, low_open=True)(max_norm, "--clip-grad-norm")
    chain = given.get("gradient_transforms", from_file.get("gradient_transforms", []))
    given["gradient_transforms"] = [*chain, {"name": "clip_norm", "max_norm": max_norm}]

#: the built-in schedules (plugins add others: ``minifc plugins`` lists them)
SCHEDULES = ("constant", "warmup_cosine", "step", "exponential")


def build_schedule(config: Mapping[str, Any]) -> Callable[[int, int], float] | None:
    """The schedule function a resolved configuration's ``schedule`` names (a registered schedule, its
    options checked, built for ``epochs``), or None."""
    try:
        return resolve_schedule(config.get("schedule"), default_registry().component, int(config.get("epochs") or 1))
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None


def callback_list(value: Any, where: str) -> list[dict[str, Any]]:
    """Callbacks (specs or tables, one or a list) -> ``[{"name": ..., **options}, ...]``."""
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise bad_value(where, 'a list of callbacks ("name:key=value" strings or tables)', value)
    return [component_spec(v, f"{where}[{i}]", "a callback") for i, v in enumerate(value)]
