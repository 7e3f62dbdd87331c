"""Regularizers resolved from names or specs, and the step's regularize seam.

A loss-stage regularizer adds ``penalty`` to the loss and ``dpenalty`` to the gradient of each
parameter it applies to; an update-stage one rewrites the parameter after the update rule (see
:mod:`minifc.registry.hookspecs`). Options declared in ``defaults`` are checked; a regularizer that declares
none takes any option (unchecked), like an update rule without ``defaults``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..registry.blame import component_failure, passes_through
from ..registry.components import Lookup
from ..registry.specs import parse_spec
from ..validate import NON_NEGATIVE, check_bounds, check_in
from .first_step import check_like, check_penalty

__all__ = ["Regularizer", "resolve_regularizers", "add_penalties"]


@dataclass
class Regularizer:
    """A resolved regularizer: its function, stage ('loss' or 'update'), what it applies to, options."""

    name: str
    fn: Callable[..., Any]
    stage: str
    applies_to: str
    config: dict[str, Any]
    provider: str

    def applies(self, tensor: torch.Tensor) -> bool:
        return self.applies_to == "all" or tensor.dim() >= 2

    @property
    def who(self) -> str:
        return f"regularizer {self.name!r} ({self.provider})"

    def after_update(self, name: str, w: torch.Tensor, learning_rate: float, check: bool) -> torch.Tensor:
        """An update-stage regularizer's new value of ``w`` (checked at the first step)."""
        try:
            out = self.fn(w, {**self.config, "learning_rate": learning_rate})
        except Exception as e:
            if passes_through(e):
                raise
            raise component_failure(self.who, name, e) from e
        if check:
            check_like(self.who, "next_w", name, out, w)
        return out


def resolve_regularizers(specs: Any, lookup: Lookup) -> list[Regularizer]:
    """Regularizers from a list of names (``"l1:reg=1e-4"``), dicts (``{"name": "l2", "reg": 1e-4}``)
    or functions ``reg(w, config) -> (penalty, dpenalty)`` (loss stage); names are found with
    ``lookup``. A single name or dict is refused: pass a list."""
    if specs is None:
        return []
    if isinstance(specs, (str, Mapping)) or not isinstance(specs, Iterable):
        raise TypeError(
            f"regularizers must be a list of names, dicts or functions, got {type(specs).__name__} {specs!r} "
            "(write regularizers=[...])"
        )
    return [_resolve(spec, lookup) for spec in specs]


def _resolve(spec: Any, lookup: Lookup) -> Regularizer:
    if callable(spec):
        return Regularizer(getattr(spec, "__name__", "regularizer"), spec, "loss", "weights", {}, "user function")
    name, config = parse_spec(spec)
    component = lookup("regularizer", name)
    meta = component.metadata
    defaults = meta.get("defaults", getattr(component.obj, "defaults", None))
    if defaults is not None:
        unknown = sorted(set(config) - set(defaults))
        if unknown:
            raise ValueError(
                f"regularizer {name!r} ({component.provider}): unknown option(s) {unknown}; it takes {sorted(defaults)}"
            )
        who = f"regularizer {name!r} ({component.provider})"
        intervals = check_bounds(meta.get("bounds"), who)
        for key, value in config.items():
            default = defaults[key]
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                check_in(value, f"{who}: {key}", intervals.get(key, NON_NEGATIVE))
        config = {**defaults, **config}
    stage = meta.get("stage", "loss")
    if stage not in ("loss", "update"):
        raise ValueError(f"regularizer {name!r} ({component.provider}) has unknown stage {stage!r}")
    return Regularizer(name, component.obj, stage, meta.get("applies_to", "weights"), config, component.provider)


def add_penalties(
    regularizers: list[Regularizer],
    params: Mapping[str, torch.Tensor],
    loss: torch.Tensor,
    grads: dict[str, torch.Tensor],
    check: bool,
) -> torch.Tensor:
    """The regularize seam: every loss-stage penalty added to ``loss``, its gradient into ``grads``."""
    for reg in regularizers:
        if reg.stage != "loss":
            continue
        for name, w in params.items():
            if reg.applies(w):
                try:
                    out = reg.fn(w, reg.config)
                except Exception as e:
                    if passes_through(e):
                        raise
                    raise component_failure(reg.who, name, e) from e
                if check:
                    check_penalty(reg.who, name, w, out)
                penalty, dpenalty = out
                loss = loss + penalty
                grads[name] = grads[name] + dpenalty
    return loss
