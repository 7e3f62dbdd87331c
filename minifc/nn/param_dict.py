"""The check a classic model runs on its ``params`` dict before every forward pass (a user may have put
anything in it: ``model.params['W1'] = ...``). Python comparisons only: no tensor is read."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..errors import ShapeError

__all__ = ["check_param_dict"]


def check_param_dict(params: Mapping[str, object], shapes: Mapping[str, torch.Size]) -> None:
    """Raise unless ``params`` holds exactly the names of ``shapes``, each a tensor of that shape, all of one
    dtype and device: KeyError (a name missing or extra), TypeError (not a tensor; a dtype or device unlike
    the others'), :class:`ShapeError` (another shape). Messages name the entry."""
    if len(params) != len(shapes):
        extra = sorted(set(params) - set(shapes))
        raise KeyError(f"params holds {extra}, which the model does not have ({', '.join(shapes)})")
    first: torch.Tensor | None = None
    for name, shape in shapes.items():
        if name not in params:
            raise KeyError(f"params lacks {name!r}; the model has {', '.join(shapes)}")
        t = params[name]
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"params[{name!r}] must be a torch.Tensor, got {type(t).__name__}")
        if t.shape != shape:
            raise ShapeError(f"params[{name!r}] has shape {tuple(t.shape)}, expected {tuple(shape)}")
        if first is None:
            first = t
        elif t.dtype != first.dtype or t.device != first.device:
            _refuse_mixed({k: v for k, v in params.items() if isinstance(v, torch.Tensor)})


def _refuse_mixed(params: Mapping[str, torch.Tensor]) -> None:
    """TypeError naming the entries of ``params`` whose dtype or device differs from most of the others'."""
    kinds = [(t.dtype, t.device) for t in params.values()]
    usual = max(set(kinds), key=kinds.count)
    odd = [f"params[{name!r}] is {t.dtype} on {t.device}" for name, t in params.items() if (t.dtype, t.device) != usual]
    raise TypeError(
        f"{'; '.join(odd)}; the model's other parameters are {usual[0]} on {usual[1]}: set model.dtype or "
        "model.net.to(device) to change them all"
    )
