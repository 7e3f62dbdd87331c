"""``from_torch(module)``: a ``torch.nn`` module as a minifc :class:`~minifc.nn.Sequential`.

Converted: ``Sequential`` (unrolled), ``Linear`` (its (M, D) weight transposed into minifc's (D, M);
no bias becomes a zero bias), ``ReLU``, ``Dropout``; ``Flatten()`` and ``Identity`` are dropped (every
minifc layer takes (N, d_1, ..., d_k) as (N, D) itself); and the torch class of every registered layer
class that declares ``torch_type = <torch class>`` and a classmethod ``from_torch(module)`` (the
normalization layers and GELU of the plugins shipped beside minifc do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from ..errors import ExportError
from ..nn import Module, Sequential
from ..registry.core import Registry, default_registry
from .builtin_layers import BUILTIN_FROM_TORCH, SKIPPED_TORCH

__all__ = ["from_torch", "torch_converters"]

Converter = Callable[[torch.nn.Module], Module]


def torch_converters(registry: Registry | None = None) -> dict[type[torch.nn.Module], Converter]:
    """torch module class -> converter: the built-ins, then each registered layer class that declares
    ``torch_type`` itself (a subclass inheriting its parent's does not take the parent's place)."""
    table = dict(BUILTIN_FROM_TORCH)
    registry = registry or default_registry()
    for name in registry.names("layer"):
        cls = registry.get("layer", name)
        torch_type = vars(cls).get("torch_type") if isinstance(cls, type) else None
        if isinstance(torch_type, type) and callable(getattr(cls, "from_torch", None)):
            table.setdefault(torch_type, cls.from_torch)
    return table


def _leaves(module: torch.nn.Module, path: str) -> Iterator[tuple[str, torch.nn.Module]]:
    if type(module) is torch.nn.Sequential:
        for name, child in module.named_children():
            yield from _leaves(child, f"{path}.{name}" if path else name)
    else:
        yield path or type(module).__name__, module


def from_torch(module: torch.nn.Module, registry: Registry | None = None) -> Sequential:
    """A minifc Sequential computing what ``module`` computes in eval mode (x (N, D) -> (N, C)), its
    tensors copied in their dtype and on their device; wrap it as ``minifc.Classifier(net)`` to train it.

    Every module is checked before any is converted: the first one minifc cannot represent raises
    :class:`~minifc.errors.ExportError` naming its place in ``module`` and its class (as does a
    converter that refuses a setting, e.g. a BatchNorm1d without affine parameters). ``registry``:
    where plugin layers are found (default: the global registry).
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    table = torch_converters(registry)
    plan: list[tuple[str, torch.nn.Module, Converter]] = []
    for path, leaf in _leaves(module, ""):
        skip = SKIPPED_TORCH.get(type(leaf))
        if skip is not None and skip(leaf):
            continue
        convert = table.get(type(leaf))
        if convert is None:
            known = ", ".join(sorted({c.__name__ for c in table} | {"Flatten", "Identity", "Sequential"}))
            raise ExportError(
                f"from_torch: cannot convert module {path!r} ({type(leaf).__name__}: {leaf!r}): minifc has no "
                f"layer for it (convertible: {known})"
            )
        plan.append((path, leaf, convert))
    layers = []
    for path, leaf, convert in plan:
        try:
            layers.append(convert(leaf))
        except (TypeError, ValueError) as e:
            raise ExportError(f"from_torch: cannot convert module {path!r} ({type(leaf).__name__}): {e}") from e
    return Sequential(*layers)
