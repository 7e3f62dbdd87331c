"""The component registry: one table per kind, filled through the plugin hooks, looked up by name.

Plugins load lazily, on the first lookup. A plugin that fails (import error, exception in a hook,
bad hook signature, a component with a bad signature or bad metadata, a name clash) is reported once
on stderr and listed as failed; the others and the built-ins keep working. Environment variables:

- ``MINIFC_STRICT_PLUGINS=1`` (or true, yes, on): raise on such a failure instead (for debugging a
  plugin); 0, false, no, off or nothing is the default, other values are refused.
- ``MINIFC_DISABLE_PLUGINS=a,b``: do not load these plugins (entry-point or distribution names).
- ``MINIFC_PLUGINS=a,b``: load only these plugins (the built-ins always load).

The two lists apply to installed plugins (entry points); in-process plugins added with
:meth:`Registry.add_plugin` always load.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import sys
import time
import types
from collections.abc import Callable, Iterable
from typing import Any

import pluggy

from ..errors import UnknownComponentError, unknown_name_message
from . import hookspecs
from .components import (
    BUILTIN,
    KINDS,
    Component,
    PluginError,
    PluginInfo,
    mark_provider,
    unmark_provider,
    validate_component,
)
from .plugin_commands import add_plugin_commands
from .plugin_env import STRICT_VAR, env_list, strict_plugins
from .plugin_hints import failed_plugin_message, provider_hint
from .plugin_hooks import args_for, hook_problem, naming_interrupts

__all__ = ["DEFAULT_PLUGINS", "Registry", "default_registry", "reset_default_registry", "get", "get_loss"]

#: minifc's own plugin modules, imported by name (as pytest's ``default_plugins`` and llm's
#: ``DEFAULT_PLUGINS`` are) and registered together as the plugin "builtins"; nothing in minifc imports
#: them, so they may import any part of it (the examples import the Solver and the Trainer)
DEFAULT_PLUGINS = ("minifc.registry.builtins", "minifc.experiments.classic_examples")

#: failure messages already printed in this process ("reported once", even across registries)
_REPORTED: set[str] = set()
SLOW_IMPORT_S = 2.0  # a plugin slower than this to import is named on stderr


class Registry:
    """Components by kind and name, filled from plugins through :mod:`minifc.registry.hookspecs`.

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
        strict_plugins()  # a value it cannot read is refused before anything loads
        self._loaded = True
        if self._use_builtins:
            self._activate(_builtin_plugin(), BUILTIN, "minifc", _version_of("minifc"))
        for name, plugin, dist, version in self._pending:
            self._activate(plugin, name, dist, version)
        self._pending.clear()
        if self._entry_points is True:
            self._load_entry_points(md.entry_points(group=hookspecs.ENTRY_POINT_GROUP))
        elif self._entry_points is not False:
            self._load_entry_points(self._entry_points)

    def _load_entry_points(self, entry_points: Iterable[md.EntryPoint]) -> None:
        disabled = env_list("MINIFC_DISABLE_PLUGINS") or set()
        allowed = env_list("MINIFC_PLUGINS")
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
                with naming_interrupts(ep.name, dist or ep.value, "importing"):
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
        problem = hook_problem(self.pm, plugin)
        if problem:
            self._fail(name, dist, version, module, problem, None)
            return
        try:
            self.pm.register(plugin, name=name)
        except Exception as e:  # noqa: BLE001 - pluggy validation: bad signatures
            self._fail(name, dist, version, module, f"invalid hook implementation: {e}", e)
            return
        staged: list[Component] = []
        try:
            with naming_interrupts(name, dist or module, "loading"):
                for kind, hook in KINDS.items():
                    for impl in getattr(self.pm.hook, hook).get_hookimpls():
                        if impl.plugin is plugin:
                            register = self._registrar(kind, name, dist, version, staged)
                            impl.function(**args_for(impl, register=register))
            pending, clashes = self._plan(staged)
            if clashes and strict_plugins():
                raise PluginError("; ".join(clashes))
        except (Exception, SystemExit) as e:  # noqa: BLE001 - a hook that raises (or exits) fails its plugin only
            self.pm.unregister(plugin)
            self._fail(name, dist, version, module, f"{type(e).__name__}: {e}", e, staged)
            return
        self._commit(pending)
        info = PluginInfo(name, "loaded", dist, version, module, path=getattr(plugin, "__file__", None))
        kept = {(c.kind, c.name): c for c in pending.values()}
        for c in staged:
            if kept.get((c.kind, c.name)) is c:
                info.components.setdefault(c.kind, []).append(c.name)
            elif (c.kind, c.name) not in kept:
                info.skipped.setdefault(c.kind, []).append(c.name)
        self.plugins[name] = info
        if clashes:
            info.error = "; ".join(clashes)
            where = f"distribution {dist} {version or ''}".strip() if dist else "in-process"
            self._report(
                f"minifc: plugin {name!r} ({where}): {info.error}. Its clashing component(s) are skipped; "
                f"its other components are loaded."
            )

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

    def _plan(self, staged: list[Component]) -> tuple[dict[tuple[str, str], Component], list[str]]:
        """The staged components that can be added (checked against the tables and each other), and a
        message for each one that clashes with a component of another object under its name."""
        pending: dict[tuple[str, str], Component] = {}
        clashes: list[str] = []
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
            clashes.append(
                f"{kind} {c.name!r} is registered twice with different objects: by {old.provider} and by "
                f"{c.provider}{why}; pass override=True to replace it on purpose"
            )
        return pending, clashes

    def _commit(self, pending: dict[tuple[str, str], Component]) -> None:
        for key, c in pending.items():
            old = self.components[c.kind].get(c.name)
            if old is not None and old.obj is c.obj:
                continue
            if old is not None:
                self._replaced[key] = old
            self.components[c.kind][c.name] = c
            mark_provider(c)

    def _retract(self, plugin: str) -> None:
        """Remove the components of a plugin that failed late, restoring what it overrode."""
        for kind, table in self.components.items():
            for name, c in list(table.items()):
                if c.plugin == plugin:
                    unmark_provider(c)
                    old = self._replaced.pop((kind, name), None)
                    if old is not None:
                        table[name] = old
                        mark_provider(old)
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
        staged: Iterable[Component] = (),
    ) -> None:
        info = PluginInfo(name, "failed", dist, version, module, reason)
        for c in staged:  # what it registered before failing: a lookup of these says the plugin failed
            info.skipped.setdefault(c.kind, []).append(c.name)
        self.plugins[self._slot(name, dist, module)] = info
        where = f"distribution {dist} {version or ''}".strip() if dist else "in-process"
        message = f"minifc: plugin {name!r} ({where}, entry point {name} = {module}) failed: {reason}"
        if strict_plugins():
            raise PluginError(f"{message} ({STRICT_VAR} is set)") from exc
        message = message.replace(" failed: ", " failed and is skipped: ", 1)
        hint = f" Disable it with MINIFC_DISABLE_PLUGINS={name}" + (f" or `pip uninstall {dist}`." if dist else ".")
        self._report(message, hint)

    @staticmethod
    def _report(message: str, hint: str = "") -> None:
        """Print ``message`` (plus ``hint``) on stderr, once per process."""
        if message in _REPORTED:
            return
        _REPORTED.add(message)
        print(message + hint, file=sys.stderr)

    # -- lookup --------------------------------------------------------------------------------
    def component(self, kind: str, name: str) -> Component:
        """The :class:`Component` registered under ``name``; unknown names list the known ones."""
        if kind not in KINDS:
            raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
        self.load()
        table = self.components[kind]
        if name not in table:
            failed = failed_plugin_message(kind, str(name), self.plugins)
            if failed:
                raise UnknownComponentError(failed)
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
        """Let every loaded plugin add click subcommands; a failure fails that plugin only
        (:func:`minifc.registry.plugin_commands.add_plugin_commands`)."""
        add_plugin_commands(self, cli)

    def fail_late(self, plugin: Any, name: str, reason: str, exc: BaseException | None) -> None:
        """Fail a loaded plugin (a later hook raised): remove it and its components, restoring what it overrode."""
        info = self.plugins.pop(name, None)
        self.pm.unregister(plugin)
        self._retract(name)
        dist, version, module = (info.distribution, info.version, info.module) if info else (None, None, None)
        self._fail(name, dist, version, module, reason, exc)


def _builtin_plugin() -> types.SimpleNamespace:
    """The hooks of the :data:`DEFAULT_PLUGINS` modules (imported by name), as one plugin object: the
    built-ins. A hook that two of them implement is refused (:class:`PluginError`)."""
    modules = [importlib.import_module(name) for name in DEFAULT_PLUGINS]
    plugin = types.SimpleNamespace(__name__=modules[0].__name__, __file__=modules[0].__file__)
    for module in modules:
        for attr, value in vars(module).items():
            if attr.startswith("minifc_") and callable(value):
                if hasattr(plugin, attr):
                    raise PluginError(f"{attr} is implemented by two default plugins ({module.__name__} and another)")
                setattr(plugin, attr, value)
    return plugin


def _version_of(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:  # a source checkout: the package's own version
        return getattr(sys.modules[__package__], "__version__", None)


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


def get_loss(name: str) -> Any:
    return get("loss", name)
