"""The options of a factory component (a schedule, a callback): declared, checked, then the factory called.

A factory declares its options with ``defaults={...}`` metadata, else by its own keyword defaults
(``def step_decay(step_size=1, gamma=0.1)``); a factory with ``**kwargs`` and no ``defaults`` takes any
option, unchecked. Numbers must lie in the declared ``bounds`` (:mod:`minifc.validate`'s convention,
default ``>= 0``), an integer option takes an integer and a boolean one a boolean.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import closest
from ..validate import NON_NEGATIVE, check_bounds, check_in
from .components import Component, signature_accepts

__all__ = ["declared_options", "checked_options", "build_component"]


def _parameters(obj: Any) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return None


def declared_options(component: Component, injected: Iterable[str] = ()) -> tuple[dict[str, Any] | None, list[str]]:
    """``(defaults, required)``: the options ``component`` takes with their defaults (None: any option,
    unchecked) and those it needs (keyword parameters without a default). ``injected``: keywords minifc
    passes itself (``num_epochs``), not options."""
    skip = set(injected)
    declared = component.metadata.get("defaults")
    params = _parameters(component.obj)
    if params is None:  # unreadable (a C function): only what it declares
        return (dict(declared) if declared is not None else None), []
    keywords = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in skip]
    required = [p.name for p in keywords if p.default is p.empty]
    if declared is not None:
        return dict(declared), [k for k in required if k not in declared]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None, required
    return {p.name: p.default for p in keywords if p.default is not p.empty}, required


def checked_options(component: Component, config: Mapping[str, Any], injected: Iterable[str] = ()) -> dict[str, Any]:
    """``config`` checked against what ``component`` declares (unknown or missing keys, types, bounds);
    ValueError naming the component, its plugin and the key. Returns the options to call it with."""
    who = f"{component.kind.replace('_', ' ')} {component.name!r} ({component.provider})"
    defaults, required = declared_options(component, injected)
    missing = [k for k in required if k not in config]
    if missing:
        raise ValueError(f"{who}: option(s) {missing} must be given, e.g. {component.name}:{missing[0]}=...")
    if defaults is None:
        return dict(config)
    known = sorted({*defaults, *required})
    for key in config:
        if key not in known:
            guess = closest(key, known)
            hint = f"; did you mean {guess!r}?" if guess else "."
            raise ValueError(f"{who} has no option {key!r}{hint} It takes {', '.join(known) or 'none'}")
    intervals = check_bounds(component.metadata.get("bounds"), who)
    for key, value in config.items():
        default = defaults.get(key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{who}: {key} must be true or false, got {value!r}")
        elif isinstance(default, int) and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{who}: {key} must be an integer, got {value!r}")
        elif isinstance(default, (int, float)) or key in intervals:
            check_in(value, f"{who}: {key}", intervals.get(key, NON_NEGATIVE))
    return {**defaults, **config}


def build_component(component: Component, config: Mapping[str, Any], **injected: Any) -> Any:
    """``component.obj(**options)`` with ``config`` checked (:func:`checked_options`) and each of
    ``injected`` passed when the factory accepts it; an error of the factory is a ValueError naming it."""
    options = checked_options(component, config, injected)
    extra = {k: v for k, v in injected.items() if signature_accepts(component.obj, k)}
    try:
        return component.obj(**options, **extra)
    except (ValueError, TypeError) as e:
        who = f"{component.kind.replace('_', ' ')} {component.name!r} ({component.provider})"
        raise ValueError(f"{who}: {e}") from None
