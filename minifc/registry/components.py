"""What a registry holds: the component kinds, a registered component, a plugin's status, and the
checks a component passes before it is registered."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import MinifcError
from ..nn.modules import Module
from ..validate import check_bounds

__all__ = [
    "KINDS",
    "BUILTIN",
    "FACTORY_KINDS",
    "REGULARIZER_STAGES",
    "REGULARIZER_TARGETS",
    "PluginError",
    "Component",
    "PluginInfo",
    "validate_component",
    "signature_accepts",
    "Lookup",
    "mark_provider",
    "unmark_provider",
    "registered_provider",
]

#: kind -> hook that fills it
KINDS = {
    "layer": "minifc_register_layers",
    "loss": "minifc_register_losses",
    "update_rule": "minifc_register_update_rules",
    "regularizer": "minifc_register_regularizers",
    "schedule": "minifc_register_schedules",
    "callback": "minifc_register_callbacks",
    "example": "minifc_register_examples",
    "gradient_transform": "minifc_register_gradient_transforms",
    "sweep_preset": "minifc_register_sweep_presets",
    "compare_preset": "minifc_register_compare_presets",
}
BUILTIN = "builtins"
#: kinds whose component is a factory called with the user's options (``obj(**options)``)
FACTORY_KINDS = ("schedule", "callback", "gradient_transform")

#: regularizer metadata: allowed values, the first one being the default
REGULARIZER_STAGES = ("loss", "update")
REGULARIZER_TARGETS = ("weights", "all")


#: the class attribute that names the plugin which registered a layer class (set by the registry)
_PROVIDER_ATTR = "_minifc_provider"
#: the kinds whose registered classes are marked (their errors name the plugin)
_MARKED_KINDS = ("layer", "callback")


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


#: ``lookup(kind, name)``: the registered component (``Registry.component``), what the Trainer hands
#: to the training parts that resolve names, so that they need not know the registry
Lookup = Callable[[str, str], Component]


def mark_provider(component: Component) -> None:
    """Name the plugin of a registered layer or callback class on the class itself, so that an error raised
    in one of its instances can name the plugin without a registry at hand (:func:`registered_provider`)."""
    if component.kind in _MARKED_KINDS and inspect.isclass(component.obj):
        setattr(component.obj, _PROVIDER_ATTR, component.provider)


def unmark_provider(component: Component) -> None:
    """Undo :func:`mark_provider` (the component's plugin failed late)."""
    cls = component.obj
    if component.kind in _MARKED_KINDS and inspect.isclass(cls) and vars(cls).get(_PROVIDER_ATTR) == component.provider:
        delattr(cls, _PROVIDER_ATTR)


def registered_provider(cls: type) -> str | None:
    """'plugin (distribution version)' that registered ``cls`` itself (not a base class) as a layer or a
    callback, or None."""
    provider = vars(cls).get(_PROVIDER_ATTR)
    return provider if isinstance(provider, str) else None


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
    #: components it registered that are not available (all of a failed plugin's; a loaded one's clashes)
    skipped: dict[str, list[str]] = field(default_factory=dict)

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
            "skipped": self.skipped,
        }


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
    if kind in FACTORY_KINDS:
        _validate_options(what, obj, metadata)
        return
    if kind == "layer":
        if inspect.isclass(obj) and not issubclass(obj, Module):
            raise PluginError(f"{what}: a layer class must subclass minifc.nn.Module, and {obj.__name__} does not")
        return
    calls = {
        "loss": ("(scores, y)", 2),
        "update_rule": ("(w, dw, config)", 3),
        "regularizer": ("(w, config)", 2),
        "example": ("(data, options)", 2),
        "sweep_preset": ("(quick)", 1),
        "compare_preset": ("(quick)", 1),
    }
    form, n = calls[kind]
    if not _accepts_positional(obj, n):
        raise PluginError(f"{what} must be callable as {name}{form}; its signature is {_signature(obj)}")
    if kind == "example" and metadata.get("settings") is not None:
        settings = metadata["settings"]
        if isinstance(settings, str) or not all(isinstance(k, str) for k in settings):
            raise PluginError(f"{what}: settings must be a tuple of the --set keys it reads, got {settings!r}")
        metadata["settings"] = tuple(settings)
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
        try:  # bounds in minifc.validate's convention, refused at registration rather than at first use
            check_bounds(metadata.get("bounds"), what)
        except ValueError as e:
            raise PluginError(str(e)) from None


def _validate_options(what: str, obj: Any, metadata: dict[str, Any]) -> None:
    """A factory kind's declared options (metadata, else the factory's ``defaults`` / ``bounds`` attributes):
    ``defaults`` a dict, ``bounds`` in minifc.validate's convention."""
    declared = metadata.get("defaults", getattr(obj, "defaults", None))
    if declared is not None:
        if not isinstance(declared, Mapping):
            raise PluginError(f"{what}: defaults must be a dict, got {type(declared).__name__}")
        metadata["defaults"] = dict(declared)
    try:
        check_bounds(metadata.setdefault("bounds", getattr(obj, "bounds", None)), what)
    except ValueError as e:
        raise PluginError(str(e)) from None


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


def signature_accepts(obj: Any, param: str) -> bool:
    """Whether calling ``obj`` accepts the keyword ``param``."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    return param in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
