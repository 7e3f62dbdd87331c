"""Build a :class:`minifc.nn.Sequential` from layer names, built-in or registered by plugins.

>>> net = build_net(["linear:64", "batchnorm1d", "relu", "dropout:p=0.5"], input_dim=20, num_classes=3)

Each spec is ``"name"``, ``"name:v1,k=v"`` or ``{"name": ..., **kwargs}`` (see
:func:`minifc.registry.specs.split_spec`). The factory gets ``in_features=<current width>`` when its
signature accepts it (and ``dtype``/``device``); bare values fill its remaining parameters in order
(``"linear:64"`` is ``out_features=64``, ``"dropout:0.5"`` is ``p=0.5``). A layer that changes the
width exposes ``out_features``. A final linear layer to ``num_classes`` is appended.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch

from .errors import UnknownComponentError
from .nn.modules import Module, Sequential
from .registry.components import signature_accepts
from .registry.core import Registry, default_registry
from .registry.specs import split_spec
from .validate import check_positive_int

__all__ = ["build_layer", "build_net", "mlp", "mlp_layers"]

#: parameters the builder fills itself; bare spec values never go to these
_AUTOMATIC = ("self", "in_features", "dtype", "device", "generator")


def _positional_names(factory: Any, given: dict[str, Any]) -> list[str]:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in params if p.kind in kinds and p.name not in _AUTOMATIC and p.name not in given]


def _signature(factory: Any) -> str:
    """'(in_features, out_features, weight_scale=None, ...)': the parameters without annotations."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return "(...)"
    return "(" + ", ".join(str(p.replace(annotation=inspect.Parameter.empty)) for p in params) + ")"


def build_layer(
    spec: Any,
    in_features: int,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    registry: Registry | None = None,
    where: str = "layer",
) -> Module:
    """One Module from a spec, for an input of width ``in_features`` (inputs (N, in_features)).

    Raises :class:`UnknownComponentError` (known names and the closest one) for an unknown name,
    TypeError/ValueError naming the spec when the factory rejects its arguments.
    """
    registry = registry or default_registry()
    name, args, kwargs = split_spec(spec)
    try:
        factory = registry.get("layer", name)
    except UnknownComponentError as e:
        raise UnknownComponentError(f"{where} {spec!r}: {e}") from None
    names = _positional_names(factory, kwargs)
    if len(args) > len(names):
        raise ValueError(f"{where} {spec!r}: too many values {args}; {name} takes {_signature(factory)}")
    kwargs.update(zip(names, args, strict=False))
    if signature_accepts(factory, "in_features"):
        if kwargs.setdefault("in_features", in_features) != in_features:
            raise ValueError(f"{where} {spec!r}: in_features={kwargs['in_features']} but its input has {in_features}")
    for key, value in (("dtype", dtype), ("device", device)):
        if signature_accepts(factory, key):
            kwargs.setdefault(key, value)
    try:
        layer = factory(**kwargs)
    except TypeError as e:
        raise TypeError(f"{where} {spec!r}: {e}; {name} takes {_signature(factory)}") from e
    except ValueError as e:  # e.g. a weight_scale < 0: named with the spec it came from
        message = f"{where} {spec!r}: {e}"
        try:
            named = type(e)(message)
        except Exception:  # noqa: BLE001 - a subclass with another constructor
            named = ValueError(message)
        raise named from e
    if not isinstance(layer, Module):
        raise TypeError(f"{where} {spec!r}: the factory returned a {type(layer).__name__}, not a minifc.nn.Module")
    return layer.to(device=device, dtype=dtype)


def build_net(
    layers: Sequence[Any] | None,
    input_dim: int,
    num_classes: int,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    registry: Registry | None = None,
) -> Sequential:
    """A Sequential of the layers in ``layers`` then a linear layer to ``num_classes``.

    The net maps x (N, input_dim) to scores (N, num_classes). Wrap it as
    ``minifc.Classifier(net, "softmax")`` to train it.
    """
    for what, n in (("input_dim", input_dim), ("num_classes", num_classes)):
        check_positive_int(n, f"build_net: {what}")
    if isinstance(layers, (str, dict)):
        raise TypeError(f"build_net: layers must be a list of specs, got {layers!r}")
    registry = registry or default_registry()
    modules: list[Module] = []
    width = input_dim
    for i, spec in enumerate(layers or ()):
        layer = build_layer(spec, width, dtype, device, registry, where=f"layers[{i}]")
        out = getattr(layer, "out_features", width)
        check_positive_int(out, f"layers[{i}] {spec!r}: out_features")
        width = out
        modules.append(layer)
    head = {"name": "linear", "out_features": num_classes}
    modules.append(build_layer(head, width, dtype, device, registry, where="output layer"))
    return Sequential(*modules)


def mlp_layers(
    hidden_dims: Sequence[int],
    norm: str | dict | None = None,
    dropout: float = 0.0,
    activation: str | dict = "relu",
) -> list[Any]:
    """The specs ``[linear, (norm), activation, (dropout)] x len(hidden_dims)``, for :func:`build_net`."""
    if isinstance(hidden_dims, int):
        raise TypeError(f"hidden_dims must be a list of widths, got {hidden_dims!r}")
    specs: list[Any] = []
    for h in hidden_dims:
        specs.append({"name": "linear", "out_features": h})
        if norm:
            specs.append(norm)
        specs.append(activation)
        if dropout:
            specs.append({"name": "dropout", "p": dropout})
    return specs


def mlp(
    hidden_dims: Sequence[int],
    input_dim: int,
    num_classes: int,
    norm: str | dict | None = None,
    dropout: float = 0.0,
    activation: str | dict = "relu",
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    registry: Registry | None = None,
) -> Sequential:
    """``build_net(mlp_layers(hidden_dims, norm, dropout, activation), input_dim, num_classes)``:
    x (N, input_dim) -> scores (N, num_classes); e.g. ``mlp([100, 50], 3072, 10, norm="batchnorm1d")``."""
    specs = mlp_layers(hidden_dims, norm, dropout, activation)
    return build_net(specs, input_dim, num_classes, dtype, device, registry)
