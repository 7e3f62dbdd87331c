"""``to_torch(model)``: a minifc model as a ``torch.nn.Sequential`` with the same weights and logits.

The built-in layers convert through :mod:`.builtin_layers`; any other layer class declares its torch
equivalent with a method ``to_torch(self) -> torch.nn.Module`` (the normalization layers and GELU of
the plugins shipped beside minifc do). A layer without one makes the conversion fail
with an :class:`~minifc.errors.ExportError` naming it and the plugin that registered it.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ..errors import ExportError
from ..nn import Module, Sequential
from ..nn.classifier import Classifier
from ..registry.core import Registry, default_registry
from .builtin_layers import BUILTIN_TO_TORCH

__all__ = ["to_torch", "leaf_layers", "torch_code"]


def leaf_layers(model: Classifier | Module) -> list[Module]:
    """The layers of ``model`` (a Classifier's net, or a Module) in order, nested Sequentials unrolled."""
    net = model.net if isinstance(model, Classifier) else model
    if not isinstance(net, Module):
        raise TypeError(f"expected a minifc model (a Classifier or a minifc.nn.Module), got {type(model).__name__}")
    return list(_unrolled(net))


def _unrolled(module: Module) -> Iterator[Module]:
    if isinstance(module, Sequential):
        for child in module:
            yield from _unrolled(child)
    else:
        yield module


def describe_layer(layer: Module, registry: Registry | None = None) -> str:
    """'Square (layer 'square' of squares (squares-pkg 1.0))': how errors name a layer."""
    registry = registry or default_registry()
    for component in registry.all_components():
        if component.kind == "layer" and component.obj is type(layer):
            return f"{type(layer).__name__} (layer {component.name!r} of {component.provider})"
    return type(layer).__name__


def to_torch(model: Classifier | Module, registry: Registry | None = None) -> torch.nn.Sequential:
    """``model`` as a ``torch.nn.Sequential`` in eval mode: ``Flatten()`` then each layer's torch
    equivalent, every tensor copied (same dtype and device). It maps x (N, D) or (N, d_1, ..., d_k) to
    the logits (N, C) that ``model.loss(x)`` gives in eval mode. ``model`` is not changed.

    Raises :class:`~minifc.errors.ExportError` naming the first layer without a torch equivalent
    (``registry``: where that layer's plugin is looked up, for the message; default the global one).
    """
    converted: list[torch.nn.Module] = [torch.nn.Flatten()]
    for i, layer in enumerate(leaf_layers(model)):
        builtin = BUILTIN_TO_TORCH.get(type(layer))
        method = getattr(layer, "to_torch", None)
        if builtin is not None:
            module = builtin(layer)
        elif callable(method):
            module = method()
            if not isinstance(module, torch.nn.Module):
                raise ExportError(
                    f"layer {i}, {describe_layer(layer, registry)}: to_torch() returned a "
                    f"{type(module).__name__}, not a torch.nn.Module"
                )
        else:
            raise ExportError(
                f"layer {i}, {describe_layer(layer, registry)}, has no torch equivalent (it declares no "
                f"to_torch() method); export the model with --to safetensors instead"
            )
        converted.extend(module if isinstance(module, torch.nn.Sequential) else [module])
    return torch.nn.Sequential(*converted).eval()


def torch_code(module: torch.nn.Sequential) -> str:
    """The Python expression that rebuilds ``module``'s architecture (without its weights), e.g.
    ``torch.nn.Sequential(torch.nn.Flatten(...), torch.nn.Linear(in_features=3072, ...), ...)``."""
    parts = []
    for child in module:
        cls = type(child)
        path = "torch.nn" if getattr(torch.nn, cls.__name__, None) is cls else cls.__module__
        parts.append(f"{path}.{repr(child)}")
    code = f"torch.nn.Sequential({', '.join(parts)})"
    dtype = next((p.dtype for p in module.parameters()), torch.float32)
    return code if dtype == torch.float32 else f"{code}.to({str(dtype)})"
