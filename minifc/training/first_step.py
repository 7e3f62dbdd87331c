"""The checks of a run's first step: every component's output must fit the contract.

A layer whose backward returns a wrong shape, dtype or device, an update rule or regularizer that
returns NaN or a wrong tensor, is named (with the plugin that registered it) at once, instead of
breaking the layer below with a torch error or training on garbage. After the first step these
checks are off: they cost time, and the components have shown what they return.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch

from ..errors import DivergenceError, MinifcError, ShapeError
from ..nn.modules import Module
from ..registry.blame import describe, layer_provider

__all__ = ["watch_layers", "check_like", "check_penalty", "check_grads", "check_update", "layer_owner"]


def layer_owner(model: Any, name: str) -> str:
    """' (Linear(6, 5) [layer 1], class ...)'-style hint naming the module that owns parameter ``name``."""
    net = getattr(model, "net", None)
    objects = getattr(model, "param_objects", {})
    if not isinstance(net, Module) or name not in objects:
        return ""
    target = objects[name]
    for module in net.modules():
        if any(p is target for p in module._parameters.values()):
            return f" ({describe(module)}, {layer_provider(module)})"
    return ""


@contextmanager
def watch_layers(net: Module) -> Iterator[None]:
    """While active, every leaf and composite module's backward is checked: dx must be a finite tensor
    like the module's input (shape, dtype, device), or None only for a module that was given no
    gradient-needing input."""
    watched = [m for m in net.modules() if m is not net and "forward" not in vars(m) and "backward" not in vars(m)]
    for m in watched:
        _watch(m)
    try:
        yield
    finally:
        for m in watched:
            vars(m).pop("forward", None)
            vars(m).pop("backward", None)


def _watch(module: Module) -> None:
    forward, backward = module.forward, module.backward
    inputs: list[tuple[Any, ...] | None] = []

    def checked_forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        inputs.append((x.shape, x.dtype, x.device) if isinstance(x, torch.Tensor) else None)
        return forward(x, *args, **kwargs)

    def checked_backward(dout: Any, *args: Any, **kwargs: Any) -> Any:
        dx = backward(dout, *args, **kwargs)
        seen = inputs.pop() if inputs else None
        if seen is None or (dx is None and getattr(module, "input_grad", True) is False):
            return dx
        who = f"layer {describe(module)} ({layer_provider(module)})"
        if not isinstance(dx, torch.Tensor):
            raise MinifcError(f"{who}: backward returned {type(dx).__name__}, not a tensor dx like its input")
        for what, got, want in zip(("shape", "dtype", "device"), (dx.shape, dx.dtype, dx.device), seen, strict=True):
            if got != want:
                error = ShapeError if what == "shape" else MinifcError
                shown = (tuple(dx.shape), tuple(want)) if what == "shape" else (got, want)
                raise error(f"{who}: backward returned dx of {what} {shown[0]} but its input had {what} {shown[1]}")
        if not bool(torch.isfinite(dx).all()) and bool(torch.isfinite(dout).all()):
            raise DivergenceError(f"{who}: backward returned NaN/Inf in dx from a finite upstream gradient")
        return dx

    object.__setattr__(module, "forward", checked_forward)
    object.__setattr__(module, "backward", checked_backward)


def check_like(who: str, what: str, name: str, got: Any, like: torch.Tensor) -> None:
    """Raise naming ``who`` unless ``got`` is a finite tensor with ``like``'s shape, dtype and device."""
    if not isinstance(got, torch.Tensor):
        raise MinifcError(f"{who} returned a {type(got).__name__} as {what} for {name!r}, not a tensor")
    if got.shape != like.shape:
        shapes = f"{tuple(got.shape)} for {name!r}; expected {tuple(like.shape)}"
        raise ShapeError(f"{who} returned {what} of shape {shapes}")
    for prop in ("dtype", "device"):
        if getattr(got, prop) != getattr(like, prop):
            raise MinifcError(
                f"{who} returned {what} of {prop} {getattr(got, prop)} for {name!r}; expected {getattr(like, prop)}"
            )
    if not bool(torch.isfinite(got).all()):
        raise MinifcError(f"{who} returned {what} with NaN/Inf for {name!r} (at the first step, from finite inputs)")


def check_penalty(who: str, name: str, w: torch.Tensor, out: Any) -> None:
    """What a loss-stage regularizer returns must be (finite scalar penalty, dpenalty like w)."""
    if not isinstance(out, tuple) or len(out) != 2:
        raise MinifcError(f"{who} must return (penalty, dpenalty), but returned a {type(out).__name__} for {name!r}")
    penalty, dpenalty = out
    value = penalty if not isinstance(penalty, torch.Tensor) or penalty.numel() != 1 else float(penalty)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise MinifcError(f"{who} returned a penalty that is not a scalar for {name!r}: {type(penalty).__name__}")
    if not math.isfinite(value):
        raise MinifcError(f"{who} returned a non-finite penalty ({value}) for {name!r} (whose values are finite)")
    check_like(who, "dpenalty", name, dpenalty, w)


def check_grads(model: Any, params: Mapping[str, torch.Tensor], grads: Mapping[str, torch.Tensor]) -> None:
    """Every parameter has a finite gradient of its own shape, dtype and device."""
    for name, w in params.items():
        g = grads.get(name)
        if g is None:
            raise MinifcError(f"the model's loss returned no gradient for parameter {name!r}")
        if g.shape != w.shape:
            raise ShapeError(
                f"gradient of {name!r} has shape {tuple(g.shape)} but the parameter has {tuple(w.shape)}: "
                f"a layer's backward{layer_owner(model, name)} returned the wrong shape"
            )
        if g.dtype != w.dtype or g.device != w.device:
            raise MinifcError(
                f"gradient of {name!r} is {g.dtype} on {g.device} but the parameter is {w.dtype} on {w.device}: "
                f"a layer's backward{layer_owner(model, name)} returned it"
            )
        if not bool(torch.isfinite(g).all()):
            raise DivergenceError(
                f"gradient of {name!r} is not finite at the first step: the backward of its "
                f"layer{layer_owner(model, name)} or the loss returned NaN/Inf"
            )


def check_update(who: str, name: str, w: torch.Tensor, out: Any) -> None:
    """What an update rule returns must be (next_w like w and finite, config dict)."""
    if not isinstance(out, tuple) or len(out) != 2 or not isinstance(out[1], dict):
        got = f"a {type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, tuple) else "")
        raise MinifcError(f"{who} must return (next_w, config) with config a dict, but returned {got} for {name!r}")
    check_like(who, "next_w", name, out[0], w)


