"""Gradient transforms as typed values: what runs between the backward pass and the update rule.

In the spirit of optax's ``GradientTransformation``, a transform is an object with

- ``init(params) -> state`` (or ``init(params, generator)``: a transform that draws random numbers takes
  its seed from the Trainer's ``torch.Generator`` once, here, and keeps its own RNG state in its state);
- ``update(grads, state, params) -> (grads, state)``: ``grads`` and ``params`` map parameter names to
  tensors (each grad shaped like its parameter, same dtype and device); it returns the gradients to use
  (a new dict; the tensors in the given one may be reused but are not to be changed in place) and its new
  state. Returning ``None`` as the gradients skips this step's update (e.g. ``skip_nonfinite``); a run's
  first step refuses ``None`` from finite gradients.

``state`` is a dict of plain values: tensors (created like the parameters, or uint8 RNG states) and
numbers. It is saved in every checkpoint and restored by a resume, so a resumed run continues exactly.
A state that holds ``"grad_norm"`` (a 0-dim tensor) reports the gradient norm it saw: the Trainer records
it per step (``trainer.grad_norm_history``).

Transforms are registered by a factory, ``factory(**options) -> transform``, declared with
:func:`gradient_transform` (its options' defaults and bounds, so specs like ``"clip_norm:max_norm=1.0"``
are checked: an unknown option or a value out of range is refused naming the transform).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from ..validate import NON_NEGATIVE, Bound, check_bounds, check_in

__all__ = [
    "Grads",
    "TransformState",
    "GradientTransform",
    "TransformFactory",
    "gradient_transform",
    "check_options",
    "initial_state",
]

#: parameter name -> gradient (shaped like the parameter)
Grads = dict[str, torch.Tensor]
#: a transform's state: tensors and numbers under string keys
TransformState = dict[str, Any]


@runtime_checkable
class GradientTransform(Protocol):
    """``init(params) -> state``; ``update(grads, state, params) -> (grads or None, state)``."""

    def init(self, params: Mapping[str, torch.Tensor]) -> TransformState: ...

    def update(
        self, grads: Grads, state: TransformState, params: Mapping[str, torch.Tensor]
    ) -> tuple[Grads | None, TransformState]: ...


@dataclass(eq=False, repr=False)
class TransformFactory:
    """A declared transform factory, called as ``factory(**options) -> GradientTransform``.

    ``defaults``: every option and its default; ``bounds``: ``{option: (low, high)}`` in
    :mod:`minifc.validate`'s convention (an undeclared number must be ``>= 0``).
    """

    fn: Callable[..., GradientTransform]
    defaults: dict[str, Any]
    bounds: dict[str, Bound] = field(default_factory=dict)

    def __post_init__(self) -> None:
        functools.update_wrapper(self, self.fn)
        self.defaults = dict(self.defaults)
        self.bounds = dict(self.bounds)
        check_bounds(self.bounds, getattr(self.fn, "__name__", "gradient transform"))

    def __call__(self, **options: Any) -> GradientTransform:
        return self.fn(**options)

    def __repr__(self) -> str:
        return f"<gradient transform {getattr(self, '__name__', '?')} defaults={self.defaults}>"


def gradient_transform(
    defaults: Mapping[str, Any], bounds: Mapping[str, Bound] | None = None
) -> Callable[[Callable[..., GradientTransform]], TransformFactory]:
    """Decorator declaring a transform factory's options (defaults) and their bounds."""

    def declare(fn: Callable[..., GradientTransform]) -> TransformFactory:
        return TransformFactory(fn, dict(defaults), dict(bounds or {}))

    return declare


def check_options(
    who: str, options: Mapping[str, Any], defaults: Mapping[str, Any] | None, bounds: Mapping[str, Bound] | None
) -> dict[str, Any]:
    """``options`` completed with ``defaults``; ValueError naming ``who`` and the option for an unknown one or a
    number out of its bound. Without declared ``defaults`` any option passes, unchecked."""
    if defaults is None:
        return dict(options)
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        takes = ", ".join(sorted(defaults)) or "none"
        raise ValueError(f"{who}: unknown option(s) {', '.join(unknown)}; it takes {takes}")
    intervals = check_bounds(bounds, who)
    for key, value in options.items():
        default = defaults[key]
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            check_in(value, f"{who}: {key}", intervals.get(key, NON_NEGATIVE))
            if isinstance(default, int) and not (isinstance(value, int) and not isinstance(value, bool)):
                raise ValueError(f"{who}: {key} must be an integer, got {value!r}")
    return {**defaults, **options}


def initial_state(
    transform: GradientTransform, params: Mapping[str, torch.Tensor], generator: torch.Generator
) -> TransformState:
    """``transform.init(params)``, or ``init(params, generator)`` when its ``init`` takes a second argument."""
    init: Callable[..., TransformState] = transform.init
    try:
        takes = len(inspect.signature(init).parameters) >= 2
    except (TypeError, ValueError):
        takes = False
    return init(params, generator) if takes else init(params)
