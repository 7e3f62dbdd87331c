"""The options of ``minifc train`` as one configuration: read from a TOML or JSON file, checked, merged
with the command line, written beside the run (``config.json``) and compared on ``--resume``.

A configuration is flat: one key per ``train`` option (``--batch-size`` is ``batch_size``). Every key
is checked with a message naming the file (or the option), the key and the expected type; unknown
keys are refused with the closest known key.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MinifcError, closest
from ..registry.components import PluginError
from ..training.precision import PRECISIONS, REDUCE_PRECISIONS
from . import toml_writer
from .config_checks import (
    MAX_SEED,
    SCHEDULES,
    ConfigError,
    bad_value,
    build_schedule,
    callback_list,
    component_spec,
    describe,
    folder_path,
    hidden_widths,
    integer,
    number,
    option_table,
    regularizer_list,
    schedule_spec,
    text,
    transform_list,
)
from .cross_checks import CROSS_CHECKS

__all__ = [
    "ConfigError",
    "KEYS",
    "absolute_data",
    "RUNTIME_KEYS",
    "SCHEDULES",
    "Key",
    "build_schedule",
    "check_values",
    "load_config_file",
    "read_saved_config",
    "resolve",
    "resume_changes",
    "saved_form",
    "to_json",
    "to_toml",
    "where_option",
]


@dataclass(frozen=True)
class Key:
    """One configuration key: its default, its check, what ``--resume`` does when it differs."""

    default: Any
    parse: Callable[[Any, str], Any]  # (value, where) -> normalized value; raises ConfigError
    section: str
    on_resume: str = "refuse"  # or "apply": the resumed run uses the new value (with a notice)
    unset: str = ""  # what None means, for the TOML output


KEYS: dict[str, Key] = {
    # model
    "hidden": Key([100], hidden_widths, "model"),
    "dropout": Key(0.0, number(0.0, 1.0, high_open=True), "model"),
    "norm": Key(None, text(optional=True), "model", unset="no normalization layer"),
    "weight_scale": Key(1e-2, number(0.0, low_open=True), "model"),
    "reg": Key(0.0, number(0.0), "model"),
    # update rule
    "update_rule": Key("sgd", text(), "update rule"),
    "update_rule_options": Key({}, option_table, "update rule"),
    "lr": Key(None, number(0.0, optional=True), "update rule", "apply", "the update rule's default"),
    "lr_decay": Key(1.0, number(0.0), "update rule"),
    "schedule": Key(None, schedule_spec, "update rule", unset="none: lr_decay per epoch only"),
    "regularizers": Key([], regularizer_list, "update rule"),
    "ema": Key(0.0, number(0.0, 1.0, high_open=True), "update rule"),
    "callbacks": Key([], callback_list, "update rule"),
    "gradient_transforms": Key([], transform_list, "update rule"),
    # data
    "data": Key(None, folder_path, "data", unset="$MINIFC_DATA, then the cache"),
    "num_train": Key(None, integer(1, optional=True), "data", unset="all training images"),
    "dtype": Key("float32", text(choices=("float32", "float64")), "data"),
    # run
    "epochs": Key(10, integer(1), "run", "apply"),
    "batch_size": Key(100, integer(1), "run"),
    "device": Key("auto", text(), "run", "apply"),
    "seed": Key(0, integer(0, high=MAX_SEED), "run"),
    "precision": Key(None, text(optional=True, choices=PRECISIONS), "run", "apply", "--dtype's (32 or 64)"),
    "reduce_precision": Key("32", text(choices=REDUCE_PRECISIONS), "run", "apply"),
}
#: keys a configuration file may hold that are not part of the run (never saved in config.json)
RUNTIME_KEYS: dict[str, Callable[[Any, str], Any]] = {"out": text(), "quiet": lambda v, where: _flag(v, where)}
#: names older config.json files used
_ALIASES = {"data_root": "data"}


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise bad_value(where, "true or false", value)
    return value


def where_option(key: str) -> str:
    """How the command line spells ``key``: ``--batch-size``."""
    spelled = {"regularizers": "regularizer", "callbacks": "callback", "update_rule_options": "update-rule"}
    spelled["gradient_transforms"] = "grad-transform"
    return "--" + spelled.get(key, key.replace("_", "-"))


def check_values(raw: Mapping[str, Any], source: str, *, file: bool) -> dict[str, Any]:
    """Check and normalize ``raw`` (a file's table, or the options given on the command line).

    ``source``: the file's path (messages say ``<file>: key 'x'``) or, with ``file=False``, ignored
    (messages name the option, ``--x``). Returns normalized values; runtime keys (out, quiet) included.
    """
    out: dict[str, Any] = {}
    rule_options = None
    for alias, name in _ALIASES.items():
        if alias in raw and name in raw:
            where = source if file else f"--{name.replace('_', '-')}"
            raise ConfigError(
                f"{where}: keys {alias!r} and {name!r} are one setting ({alias} is its older name); give one"
            )
    for key, value in raw.items():
        key = _ALIASES.get(key, key)
        where = f"{source}: key {key!r}" if file else where_option(key)
        if key in RUNTIME_KEYS:
            out[key] = RUNTIME_KEYS[key](value, where)
            continue
        if key not in KEYS:
            known = [*KEYS, *RUNTIME_KEYS]
            guess = closest(str(key), known)
            hint = f"; did you mean {guess!r}?" if guess else ""
            if isinstance(value, dict):
                hint += " (keys are not grouped in sections: write them at the top level)"
            raise ConfigError(f"{source}: unknown key {key!r}{hint} Known keys: {', '.join(known)}")
        if key == "update_rule" and isinstance(value, str) and ":" in value:  # "adam:beta1=0.95"
            rule_options = component_spec(value, where, "an update rule")
            value = rule_options.pop("name")
        out[key] = KEYS[key].parse(value, where)
    if rule_options is not None:
        if out.get("update_rule_options"):
            where = f"{source}: key 'update_rule'" if file else "--update-rule"
            raise ConfigError(
                f"{where}: give the update rule's options after its name or in update_rule_options, not both"
            )
        out["update_rule_options"] = rule_options
    return out


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a TOML (``.toml``) or JSON (``.json``) configuration file. A relative ``data``
    folder in it is relative to the file's folder; it is returned relative to the current folder."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"{path}: a configuration file must end in .toml or .json (its suffix picks the format)")
    try:
        data = _read_regular_file(path)
    except OSError as e:
        raise ConfigError(f"cannot read configuration file {path}: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8-sig")  # a leading byte-order mark is dropped
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        raw = _parse_toml(text, path) if suffix == ".toml" else _parse_json(text, path)
        values = check_values(raw, str(path), file=True)
    except RecursionError:
        raise ConfigError(f"{path}: values nested too deeply (a configuration is a flat table)") from None
    if values.get("data") and not os.path.isabs(values["data"]):
        values["data"] = _relative_to_cwd(os.path.join(os.path.abspath(path.parent), values["data"]))
    return values


def _relative_to_cwd(path: str) -> str:
    """The absolute ``path`` relative to the current folder (itself where no relative path leads there)."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path


def absolute_data(values: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """``values`` with a relative ``data`` folder made absolute (relative to the current folder), and
    whether it was relative: a run's ``config.json`` then keeps it relative (:func:`saved_form`)."""
    data = values.get("data")
    if not data or os.path.isabs(data):
        return dict(values), False
    return {**values, "data": os.path.abspath(data)}, True


def saved_form(config: Mapping[str, Any], folder: str | os.PathLike, relative: bool) -> dict[str, Any]:
    """``config`` as ``folder/config.json`` stores it: a data folder given as a relative path is stored
    relative to ``folder`` (what a relative ``data`` in a configuration file is relative to), so the run
    folder and the data can move together; an absolute one stays absolute."""
    data = config.get("data")
    if not relative or not data:
        return dict(config)
    try:
        return {**config, "data": os.path.relpath(data, os.path.abspath(folder))}
    except ValueError:  # another drive (Windows)
        return dict(config)


#: the largest configuration file read (a real one is a few hundred bytes)
MAX_CONFIG_BYTES = 16 * 2**20


def _read_regular_file(path: Path) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most :data:`MAX_CONFIG_BYTES`: opened
    without blocking (a named pipe with no writer would wait forever) and checked before reading, so a
    FIFO, a device (``/dev/zero``) or a folder is refused naming it."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{path} is not a regular file (a configuration must be a .toml or .json file)")
        data = f.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_CONFIG_BYTES // 2**20} MiB: not a configuration file")
    return data


def _parse_toml(text: str, path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib  # the standard library's, read only for TOML files
    else:  # Python 3.10: the tomli package, when installed
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError(f"{path}: reading TOML needs Python 3.11 or the tomli package (or use JSON)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None


def _parse_json(text: str, path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(text, object_pairs_hook=_unique_keys)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    except json.JSONDecodeError as e:
        what = "is empty" if not text.strip() else f"is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
        raise ConfigError(f"{path} {what}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a JSON object of key: value, got {describe(raw)}")
    return raw


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict; a key given twice is an error (json alone keeps the last)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ConfigError(f"key {key!r} is given twice")
        out[key] = value
    return out


def read_saved_config(path: str | os.PathLike) -> dict[str, Any]:
    """The configuration a run saved (its ``config.json``), complete: a missing key is an error naming
    the file and the key (keys newer than the file's format default)."""
    values = load_config_file(path)
    optional = {"update_rule_options", "schedule", "ema", "callbacks", "gradient_transforms", "precision",
                "reduce_precision"}  # added later
    missing = [k for k in KEYS if k not in values and k not in optional]
    if missing:
        raise ConfigError(
            f"{path} lacks the key(s) {', '.join(map(repr, missing))}: it does not describe the whole run "
            f"(restore it, or start a new run)"
        )
    return {k: v for k, v in values.items() if k in KEYS}


def resolve(values: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A complete run configuration: defaults for the keys not in ``values``, the update rule's default
    learning rate for ``lr``, the update rule's options and the component names checked.

    ``sources``: key -> where its value came from (``"run.toml: key 'norm'"``, ``"--norm"``), for the
    messages; a key not in it is named as such.
    """
    config = {key: KEYS[key].default for key in KEYS}
    config.update({k: v for k, v in values.items() if k in KEYS})
    config = json.loads(json.dumps(config))  # a deep copy in plain types
    for key, check in CROSS_CHECKS:
        try:
            check(config)
        except PluginError:
            raise  # strict mode: the failure names its plugin, not the option that looked it up
        except (MinifcError, ValueError, KeyError) as e:
            where = (sources or {}).get(key, key)
            text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
            raise ConfigError(text if text.startswith(where) else f"{where}: {text}") from None
    env_data = folder_path(os.environ.get("MINIFC_DATA"), "the environment variable MINIFC_DATA")
    if config["data"] is None and env_data:
        config["data"] = os.path.abspath(env_data)
    return config


def resume_changes(saved: Mapping[str, Any], requested: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Compare the options given for a resumed run with the saved ones.

    Returns ``(refused, applied)``: lines ``"key: old -> new"`` for keys that cannot change in a run
    that continues, and ``{key: new}`` for those that can (epochs, lr, device).
    """
    refused, applied = [], {}
    for key, new in requested.items():
        if key not in KEYS or saved.get(key) == new:
            continue
        if KEYS[key].on_resume == "apply":
            applied[key] = new
        else:
            refused.append(f"{where_option(key)}: {_show(saved.get(key))} -> {_show(new)}")
    return refused, applied


def _show(value: Any) -> str:
    return "(not set)" if value is None else json.dumps(value)


def to_json(config: Mapping[str, Any]) -> str:
    return json.dumps({k: config[k] for k in KEYS if k in config}, indent=2) + "\n"


def to_toml(config: Mapping[str, Any]) -> str:
    """The configuration as TOML that :func:`load_config_file` reads back to the same values."""
    return toml_writer.to_toml(config, KEYS)
