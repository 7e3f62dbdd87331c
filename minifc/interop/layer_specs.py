"""A model's layers as ``build_net`` specs (``{"name": "batchnorm1d", "in_features": 100, "eps": 1e-05,
...}``), the configuration a model file keeps so that :func:`minifc.load_model` can rebuild it.

A layer's spec is its registered name plus, for each parameter of its constructor (besides
``dtype``, ``device``, ``generator``), the attribute of the same name when it holds a plain value
(int, float, str, bool, None); a parameter with a default and no such attribute keeps its default
(``weight_scale``: the weights are loaded anyway).
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import ExportError
from ..nn import Module
from ..registry.core import Registry, default_registry

__all__ = ["layer_spec"]

_SKIPPED = ("self", "dtype", "device", "generator")
_PLAIN = (int, float, str, bool, type(None))


def layer_spec(layer: Module, index: int, registry: Registry | None = None) -> dict[str, Any]:
    """The spec that rebuilds ``layer`` (layer ``index`` of its model) with :func:`minifc.builder.build_layer`.

    Raises :class:`~minifc.errors.ExportError` naming the layer when its class is not registered or a
    constructor argument without a default cannot be read back from it.
    """
    registry = registry or default_registry()
    cls = type(layer)
    name = next((n for n in registry.names("layer") if registry.get("layer", n) is cls), None)
    if name is None:
        raise ExportError(
            f"layer {index}, {cls.__name__}, is not a registered layer: a model file could not rebuild it "
            f"(register its class with a plugin's minifc_register_layers hook)"
        )
    spec: dict[str, Any] = {"name": name}
    for p in inspect.signature(cls).parameters.values():
        if p.name in _SKIPPED or p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        value = getattr(layer, p.name, inspect.Parameter.empty)
        if isinstance(value, _PLAIN):
            spec[p.name] = value
        elif p.default is inspect.Parameter.empty:
            raise ExportError(
                f"layer {index}, {cls.__name__} ({name!r}): its constructor argument {p.name!r} is not kept as a "
                f"plain attribute of the layer, so a model file could not rebuild it"
            )
    return spec
