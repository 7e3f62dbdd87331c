"""The step's gradient-transform seam: a chain of transforms (:mod:`minifc.optim.transform`) between the
gradients and the update.

Where it runs: after the gradient hooks (the data-parallel reduction: every rank transforms the same global
gradient) and after the loss-stage regularizers added their gradients, before the update rule; the update
then sees the transformed gradients. The transforms run in the order given; one that returns ``None``
skips the step's update (the rest of the chain is not called). Their states live in the run's
:class:`~minifc.training.run_state.TrainingState` (``transform_states``), saved by checkpoints and restored
whole by a resume. A transform's state holding ``grad_norm`` is recorded per step in ``grad_norm_history``.

With a chain, the Trainer does not form updates inside the weight-gradient product (``update_in_product``:
those updates happen during the backward pass, before the chain could see the gradient); its foreach and
one-kernel forms stay on. Without one, the step does nothing more than before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from ..errors import MinifcError
from ..optim.transform import GradientTransform, Grads, TransformState, check_options, initial_state
from ..registry.blame import component_failure, passes_through
from ..registry.components import Lookup
from ..registry.specs import parse_spec
from .first_step import check_like

__all__ = ["ChosenTransform", "TransformChain", "resolve_transforms", "build_transform", "NORM_KEY"]

#: the state key whose value (a 0-dim tensor) the chain records per step in ``grad_norm_history``
NORM_KEY = "grad_norm"


@dataclass
class ChosenTransform:
    """One transform of a chain: its name and complete options (plain values), the transform, who provides it."""

    name: str
    options: dict[str, Any]
    transform: GradientTransform
    provider: str

    @property
    def who(self) -> str:
        return f"gradient transform {self.name!r} ({self.provider})"

    @property
    def spec(self) -> dict[str, Any]:
        """``{"name": ..., **options}``: what a checkpoint records and a resume compares."""
        return {"name": self.name, **self.options}


def build_transform(spec: Any, lookup: Lookup) -> ChosenTransform:
    """One transform from a spec (``"clip_norm:max_norm=1.0"``, ``{"name": "clip_value", "value": 0.5}``) or an
    object with ``init`` and ``update``; ValueError naming the transform for an unknown option, a value out of
    range or a factory that refuses its options; UnknownComponentError for an unknown name."""
    if isinstance(spec, GradientTransform):
        return ChosenTransform(type(spec).__name__, {}, spec, "user object")
    name, options = parse_spec(spec)
    component = lookup("gradient_transform", name)
    who = f"gradient transform {name!r} ({component.provider})"
    meta = component.metadata
    options = check_options(who, options, meta.get("defaults"), meta.get("bounds"))
    try:
        made = component.obj(**options)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{who}: {e}") from None
    if not isinstance(made, GradientTransform):
        raise MinifcError(f"{who} returned a {type(made).__name__}, not an object with init and update")
    return ChosenTransform(name, options, made, component.provider)


def resolve_transforms(specs: Any, lookup: Lookup) -> TransformChain | None:
    """The chain of ``specs`` (a list of specs or transform objects), or None for none (no per-step cost)."""
    if specs is None:
        return None
    if isinstance(specs, (str, Mapping)) or not isinstance(specs, Iterable):
        raise TypeError(
            f"gradient_transforms must be a list of names, dicts or transforms, got {type(specs).__name__} "
            f"{specs!r} (write gradient_transforms=[...])"
        )
    chosen = [build_transform(spec, lookup) for spec in specs]
    return TransformChain(chosen) if chosen else None



class TransformRun(Protocol):
    """Where a chain keeps its states and the gradient norms it records (the run's ``TrainingState``)."""

    transform_states: list[TransformState]
    grad_norm_history: list[float]

class TransformChain:
    """The transforms of a run, in order; their states are the run's (``TrainingState.transform_states``)."""

    def __init__(self, chosen: list[ChosenTransform]) -> None:
        self.chosen = chosen
        self.norm_at: int | None = None  # the transform whose state reports the gradient norm

    @property
    def specs(self) -> list[dict[str, Any]]:
        return [c.spec for c in self.chosen]

    def init(self, params: Mapping[str, torch.Tensor], generator: torch.Generator) -> list[TransformState]:
        """Every transform's first state (a transform whose ``init`` takes a generator gets ``generator``)."""
        states = []
        for c in self.chosen:
            try:
                state = initial_state(c.transform, params, generator)
            except Exception as e:
                if passes_through(e):
                    raise
                raise component_failure(c.who, None, e) from e
            if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
                raise MinifcError(f"{c.who}: init must return a dict with string keys, got {type(state).__name__}")
            states.append(state)
        self.norm_at = next((i for i, s in enumerate(states) if isinstance(s.get(NORM_KEY), torch.Tensor)), None)
        return states

    def apply(self, grads: Grads, params: Mapping[str, torch.Tensor], run: TransformRun, check: bool) -> Grads | None:
        """The transformed gradients, or None: skip this step's update. Records the gradient norm."""
        states = run.transform_states
        out: Grads | None = grads
        ran = 0
        for i, c in enumerate(self.chosen):
            try:
                result = c.transform.update(grads, states[i], params)
            except Exception as e:
                if passes_through(e):
                    raise
                raise component_failure(c.who, None, e) from e
            if check:
                _check_output(c.who, grads, result)
            out, states[i] = result
            ran = i + 1
            if out is None:
                break
            grads = out
        at = self.norm_at
        if at is not None:  # a skip before the norm's transform ran records NaN: one entry per step
            run.grad_norm_history.append(float(states[at][NORM_KEY]) if ran > at else float("nan"))
        return out


def _check_output(who: str, grads: Grads, result: Any) -> None:
    """At the first step: ``(grads, state)``, grads like the given ones and finite (never None from finite ones)."""
    if not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[1], dict):
        raise MinifcError(f"{who} must return (grads, state) with state a dict, but returned a {type(result).__name__}")
    new = result[0]
    finite = all(bool(torch.isfinite(g).all()) for g in grads.values())
    if new is None:
        if finite:
            raise MinifcError(f"{who} returned None (skip the update) from finite gradients at the first step")
        return
    if not isinstance(new, dict) or set(new) != set(grads):
        got = sorted(new) if isinstance(new, dict) else type(new).__name__
        raise MinifcError(f"{who} must return a gradient for each of {sorted(grads)}, got {got}")
    for name, g in grads.items():
        if finite:
            check_like(who, "a gradient", name, new[name], g)
