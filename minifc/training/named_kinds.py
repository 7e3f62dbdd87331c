"""Schedules and callbacks named by spec (``"step:gamma=0.5"``, ``"early_stopping:patience=3"``), and the
error of a named callback that raises.

A callback built from a registered name remembers who it is (name and plugin); when one of its
``on_*`` methods raises, the run stops with a :class:`~minifc.errors.MinifcError` naming it, its plugin,
the hook and the step, and saying which checkpoint is kept (checkpoints are written only at the end of
an epoch, before ``on_epoch_end``, so the last one is whole). A callback of a registered class names its
plugin too; other callbacks' errors pass through unchanged.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import MinifcError
from ..registry.blame import passes_through
from ..registry.components import Lookup, registered_provider
from ..registry.options import build_component
from ..registry.specs import parse_spec
from .run_state import TrainingState

__all__ = ["resolve_schedule", "resolve_callbacks", "callback_who", "callback_failure"]

#: callbacks built from a registered name -> "callback 'name' (plugin)"
_NAMED: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def resolve_schedule(spec: Any, lookup: Lookup, num_epochs: int) -> Any:
    """The schedule function ``spec`` names: a registered name with options (``"step:gamma=0.5"``,
    ``{"name": "step", "gamma": 0.5}``) found with ``lookup`` and built with its options checked (and
    ``num_epochs`` when its factory takes it); a function or None is returned as it is."""
    if spec is None or not isinstance(spec, (str, Mapping)):
        return spec
    name, config = parse_spec(spec)
    schedule = build_component(lookup("schedule", name), config, num_epochs=num_epochs)
    if not callable(schedule):
        raise TypeError(f"schedule {name!r}: its factory returned {type(schedule).__name__}, not a function")
    return schedule


def resolve_callbacks(specs: Any, lookup: Lookup) -> list[Any]:
    """Callbacks from a list of objects and specs (names with options, or dicts with ``name``), the
    names found with ``lookup`` and built with their options checked. A single spec is refused: pass a list."""
    if specs is None:
        return []
    if isinstance(specs, (str, Mapping)) or not isinstance(specs, Iterable):
        raise TypeError(f"callbacks must be a list of callbacks or names, got {specs!r} (write callbacks=[...])")
    out = []
    for spec in specs:
        if not isinstance(spec, (str, Mapping)):
            out.append(spec)
            continue
        name, config = parse_spec(spec)
        component = lookup("callback", name)
        callback = build_component(component, config)
        try:
            _NAMED[callback] = f"callback {name!r} ({component.provider})"
        except TypeError:  # not weak-referenceable: its class may still name its plugin
            pass
        out.append(callback)
    return out


def callback_who(callback: Any) -> str | None:
    """How an error names ``callback``: built from a registered name, or of a registered class; else None."""
    try:
        who = _NAMED.get(callback)
    except TypeError:
        who = None
    if who is not None:
        return who
    provider = registered_provider(type(callback))
    return f"callback {type(callback).__name__} ({provider})" if provider is not None else None


def callback_failure(
    callback: Any, hook: str, state: TrainingState, checkpoint: Path | None, e: Exception
) -> MinifcError | None:
    """The error that stops the run when ``callback``'s ``hook`` raised ``e``; None when ``e`` is left as it
    is (minifc's own errors, running out of memory, callbacks that are not named)."""
    who = callback_who(callback)
    if who is None or passes_through(e):
        return None
    if checkpoint is not None and checkpoint.is_file():
        kept = f"the checkpoint {checkpoint} of the first {state.epoch} epoch(s) is kept as it was"
    else:
        kept = "no checkpoint had been written"
    raised = f"{who} raised {type(e).__name__} in {hook} at step {state.step_count}"
    return MinifcError(f"{raised}: {e}. Training stopped; {kept}")
