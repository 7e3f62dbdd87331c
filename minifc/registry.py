"""The component registry: one table per kind, filled through the plugin hooks, looked up by name.

Plugins load lazily, on the first lookup. A plugin that fails (import error, exception in a hook,
bad hook signature, a name clash) is reported once on stderr and listed as failed; the others and
the built-ins keep working. Environment variables:

- ``MINIFC_STRICT_PLUGINS=1``: raise on such a failure instead (for debugging a plugin).
- ``MINIFC_DISABLE_PLUGINS=a,b``: do not load these plugins (entry-point or distribution names).
- ``MINIFC_PLUGINS=a,b``: load only these plugins (the built-ins always load).
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import MinifcError, UnknownComponentError, unknown_name_message

__all__ = [
    "KINDS",
    "Component",
    "PluginInfo",
    "PluginError",
    "Registry",
    "default_registry",
    "reset_default_registry",
    "get",
    "get_layer",
    "get_loss",
    "get_update_rule",
    "get_regularizer",
]

#: kind -> hook that fills it
KINDS = {
    "layer": "minifc_register_layers",
    "loss": "minifc_register_losses",
    "update_rule": "minifc_register_update_rules",
    "regularizer": "minifc_register_regularizers",
}
BUILTIN = "builtins"


class PluginError(MinifcError, RuntimeError):
    """A plugin failed to load or registered something invalid (raised in strict mode)."""


@dataclass
class Component:
    """One registered component and where it came from."""

    kind: str
    name: str
    obj: Any
    plugin: str
    distribution: str | None
    version: str | None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def provider(self) -> str:
        """'plugin (distribution version)' as shown in errors and listings."""
        if self.distribution:
            return f"{self.plugin} ({self.distribution} {self.version or ''})".replace(" )", ")")
        return self.plugin


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "error": self.error,
            "components": self.components,
        }


def _env_list(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {item.strip() for item in raw.split(",") if item.strip()}


class Registry:
    """Components by kind and name, filled from plugins through :mod:`minifc.hookspecs`.

    ``Registry(entry_points=False)`` gives a fresh registry with only the built-ins, for tests;
    add in-process plugins with :meth:`add_plugin`.
    """

    def __init__(self, entry_points: bool = True, builtins: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._use_entry_points = entry_points
        self._use_builtins = builtins
        self._loaded = False
        self._pending: list[tuple[str, Any, str | None, str | None]] = []
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
        if self._use_entry_points:
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        disabled = _env_list("MINIFC_DISABLE_PLUGINS") or set()
        allowed = _env_list("MINIFC_PLUGINS")
        seen: set[tuple[str, str]] = set()
        for ep in sorted(md.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            key = (dist or "", ep.name)
            if key in seen:  # the same distribution seen twice (e.g. lib64 -> lib)
                continue
            seen.add(key)
            names = {ep.name, dist or ""}
            if names & disabled or (allowed is not None and not names & allowed):
                why = "MINIFC_DISABLE_PLUGINS" if names & disabled else "not in MINIFC_PLUGINS"
                self.plugins[ep.name] = PluginInfo(ep.name, "blocked", dist, version, ep.value, f"blocked by {why}")
                continue
            try:
                plugin = ep.load()
            except Exception as e:  # noqa: BLE001 - any import failure must not break minifc
                self._fail(ep.name, dist, version, ep.value, f"import failed: {type(e).__name__}: {e}", e)
                continue
            self._activate(plugin, ep.name, dist, version, module=ep.value)

    def _activate(
        self, plugin: Any, name: str, dist: str | None, version: str | None, module: str | None = None
    ) -> None:
        module = module or getattr(plugin, "__name__", type(plugin).__name__)
        if name in self.plugins and self.plugins[name].status == "loaded":
            self._fail(name, dist, version, module, f"a plugin named {name!r} is already loaded", None)
            return
        try:
            self.pm.register(plugin, name=name)
        except Exception as e:  # noqa: BLE001 - pluggy validation: bad signatures
            self._fail(name, dist, version, module, f"invalid hook implementation: {e}", e)
            return
        unknown = [
            attr
            for attr in dir(plugin)
            if attr.startswith("minifc_") and attr not in hookspecs.HOOKS and callable(getattr(plugin, attr, None))
        ]
        if unknown:
            self.pm.unregister(plugin)
            self._fail(
                name, dist, version, module, f"unknown hook(s) {unknown}; known: {sorted(hookspecs.HOOKS)}", None
            )
            return
        info = PluginInfo(name, "loaded", dist, version, module)
        staged: list[Component] = []
        try:
            for kind, hook in KINDS.items():
                for impl in getattr(self.pm.hook, hook).get_hookimpls():
                    if impl.plugin is plugin:
                        impl.function(**_args_for(impl, register=self._registrar(kind, name, dist, version, staged)))
            for c in staged:
                self._commit(c)
        except Exception as e:  # noqa: BLE001 - a hook that raises fails its plugin only
            self.pm.unregister(plugin)
            self._fail(name, dist, version, module, f"{type(e).__name__}: {e}", e)
            return
        for c in staged:
            info.components.setdefault(c.kind, []).append(c.name)
        self.plugins[name] = info

    def _registrar(
        self, kind: str, plugin: str, dist: str | None, version: str | None, staged: list[Component]
    ) -> Callable[..., None]:
        def register(name: str, obj: Any, **metadata: Any) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"{kind} names must be non-empty strings, got {name!r}")
            if not callable(obj):
                raise PluginError(f"{kind} {name!r} must be callable, got {type(obj).__name__}")
            staged.append(Component(kind, name, obj, plugin, dist, version, metadata))

        return register

    def _commit(self, c: Component) -> None:
        table = self.components[c.kind]
        old = table.get(c.name)
        if old is not None and old.obj is not c.obj and not c.metadata.get("override"):
            raise PluginError(
                f"{c.kind} {c.name!r} is registered twice with different objects: by {old.provider} and by "
                f"{c.provider}; pass override=True to replace it on purpose"
            )
        if old is None or old.obj is not c.obj:
            table[c.name] = c

    def _fail(
        self,
        name: str,
        dist: str | None,
        version: str | None,
        module: str | None,
        reason: str,
        exc: BaseException | None,
    ) -> None:
        self.plugins[name] = PluginInfo(name, "failed", dist, version, module, reason)
        where = f"distribution {dist} {version or ''}".strip() if dist else "in-process"
        message = f"minifc: plugin {name!r} ({where}, entry point {name} = {module}) failed and is skipped: {reason}"
        if os.environ.get("MINIFC_STRICT_PLUGINS", "") not in ("", "0"):
            raise PluginError(message) from exc
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
            raise UnknownComponentError(unknown_name_message(kind.replace("_", " "), str(name), table))
        return table[name]

    def get(self, kind: str, name: str) -> Any:
        """The object registered as ``name`` of ``kind`` (layer, loss, update_rule, regularizer)."""
        return self.component(kind, name).obj

    def names(self, kind: str) -> list[str]:
        self.load()
        return sorted(self.components[kind])

    def all_components(self) -> list[Component]:
        self.load()
        return [c for kind in KINDS for _, c in sorted(self.components[kind].items())]

    def plugin_list(self) -> list[PluginInfo]:
        self.load()
        return list(self.plugins.values())

    def call_commands_hook(self, cli: Any) -> None:
        """Let every loaded plugin add click subcommands; failures are reported, not fatal."""
        self.load()
        for impl in self.pm.hook.minifc_register_commands.get_hookimpls():
            name = self.pm.get_name(impl.plugin) or "?"
            try:
                impl.function(**_args_for(impl, cli=cli))
            except Exception as e:  # noqa: BLE001
                info = self.plugins.get(name)
                self._fail(
                    name,
                    info.distribution if info else None,
                    info.version if info else None,
                    info.module if info else None,
                    f"minifc_register_commands: {type(e).__name__}: {e}",
                    e,
                )


def _args_for(impl: Any, **available: Any) -> dict[str, Any]:
    """The subset of ``available`` that the hook implementation asks for."""
    return {name: available[name] for name in impl.argnames if name in available}


def _version_of(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        from . import __version__

        return __version__


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
