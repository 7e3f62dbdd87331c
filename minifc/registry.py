"""The component registry: one table per kind, filled through the plugin hooks, looked up by name.

Plugins load lazily, on the first lookup. A plugin that fails (import error, exception in a hook,
bad hook signature, a component with a bad signature or bad metadata, a name clash) is reported once
on stderr and listed as failed; the others and the built-ins keep working. Environment variables:

- ``MINIFC_STRICT_PLUGINS=1``: raise on such a failure instead (for debugging a plugin).
- ``MINIFC_DISABLE_PLUGINS=a,b``: do not load these plugins (entry-point or distribution names).
- ``MINIFC_PLUGINS=a,b``: load only these plugins (the built-ins always load).

The two lists apply to installed plugins (entry points); in-process plugins added with
:meth:`Registry.add_plugin` always load.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import MinifcError, UnknownComponentError, unknown_name_message
from .plugin_hints import provider_hint

__all__ = [
    "KINDS",
    "Component",
    "PluginInfo",
    "PluginError",
    "Registry",
    "default_registry",
    "reset_default_registry",
    "parse_spec",
    "split_spec",
    "parse_value",
    "get",
    "get_layer",
    "get_loss",
    "get_update_rule",
    "get_regularizer",
    "get_example",
]

#: kind -> hook that fills it
KINDS = {
    "layer": "minifc_register_layers",
    "loss": "minifc_register_losses",
    "update_rule": "minifc_register_update_rules",
    "regularizer": "minifc_register_regularizers",
    "example": "minifc_register_examples",
}
BUILTIN = "builtins"

#: regularizer metadata: allowed values, the first one being the default
REGULARIZER_STAGES = ("loss", "update")
REGULARIZER_TARGETS = ("weights", "all")


class PluginError(MinifcError, RuntimeError):
    """A plugin failed to load or registered something invalid (raised in strict mode)."""


@dataclass
class Component:
    """One registered component and where it came from.

    ``metadata`` holds what the plugin passed to ``register`` (minus ``override``); for regularizers
    ``stage``, ``applies_to`` and ``defaults`` are always present (filled with their defaults).
    """

    kind: str
    name: str
    obj: Any
    plugin: str
    distribution: str | None
    version: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    override: bool = False

    @property
    def provider(self) -> str:
        """'plugin (distribution version)' as shown in errors and listings."""
        if self.distribution:
            return f"{self.plugin} ({self.distribution} {self.version or ''})".replace(" )", ")")
        return self.plugin

    @property
    def description(self) -> str:
        return str(self.metadata.get("description", ""))


@dataclass
class PluginInfo:
    """A plugin as ``minifc plugins`` lists it."""

    name: str
    status: str  # "loaded", "blocked" or "failed"
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    error: str | None = None
    components: dict[str, list[str]] = field(default_factory=dict)
    path: str | None = None
    commands: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "path": self.path,
            "error": self.error,
            "components": self.components,
            "commands": self.commands,
        }


def _env_list(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {item.strip() for item in raw.split(",") if item.strip()}


def _strict() -> bool:
    return os.environ.get("MINIFC_STRICT_PLUGINS", "").strip().lower() not in ("", "0", "false", "no")


#: failure messages already printed in this process ("reported once", even across registries)
_REPORTED: set[str] = set()
SLOW_IMPORT_S = 2.0  # a plugin slower than this to import is named on stderr


class Registry:
    """Components by kind and name, filled from plugins through :mod:`minifc.hookspecs`.

    ``Registry(entry_points=False)`` gives a fresh registry with only the built-ins, for tests;
    add in-process plugins with :meth:`add_plugin`. ``entry_points`` may also be an iterable of
    :class:`importlib.metadata.EntryPoint` to load instead of the installed ones.
    """

    def __init__(self, entry_points: bool | Iterable[md.EntryPoint] = True, builtins: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._entry_points = entry_points if isinstance(entry_points, bool) else list(entry_points)
        self._use_builtins = builtins
        self._loaded = False
        self._pending: list[tuple[str, Any, str | None, str | None]] = []
        self._replaced: dict[tuple[str, str], Component] = {}
        self.components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}
        self.plugins: dict[str, PluginInfo] = {}

    # -- loading -------------------------------------------------------------------------------
    def add_plugin(self, plugin: Any, name: str, distribution: str | None = None, version: str | None = None) -> None:
        """Add an in-process plugin (a module or object with hook implementations)."""
        if self._loaded:
            self._activate(plugin, name, distribution, version)
        else:
            self._pending.append((name, plugin, distribution, version))

    def load(self) -> None:
        """Load the built-ins, the in-process plugins and the entry points (once)."""
        if self._loaded:
            return
        self._loaded = True
        if self._use_builtins:
            from . import builtins

            self._activate(builtins, BUILTIN, "minifc", _version_of("minifc"))
        for name, plugin, dist, version in self._pending:
            self._activate(plugin, name, dist, version)
        self._pending.clear()
        if self._entry_points is True:
            self._load_entry_points(md.entry_points(group=hookspecs.ENTRY_POINT_GROUP))
        elif self._entry_points is not False:
            self._load_entry_points(self._entry_points)

    def _load_entry_points(self, entry_points: Iterable[md.EntryPoint]) -> None:
        disabled = _env_list("MINIFC_DISABLE_PLUGINS") or set()
        allowed = _env_list("MINIFC_PLUGINS")
        seen: set[tuple[str, str]] = set()
        for ep in sorted(entry_points, key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            key = (dist or "", ep.name)
            if key in seen:  # the same distribution seen twice (e.g. lib64 -> lib)
                continue
            seen.add(key)
            names = {ep.name, dist or ""} - {""}
            if names & disabled or (allowed is not None and not names & allowed):
                why = "MINIFC_DISABLE_PLUGINS" if names & disabled else "MINIFC_PLUGINS (not listed)"
                info = PluginInfo(ep.name, "blocked", dist, version, ep.value, f"blocked by {why}")
                self.plugins[self._slot(ep.name, dist, ep.value)] = info
                continue
            started = time.perf_counter()
            try:
                plugin = ep.load()
            except (Exception, SystemExit) as e:  # noqa: BLE001 - any import failure must not break minifc
                self._fail(ep.name, dist, version, ep.value, f"import failed: {type(e).__name__}: {e}", e)
                continue
            seconds = time.perf_counter() - started
            if seconds > SLOW_IMPORT_S and ep.name not in _REPORTED:
                _REPORTED.add(ep.name)
                print(f"minifc: plugin {ep.name!r} ({dist or ep.value}) took {seconds:.1f} s to import; every minifc "
                      f"command that looks up components waits for it (MINIFC_DISABLE_PLUGINS={ep.name} skips it)",
                      file=sys.stderr)
            self._activate(plugin, ep.name, dist, version, module=ep.value)

    def _slot(self, name: str, dist: str | None, module: str | None) -> str:
        """The key of a plugin in :attr:`plugins`: its name, qualified when another holds the name."""
        if name not in self.plugins:
            return name
        return f"{name} ({dist or module or '?'})"

    def _activate(
        self, plugin: Any, name: str, dist: str | None, version: str | None, module: str | None = None
    ) -> None:
        module = module or getattr(plugin, "__name__", type(plugin).__name__)
        if name in self.plugins and self.plugins[name].status == "loaded":
            self._fail(name, dist, version, module, f"a plugin named {name!r} is already loaded", None)
            return
        unmarked = [
            attr
            for attr in hookspecs.HOOKS
            if callable(getattr(plugin, attr, None)) and self.pm.parse_hookimpl_opts(plugin, attr) is None
        ]
        if unmarked:
            self._fail(name, dist, version, module, f"{', '.join(unmarked)} not marked with @minifc.hookimpl", None)
            return
        unknown = [
            attr
            for attr in dir(plugin)
            if attr.startswith("minifc_") and attr not in hookspecs.HOOKS and callable(getattr(plugin, attr, None))
        ]
        if unknown:
            reason = f"unknown hook(s) {unknown}; known: {sorted(hookspecs.HOOKS)}"
            self._fail(name, dist, version, module, reason, None)
            return
        try:
            self.pm.register(plugin, name=name)
        except Exception as e:  # noqa: BLE001 - pluggy validation: bad signatures
            self._fail(name, dist, version, module, f"invalid hook implementation: {e}", e)
            return
        staged: list[Component] = []
        try:
            for kind, hook in KINDS.items():
                for impl in getattr(self.pm.hook, hook).get_hookimpls():
                    if impl.plugin is plugin:
                        register = self._registrar(kind, name, dist, version, staged)
                        impl.function(**_args_for(impl, register=register))
            self._commit_all(staged)
        except Exception as e:  # noqa: BLE001 - a hook that raises fails its plugin only
            self.pm.unregister(plugin)
            self._fail(name, dist, version, module, f"{type(e).__name__}: {e}", e)
            return
        info = PluginInfo(name, "loaded", dist, version, module, path=getattr(plugin, "__file__", None))
        for c in staged:
            info.components.setdefault(c.kind, []).append(c.name)
        self.plugins[name] = info

    def _registrar(
        self, kind: str, plugin: str, dist: str | None, version: str | None, staged: list[Component]
    ) -> Callable[..., None]:
        def register(name: str, obj: Any, **metadata: Any) -> None:
            if not isinstance(name, str) or not name.strip() or name != name.strip() or ":" in name:
                raise PluginError(f"{kind} names must be non-empty strings without ':' or spaces, got {name!r}")
            override = bool(metadata.pop("override", False))
            validate_component(kind, name, obj, metadata)
            staged.append(Component(kind, name, obj, plugin, dist, version, metadata, override))

        return register

    def _commit_all(self, staged: list[Component]) -> None:
        """Check every staged component against the tables and each other, then add them all."""
        pending: dict[tuple[str, str], Component] = {}
        for c in staged:
            key = (c.kind, c.name)
            old = pending.get(key) or self.components[c.kind].get(c.name)
            if old is None or old.obj is c.obj:
                pending.setdefault(key, c)
                continue
            if c.override and not old.override and key not in pending:
                pending[key] = c
                continue
            kind = c.kind.replace("_", " ")
            why = "" if not c.override else f" ({old.provider} overrides it already)"
            raise PluginError(
                f"{kind} {c.name!r} is registered twice with different objects: by {old.provider} and by "
                f"{c.provider}{why}; pass override=True to replace it on purpose"
            )
        for key, c in pending.items():
            old = self.components[c.kind].get(c.name)
            if old is not None and old.obj is c.obj:
                continue
            if old is not None:
                self._replaced[key] = old
            self.components[c.kind][c.name] = c

    def _retract(self, plugin: str) -> None:
        """Remove the components of a plugin that failed late, restoring what it overrode."""
        for kind, table in self.components.items():
            for name, c in list(table.items()):
                if c.plugin == plugin:
                    old = self._replaced.pop((kind, name), None)
                    if old is not None:
                        table[name] = old
                    else:
                        del table[name]

    def _fail(
        self,
        name: str,
        dist: str | None,
        version: str | None,
        module: str | None,
        reason: str,
        exc: BaseException | None,
    ) -> None:
        self.plugins[self._slot(name, dist, module)] = PluginInfo(name, "failed", dist, version, module, reason)
        where = f"distribution {dist} {version or ''}".strip() if dist else "in-process"
        message = f"minifc: plugin {name!r} ({where}, entry point {name} = {module}) failed: {reason}"
        if _strict():
            raise PluginError(f"{message} (MINIFC_STRICT_PLUGINS is set)") from exc
        message = message.replace(" failed: ", " failed and is skipped: ", 1)
        if message in _REPORTED:
            return
        _REPORTED.add(message)
        hint = f" Disable it with MINIFC_DISABLE_PLUGINS={name}" + (f" or `pip uninstall {dist}`." if dist else ".")
        print(message + hint, file=sys.stderr)

    # -- lookup --------------------------------------------------------------------------------
    def component(self, kind: str, name: str) -> Component:
        """The :class:`Component` registered under ``name``; unknown names list the known ones."""
        if kind not in KINDS:
            raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
        self.load()
        table = self.components[kind]
        if name not in table:
            hint = provider_hint(kind, str(name), self.plugins)
            message = unknown_name_message(kind.replace("_", " "), str(name), table)
            raise UnknownComponentError(f"{message}.{hint}" if hint else message)
        return table[name]

    def get(self, kind: str, name: str) -> Any:
        """The object registered as ``name`` of ``kind`` (layer, loss, update_rule, regularizer, example)."""
        return self.component(kind, name).obj

    def names(self, kind: str) -> list[str]:
        """The sorted names registered for ``kind``."""
        self.load()
        return sorted(self.components[kind])

    def all_components(self) -> list[Component]:
        """Every component, by kind then name."""
        self.load()
        return [c for kind in KINDS for _, c in sorted(self.components[kind].items())]

    def plugin_list(self) -> list[PluginInfo]:
        """Every plugin seen: loaded, blocked and failed."""
        self.load()
        return list(self.plugins.values())

    def call_commands_hook(self, cli: Any) -> None:
        """Let every loaded plugin add click subcommands; a failure fails that plugin only."""
        self.load()
        for impl in self.pm.hook.minifc_register_commands.get_hookimpls():
            name = self.pm.get_name(impl.plugin) or "?"
            info = self.plugins.get(name)
            before = set(getattr(cli, "commands", {}))
            try:
                impl.function(**_args_for(impl, cli=cli))
            except Exception as e:  # noqa: BLE001
                for added in set(getattr(cli, "commands", {})) - before:
                    cli.commands.pop(added, None)
                self.pm.unregister(impl.plugin)
                self._retract(name)
                self.plugins.pop(name, None)
                self._fail(
                    name,
                    info.distribution if info else None,
                    info.version if info else None,
                    info.module if info else None,
                    f"minifc_register_commands: {type(e).__name__}: {e}",
                    e,
                )
                continue
            if info is not None:
                info.commands = sorted(set(getattr(cli, "commands", {})) - before)


def validate_component(kind: str, name: str, obj: Any, metadata: dict[str, Any]) -> None:
    """Raise :class:`PluginError` when ``obj`` cannot be a ``kind`` component; normalise ``metadata``.

    Checks that the object can be called the way minifc calls it (when its signature is readable)
    and, for regularizers, fills ``stage``, ``applies_to`` and ``defaults``.
    """
    what = f"{kind.replace('_', ' ')} {name!r}"
    if not callable(obj):
        raise PluginError(f"{what} must be callable, got {type(obj).__name__}")
    if "description" in metadata and not isinstance(metadata["description"], str):
        raise PluginError(f"{what}: description must be a string")
    if kind == "layer":
        from .nn import Module

        if inspect.isclass(obj) and not issubclass(obj, Module):
            raise PluginError(f"{what}: a layer class must subclass minifc.nn.Module, and {obj.__name__} does not")
        return
    calls = {
        "loss": ("(scores, y)", 2),
        "update_rule": ("(w, dw, config)", 3),
        "regularizer": ("(w, config)", 2),
        "example": ("(data, options)", 2),
    }
    form, n = calls[kind]
    if not _accepts_positional(obj, n):
        raise PluginError(f"{what} must be callable as {name}{form}; its signature is {_signature(obj)}")
    if kind == "update_rule":
        defaults = getattr(obj, "defaults", None)
        if defaults is not None and not isinstance(defaults, Mapping):
            raise PluginError(f"{what}: .defaults must be a dict of hyper-parameters, got {type(defaults).__name__}")
        state_keys = getattr(obj, "state_keys", ())
        if isinstance(state_keys, str) or not all(isinstance(k, str) for k in state_keys):
            raise PluginError(f"{what}: .state_keys must be a tuple of strings, got {state_keys!r}")
    if kind == "regularizer":
        stage = metadata.setdefault("stage", REGULARIZER_STAGES[0])
        if stage not in REGULARIZER_STAGES:
            raise PluginError(f"{what}: stage must be one of {REGULARIZER_STAGES}, got {stage!r}")
        target = metadata.setdefault("applies_to", REGULARIZER_TARGETS[0])
        if target not in REGULARIZER_TARGETS:
            raise PluginError(f"{what}: applies_to must be one of {REGULARIZER_TARGETS}, got {target!r}")
        declared = metadata.get("defaults", getattr(obj, "defaults", None))
        if declared is not None:  # undeclared options are not checked, as for update rules
            if not isinstance(declared, Mapping):
                raise PluginError(f"{what}: defaults must be a dict, got {type(declared).__name__}")
            metadata["defaults"] = dict(declared)


def _accepts_positional(obj: Any, n: int) -> bool:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return True  # unreadable (C functions): trust it
    try:
        sig.bind(*([None] * n))
    except TypeError:
        return False
    return True


def _signature(obj: Any) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(?)"


def _args_for(impl: Any, **available: Any) -> dict[str, Any]:
    """The subset of ``available`` that the hook implementation asks for."""
    return {name: available[name] for name in impl.argnames if name in available}


def _version_of(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        from . import __version__

        return __version__


# -- specs: "name", "name:k=v,k2=v2", {"name": ..., **config} -----------------------------------------


def parse_value(text: str) -> Any:
    """'3' -> 3, '0.5' / '1e-3' -> float, 'true' / 'false' -> bool, anything else -> the string."""
    text = text.strip()
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def split_spec(spec: Any) -> tuple[str, list[Any], dict[str, Any]]:
    """``"linear:512,weight_scale=0.01"`` -> ``("linear", [512], {"weight_scale": 0.01})``.

    Accepts a string ``name[:item,item...]`` where an item is ``key=value`` or a bare value
    (positional), a dict ``{"name": ..., **config}`` or a pair ``(name, config)``. Values in strings
    are parsed by :func:`parse_value`.
    """
    if isinstance(spec, str):
        name, sep, rest = spec.partition(":")
        name = name.strip()
        args: list[Any] = []
        config: dict[str, Any] = {}
        if sep and not rest.strip():
            raise ValueError(f"spec {spec!r}: nothing after ':' (expected name:key=value,...)")
        for item in (part.strip() for part in rest.split(",")) if sep else ():
            key, eq, value = item.partition("=")
            if not item:
                raise ValueError(f"spec {spec!r}: empty item (stray ',')")
            if not eq:
                if config:
                    raise ValueError(f"spec {spec!r}: positional value {item!r} after key=value items")
                args.append(parse_value(item))
            elif not key.strip().isidentifier():
                raise ValueError(f"spec {spec!r}: {key.strip()!r} is not a valid key (expected key=value)")
            else:
                config[key.strip()] = parse_value(value)
    elif isinstance(spec, Mapping):
        if "name" not in spec:
            raise ValueError(f"spec {dict(spec)!r} has no 'name' key")
        name, args, config = spec["name"], [], {k: v for k, v in spec.items() if k != "name"}
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping):
        name, args, config = spec[0], [], dict(spec[1])
    else:
        raise TypeError(f"a component spec is a str, a dict with 'name' or (name, config), got {spec!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"spec {spec!r}: the name must be a non-empty string")
    return name, args, config


def parse_spec(spec: Any, positional: Iterable[str] = ()) -> tuple[str, dict[str, Any]]:
    """``"l1:reg=1e-4"`` -> ``("l1", {"reg": 0.0001})``; ``{"name": "max_norm", "max_norm": 3.0}`` ->
    ``("max_norm", {"max_norm": 3.0})``; ``"adam"`` -> ``("adam", {})``.

    Bare values (``"dropout:0.5"``) are given the keys in ``positional``, in order; without enough
    keys they are an error. The config is a new dict.
    """
    name, args, config = split_spec(spec)
    keys = list(positional)
    if len(args) > len(keys):
        raise ValueError(f"spec {spec!r}: expected key=value items, got the bare value(s) {args[len(keys) :]}")
    for key, value in zip(keys, args, strict=False):
        if key in config:
            raise ValueError(f"spec {spec!r}: {key} is given twice")
        config[key] = value
    return name, config


# -- the process-wide registry -------------------------------------------------------------------

_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry (built-ins plus installed entry points), created on first use."""
    global _default
    if _default is None:
        _default = Registry()
    return _default


def reset_default_registry(registry: Registry | None = None) -> Registry:
    """Replace the process-wide registry (tests use a fresh one); returns the new one."""
    global _default
    _default = registry if registry is not None else Registry()
    return _default


def get(kind: str, name: str) -> Any:
    """``default_registry().get(kind, name)``."""
    return default_registry().get(kind, name)


def get_layer(name: str) -> Any:
    return get("layer", name)


def get_loss(name: str) -> Any:
    return get("loss", name)


def get_update_rule(name: str) -> Any:
    return get("update_rule", name)


def get_regularizer(name: str) -> Any:
    return get("regularizer", name)


def signature_accepts(obj: Any, param: str) -> bool:
    """Whether calling ``obj`` accepts the keyword ``param``."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    return param in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def get_example(name: str) -> Any:
    return get("example", name)
